"""The real key authorizer (handlers.authorizer) in front of local mode's API Gateway, its keys and usage plans in
moto's API Gateway (as the stack creates them): the key it returns selects the usage plan that throttles."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from handlers import authorizer
from local.api_gateway import LocalApiGateway, Route
from local.aws_resources import create_api_keys
from tests.conftest import CONFIG_FILE

SLOW, FAST = "fmgw-test-slow-key-0000", "fmgw-test-fast-key-0000"


def echo(event: dict, context) -> dict:
    context_ = event["requestContext"]
    payload = {"authorizer": context_.get("authorizer"), "apiKeyId": context_["identity"]["apiKeyId"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload)}


@pytest.fixture
def front(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        authorizer._client.cache_clear()
        authorizer.DIRECTORY._snapshots.clear()
        config = json.loads(CONFIG_FILE.read_text())
        config["plans"] = {
            "slow": {"rateLimit": 0.001, "burstLimit": 2, "quotaPerDay": 1000},
            "fast": {"rateLimit": 1000, "burstLimit": 1000, "quotaPerDay": 100000},
        }
        config["stage"] = {"rateLimit": 1000, "burstLimit": 1000}
        keys = {SLOW: "slow", FAST: "fast"}
        api_id, ids = create_api_keys(config["plans"], keys, stage="local")
        gateway = LocalApiGateway(
            [Route("/v1/models", {"GET": None}, echo), Route("/v1/health", {"GET": None}, echo, key_required=False)],
            config,
            keys,
            authorizer=authorizer.handler,
            api_id=api_id,
        )
        gateway.ids = ids  # type: ignore[attr-defined]
        yield gateway
        authorizer._client.cache_clear()
        authorizer.DIRECTORY._snapshots.clear()


def get(front, headers: dict) -> tuple[int, dict, dict]:
    status, out_headers, payload = front.handle("GET", "/v1/models", "", headers, b"")
    return status, out_headers, json.loads(payload)


def test_the_key_authorizer_hands_the_key_and_its_id_to_the_function(front):
    status, _, body = get(front, {"Authorization": f"Bearer {FAST}"})
    assert status == 200, body
    assert body["apiKeyId"] == front.ids[FAST]
    assert body["authorizer"] == {"apiKeyId": front.ids[FAST], "plan": "fm-gateway-local-fast", "principalId": front.ids[FAST]}


def test_a_key_over_its_plans_rate_is_429_through_the_authorizer(front):
    statuses = [get(front, {"Authorization": f"Bearer {SLOW}"})[0] for _ in range(4)]
    assert statuses == [200, 200, 429, 429]  # burst 2, then the slow plan's rate
    status, headers, body = get(front, {"x-api-key": SLOW})
    assert status == 429 and body["error"]["code"] == "throttled" and int(headers["Retry-After"]) >= 1
    assert [get(front, {"Authorization": f"Bearer {FAST}"})[0] for _ in range(20)] == [200] * 20  # its own plan


def test_a_disabled_key_is_403(front):
    assert get(front, {"x-api-key": FAST})[0] == 200
    apigateway = boto3.client("apigateway", region_name="us-east-1")
    apigateway.update_api_key(apiKey=front.ids[FAST], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    authorizer.DIRECTORY._snapshots.clear()  # what the authorizer's cache time (60 s) does in AWS
    status, _, body = get(front, {"x-api-key": FAST})
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_a_key_of_another_api_is_403(front):
    apigateway = boto3.client("apigateway", region_name="us-east-1")
    other_api, _ = create_api_keys(
        {"other": {"rateLimit": 1, "burstLimit": 1, "quotaPerDay": 1}}, {"fmgw-other-key-000000000": "other"}
    )
    assert other_api != front.api_id and apigateway.get_api_keys()["items"]
    status, _, body = get(front, {"x-api-key": "fmgw-other-key-000000000"})
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_authorizer_failure_is_503(front, monkeypatch):
    def broken(event, context):
        raise RuntimeError("Rate exceeded")

    monkeypatch.setattr(front, "authorizer", broken)
    status, headers, body = get(front, {"x-api-key": FAST})
    assert status == 503 and headers["Retry-After"] == "1" and body["error"]["code"] == "service_unavailable"


def test_no_key_is_401_and_health_needs_none(front):
    status, headers, body = get(front, {})
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer" and "x-api-key" in body["error"]["message"]
    assert front.handle("GET", "/v1/health", "", {}, b"")[0] == 200
