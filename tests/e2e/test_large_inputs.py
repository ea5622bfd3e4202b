"""Large inputs: an image by S3 reference passes through to Bedrock (the simulator), a bucket the configuration does not
allow is a 400 naming it, a body over the limit is a 413 that says to send large inputs by S3."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import start_gateway, stop_gateway

BUCKET = "fmgw-test-inputs"


@pytest.fixture(scope="module")
def inputs_gateway(tmp_path_factory):
    config = json.loads(CONFIG_FILE.read_text())
    config.setdefault("limits", {})["s3InputBuckets"] = [BUCKET]
    path = tmp_path_factory.mktemp("config") / "gateway.json"
    path.write_text(json.dumps(config))
    gateway = start_gateway(path)
    yield gateway
    assert stop_gateway(gateway) == 0


def image_by_s3(uri: str) -> dict:
    image = {"format": "png", "source": {"s3Location": {"uri": uri, "bucketOwner": "123456789012"}}}
    return {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": [{"text": "Describe it"}, {"image": image}]}]}


def test_an_s3_image_passes_through_to_bedrock(inputs_gateway):
    uri = f"s3://{BUCKET}/scans/page-1.png"
    with inputs_gateway.client() as client:
        response = client.post("/v1/chat", json=image_by_s3(uri))
    assert response.status_code == 200, response.text
    stats = httpx.get(f"{inputs_gateway.simulator}/_sim/stats", timeout=5).json()
    assert any(uri in model["s3Inputs"] for model in stats["models"].values()), stats


def test_a_bucket_that_is_not_allowed_is_400_naming_it(inputs_gateway):
    with inputs_gateway.client() as client:
        response = client.post("/v1/chat", json=image_by_s3("s3://someone-elses-bucket/x.png"))
        job = client.post("/v1/jobs", json=image_by_s3("s3://someone-elses-bucket/x.png"))
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "bucket 'someone-elses-bucket' is not allowed" in message and BUCKET in message
    assert job.status_code == 400 and "someone-elses-bucket" in job.json()["error"]["message"]


def test_a_body_over_the_limit_is_413_saying_to_use_s3(inputs_gateway):
    big = "A" * (300 * 1024)  # over limits.maxRequestBytes (256 KiB)
    body = {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": big}}}]}]}
    with inputs_gateway.client() as client:
        response = client.post("/v1/chat", json=body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and error["type"] == "invalid_request_error" and "s3Location" in error["message"]
