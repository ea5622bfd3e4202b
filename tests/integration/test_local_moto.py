"""Local mode's embedded moto takes DynamoDB requests one at a time: moto's DynamoDB backend fails
concurrent transactions ("dictionary changed size during iteration", an HTML 500), which local mode
then reported as 503s for job submits."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from local.aws_resources import NAMES, create_resources
from local.moto_server import LocalMotoServer


@pytest.fixture
def moto_url(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    server = LocalMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    create_resources(url, "us-east-1", 3)
    yield url
    server.stop()


def test_concurrent_dynamodb_transactions_all_succeed(moto_url):
    client = boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=32),
    )

    def submit(_: int) -> str | None:
        item = {"pk": {"S": f"job#{uuid.uuid4().hex}"}, "createdEpoch": {"N": "1"}, "pendingEnqueue": {"S": "1"}}
        put = {"TableName": NAMES["FMGW_JOBS_TABLE"], "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        try:
            client.transact_write_items(TransactItems=[{"Put": put}])
        except Exception as exc:  # with moto's own threaded server: ClientError (500) for some of them
            return repr(exc)[:200]
        return None

    with ThreadPoolExecutor(32) as pool:
        errors = [error for error in pool.map(submit, range(400)) if error]
    assert errors == []
