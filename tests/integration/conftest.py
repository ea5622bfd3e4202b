"""Handlers through API Gateway proxy events; DynamoDB in moto; Bedrock through botocore's Stubber."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from fmgateway import runtime
from local.aws_resources import NAMES, create_state_tables
from local.bedrock_simulator import BedrockSimulator
from tests.conftest import CONFIG_FILE

BREAKER_TABLE, CACHE_TABLE = NAMES["FMGW_BREAKER_TABLE"], NAMES["FMGW_CACHE_TABLE"]
HEALTH_TABLE = NAMES["FMGW_HEALTH_TABLE"]


@pytest.fixture(scope="module")
def sim():
    """The Bedrock simulator over HTTP, one per test module (tests reset what they change)."""
    with BedrockSimulator(use_env=False) as simulator:
        yield simulator


@pytest.fixture
def dynamodb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_state_tables(client)
        yield client


class LambdaContext:
    function_name = "fmgw-api"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fmgw-api"
    aws_request_id = "req-ctx"


def api_event(method: str, path: str, body=None, headers: dict | None = None) -> dict:
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": raw,
        "isBase64Encoded": False,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "test", "identity": {"apiKeyId": "key-1"}},
    }


def converse_response(text="Hello from the stub", input_tokens=12, output_tokens=4, stop="end_turn") -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
        "metrics": {"latencyMs": 42},
    }


@dataclass
class Api:
    stub: Stubber
    gateway: object
    dynamodb: object

    def call(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict, dict]:
        from handlers.api import handler

        response = handler(api_event(method, path, body, headers), LambdaContext())
        self.gateway.cache.flush()
        return response["statusCode"], response["headers"], json.loads(response["body"])

    def answers(self, model_id: str | None = None, **kwargs) -> None:
        expected = (
            None if model_id is None else {"modelId": model_id, "messages": ANY, "inferenceConfig": ANY, "requestMetadata": ANY}
        )
        self.stub.add_response("converse", converse_response(**kwargs), expected)

    def fails(self, code: str, status: int) -> None:
        self.stub.add_client_error(
            "converse", service_error_code=code, service_message=f"stubbed {code}", http_status_code=status
        )


@pytest.fixture
def api(dynamodb, monkeypatch, tmp_path):
    # One attempt per candidate: each stubbed answer or error is one model call, so the scripts read as
    # the fallback order. Same-model retries are tested in tests/unit/test_gateway_retries.py.
    config = json.loads(CONFIG_FILE.read_text())
    config["retries"] = {"maxAttempts": 1}
    # Every event here comes from one key (key-1), which the per-key cap would never count: these tests are about the
    # breaker's states, so it is off; 5 failing calls of 5 open it. (tests/unit/test_key_cap.py tests the cap.)
    config["circuitBreaker"].update(minimumCalls=5, maxKeyShare=1)
    config_file = tmp_path / "gateway.json"
    config_file.write_text(json.dumps(config))
    monkeypatch.setenv("FMGW_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("FMGW_BREAKER_TABLE", BREAKER_TABLE)
    monkeypatch.setenv("FMGW_CACHE_TABLE", CACHE_TABLE)
    monkeypatch.setenv("FMGW_HEALTH_TABLE", HEALTH_TABLE)
    runtime.reset()
    gateway = runtime.gateway()
    gateway.invoker.configure({"timeouts": config["timeouts"], "retries": config["retries"]})  # before the stub attaches
    with Stubber(gateway.invoker.client) as stub:
        yield Api(stub, gateway, dynamodb)
        stub.assert_no_pending_responses()
    runtime.reset()
