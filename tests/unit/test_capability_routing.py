"""Issue 10 in the candidate loop: capabilities decide the candidates, requestMetadata per candidate, response fields
and cache tokens passed through and costed, and the degraded cache never answers a tool request with prose."""

from __future__ import annotations

import pytest

from fmgateway.aws.stores import MemoryBreakerStore, MemoryResponseStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.converse.request_metadata import identified
from fmgateway.core.cache import ResponseCache
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.values.errors import InvalidRequest, Unavailable
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeInvoker, StaticSource

HELLO = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
WEATHER = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
TOOLS = {"toolConfig": {"tools": [WEATHER], "toolChoice": {"any": {}}}}
NOVA_LITE = "us.amazon.nova-lite-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"


@pytest.fixture
def parts(config_doc, clock):
    """simple = nova-lite (tools) then llama3-3-70b, here without tool use."""
    config_doc["models"]["llama3-3-70b"]["capabilities"] = ["guardrails"]
    config_doc["tiers"]["simple"] = ["nova-lite", "llama3-3-70b"]
    invoker = FakeInvoker()
    gateway = Gateway(
        StaticSource(parse_config(config_doc)),
        invoker,
        CircuitBreaker(MemoryBreakerStore(), clock=clock),
        ResponseCache(MemoryResponseStore(clock=clock), background=False),
    )
    return gateway, invoker, config_doc


def test_a_tool_request_whose_only_tool_model_is_down_gets_503_never_a_model_without_tools(parts):
    gateway, invoker, _ = parts
    invoker.fail["nova-lite"] = ("unavailable", "ServiceUnavailableException")
    with pytest.raises(Unavailable) as caught:
        gateway.chat(ChatRequest(messages=HELLO, tier="simple", fields=TOOLS))
    assert caught.value.status == 503
    # llama was never asked (nova-lite, the last candidate, may be retried within the retry budget)
    assert set(invoker.models_called) == {NOVA_LITE}
    plain = gateway.chat(ChatRequest(messages=HELLO, tier="simple"))  # without tools the fallback still works
    assert plain.model.alias == "llama3-3-70b"


def test_a_tool_request_no_candidate_can_serve_is_a_400_naming_the_capability(parts, clock):
    gateway, invoker, config_doc = parts
    config_doc["tiers"]["simple"] = ["llama3-3-70b"]
    gateway.config = StaticSource(parse_config(config_doc))
    with pytest.raises(InvalidRequest, match="llama3-3-70b: capability: does not support toolUse, toolChoice"):
        gateway.chat(ChatRequest(messages=HELLO, tier="simple", fields=TOOLS))
    assert invoker.calls == []


def test_a_tool_request_never_gets_the_degraded_answer_of_a_request_without_tools(parts):
    gateway, invoker, config_doc = parts
    config_doc["tiers"]["simple"] = ["nova-lite"]
    gateway.config = StaticSource(parse_config(config_doc))
    prose = gateway.chat(ChatRequest(messages=HELLO, tier="simple"))  # remembered as the last good answer
    assert prose.stop_reason == "end_turn"
    invoker.fail["nova-lite"] = ("unavailable", "ServiceUnavailableException")
    assert gateway.chat(ChatRequest(messages=HELLO, tier="simple")).degraded  # the plain request gets it back
    with pytest.raises(Unavailable):
        gateway.chat(ChatRequest(messages=HELLO, tier="simple", fields=TOOLS))


def test_request_metadata_names_each_candidate_actually_invoked(parts):
    gateway, invoker, _ = parts
    invoker.fail["nova-lite"] = ("throttled", "ThrottlingException")
    request = identified(ChatRequest(messages=HELLO, tier="simple", metadata={"team": "search"}), "key-1", "req-1")
    result = gateway.chat(request)
    assert result.model.alias == "llama3-3-70b"
    sent = [body["requestMetadata"] for _, body in invoker.calls]
    assert [meta["fmgw-model"] for meta in sent] == ["nova-lite", "llama3-3-70b"]
    assert sent[1] == {
        "team": "search",
        "fmgw-tenant": "key-1",
        "fmgw-route": "tier:simple",
        "fmgw-tier": "simple",
        "fmgw-model": "llama3-3-70b",
        "fmgw-request-id": "req-1",
    }


def test_forwarded_fields_reach_the_model_and_response_fields_come_back(parts):
    gateway, invoker, config_doc = parts
    fields = {
        **TOOLS,
        "guardrailConfig": {"guardrailIdentifier": "gr1", "guardrailVersion": "1", "trace": "enabled"},
        "additionalModelResponseFieldPaths": ["/stop_sequence"],
        "serviceTier": {"type": "flex"},
    }
    tool_use = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {}}}
    invoker.responses["nova-lite"] = {
        "output": {"message": {"role": "assistant", "content": [tool_use]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1000, "outputTokens": 100, "totalTokens": 1100, "cacheReadInputTokens": 4000},
        "trace": {"guardrail": {"inputAssessment": {}}},
        "additionalModelResponseFields": {"stop_sequence": None},
    }
    result = gateway.chat(ChatRequest(messages=HELLO, tier="simple", fields=fields))
    sent = invoker.calls[0][1]
    assert {name: sent[name] for name in fields} == fields
    body = result.body()
    assert body["stopReason"] == "tool_use" and body["output"]["message"]["content"] == [tool_use]
    assert body["trace"] == {"guardrail": {"inputAssessment": {}}}
    assert body["additionalModelResponseFields"] == {"stop_sequence": None}
    assert body["usage"] == {"inputTokens": 1000, "outputTokens": 100, "cacheReadInputTokens": 4000, "totalTokens": 5100}
    prices = config_doc["models"]["nova-lite"]["pricePer1k"]
    expected = prices["input"] + 0.1 * prices["output"] + 4 * prices["cacheRead"]
    assert result.cost_usd == pytest.approx(expected)
