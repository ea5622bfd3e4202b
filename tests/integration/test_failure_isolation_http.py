"""Failure isolation through the API handler against the Bedrock simulator: poison requests (424 on every model)
open no breaker; a model that fails every request with 424 while the next one answers still opens its own."""

from __future__ import annotations

import json

import pytest

from fmgateway import runtime
from tests.conftest import CONFIG_FILE
from tests.integration.conftest import LambdaContext, api_event

SONNET, NOVA_PRO = "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.amazon.nova-pro-v1:0"
MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0"


@pytest.fixture
def chat(sim, monkeypatch, tmp_path):
    sim.reset()
    doc = json.loads(CONFIG_FILE.read_text())
    doc["circuitBreaker"]["minimumCalls"] = 5  # 5 failing calls of 5 open a breaker (maxKeyShare stays 0.5)
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("FMGW_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.url)
    monkeypatch.delenv("FMGW_BREAKER_TABLE", raising=False)
    monkeypatch.delenv("FMGW_CACHE_TABLE", raising=False)
    runtime.reset()
    from handlers.api import handler

    def call(text: str, key: str = "key-1") -> tuple[int, dict]:
        event = api_event("POST", "/v1/chat", {"tier": "medium", "messages": [{"role": "user", "content": [{"text": text}]}]})
        event["requestContext"]["identity"]["apiKeyId"] = key
        response = handler(event, LambdaContext())
        return response["statusCode"], json.loads(response["body"])

    yield call
    runtime.reset()


def breaker_states(model_ids) -> dict[str, str]:
    gateway = runtime.gateway()
    config = gateway.config.get()
    return {model_id: state.state for model_id, state in gateway.breaker.current(list(model_ids), config.breaker).items()}


def test_five_poison_requests_open_no_breaker_and_other_callers_are_served(sim, chat):
    for model_id in (SONNET, NOVA_PRO, MAVERICK):
        sim.set_faults(model_id, errorCode="ModelErrorException")
    for _ in range(5):
        status, body = chat("a prompt every model fails on", key="poisoner")
        assert status == 502 and "both failed this request with ModelErrorException" in body["error"]["message"]
    assert set(breaker_states((SONNET, NOVA_PRO, MAVERICK)).values()) == {"CLOSED"}
    sim.reset()  # the poison is in the request: another caller's request works on the primary
    status, body = chat("an ordinary question", key="someone-else")
    assert status == 200 and body["gateway"]["modelId"] == SONNET


def test_a_model_that_fails_every_request_with_424_still_opens_its_breaker(sim, chat):
    sim.set_faults(SONNET, errorCode="ModelErrorException")
    for index in range(5):
        status, body = chat(f"question {index}", key=f"key-{index % 3}")  # three callers: the per-key cap lets all count
        assert status == 200 and body["gateway"]["modelId"] == NOVA_PRO
    assert breaker_states((SONNET,))[SONNET] == "OPEN"
    status, body = chat("one more")
    assert body["gateway"]["attempts"][0]["outcome"] == "skipped"
