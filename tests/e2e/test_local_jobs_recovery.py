"""Local mode's jobs recovery: the scheduled sweeper runs (a job record left flagged ``pendingEnqueue``, as
by a submit that died between writing the record and enqueueing, is enqueued and processed), and a
failed job comes back after the worker's backoff (30 s first), not after 1 s."""

from __future__ import annotations

import re
import time
import uuid

import boto3
import pytest

from fmgateway.aws.jobs_store import DynamoJobStore
from fmgateway.jobs.service import QUEUED, now_iso
from local.aws_resources import NAMES
from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import start_gateway, stop_gateway, wait_until


@pytest.fixture(scope="module")
def sweeping_gateway():
    # the README's retry base (30 s), not the shortened one the other end-to-end tests use
    gateway = start_gateway(CONFIG_FILE, {"FMGW_SWEEP_SECONDS": "0.5", "FMGW_JOBS_RETRY_BASE_SECONDS": "30"})
    yield gateway
    assert stop_gateway(gateway) == 0


def test_a_record_left_flagged_for_enqueue_is_swept_and_processed(sweeping_gateway):
    moto_url = re.search(r"moto at (http://\S+)", sweeping_gateway.banner).group(1)
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    key = sweeping_gateway.key
    # the tenant is the key's id, which the key authorizer reads from (moto's) API Gateway
    apigateway = boto3.client(
        "apigateway", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    [tenant] = [item["id"] for item in apigateway.get_api_keys(includeValues=True)["items"] if item["value"] == key]
    job_id = uuid.uuid4().hex
    created = time.time() - 3600  # older than enqueueGraceSeconds
    DynamoJobStore(dynamodb, NAMES["FMGW_JOBS_TABLE"]).create(
        {
            "jobId": job_id,
            "tenant": tenant,
            "status": QUEUED,
            "createdAt": now_iso(lambda: created),
            "updatedAt": now_iso(lambda: created),
            "createdEpoch": int(created),
            "attempts": 0,
            "request": {"messages": [{"role": "user", "content": [{"text": "left behind"}]}], "tier": "simple"},
            "pendingEnqueue": "1",
            "expiresAt": int(time.time()) + 3600,
        },
        None,
    )
    with sweeping_gateway.client(key) as client:
        assert wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "SUCCEEDED", timeout=60)
    assert not any("sweeper:" in line for line in sweeping_gateway.output), sweeping_gateway.output


def test_a_failed_job_is_not_retried_before_the_backoff(sweeping_gateway):
    sweeping_gateway.fault("*", down=True)
    try:
        with sweeping_gateway.client() as client:
            body = {"messages": [{"role": "user", "content": [{"text": "retry me"}]}]}
            job_id = client.post("/v1/jobs", json=body).json()["jobId"]
            assert wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["attempts"] == 1, timeout=30)
            time.sleep(5)  # the local poller used to make it visible again after 1 s: three attempts and FAILED by now
            job = client.get(f"/v1/jobs/{job_id}").json()
    finally:
        sweeping_gateway.reset_faults()
    assert job["attempts"] == 1 and job["status"] != "FAILED", job
