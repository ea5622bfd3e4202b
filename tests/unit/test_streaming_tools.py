"""Issue 10 on the streaming step: a ConverseStream tool call is assembled into the result (and the degraded cache),
with cache tokens costed and the guardrail trace kept, and a cached tool answer streams back as a tool call."""

from __future__ import annotations

import pytest

from fmgateway.aws.stores import MemoryBreakerStore, MemoryResponseStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.cache import ResponseCache
from fmgateway.core.gateway import Gateway
from fmgateway.core.streaming import open_stream
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeStream, FakeStreamingInvoker, StaticSource

TOOLS = {"toolConfig": {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}}
USAGE = {"inputTokens": 10, "outputTokens": 20, "totalTokens": 1030, "cacheReadInputTokens": 1000}
# what Bedrock's ConverseStream sends for a text block then a tool call (the input JSON in pieces)
TOOL_EVENTS = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"delta": {"text": "Looking it up."}, "contentBlockIndex": 0}},
    {"contentBlockStop": {"contentBlockIndex": 0}},
    {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "tooluse_abc", "name": "lookup"}}, "contentBlockIndex": 1}},
    {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"q": "par'}}, "contentBlockIndex": 1}},
    {"contentBlockDelta": {"delta": {"toolUse": {"input": 'is"}'}}, "contentBlockIndex": 1}},
    {"contentBlockStop": {"contentBlockIndex": 1}},
    {"messageStop": {"stopReason": "tool_use"}},
    {"metadata": {"usage": USAGE, "metrics": {"latencyMs": 5}, "trace": {"guardrail": {"inputAssessment": {}}}}},
]


class ToolStreamingInvoker(FakeStreamingInvoker):
    def converse_stream(self, invoke_id, request, deadline=None):
        self.converse(invoke_id, request, deadline)  # the same failures as converse
        stream = FakeStream(list(TOOL_EVENTS))
        self.streams.append(stream)
        return stream


@pytest.fixture
def gateway(config_doc, clock):
    invoker = ToolStreamingInvoker()
    gateway = Gateway(
        StaticSource(parse_config(config_doc)),
        invoker,
        CircuitBreaker(MemoryBreakerStore(), clock=clock),
        ResponseCache(MemoryResponseStore(clock=clock), background=False),
    )
    return gateway, invoker


def request() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": [{"text": "Find Paris"}]}], tier="medium", fields=TOOLS)


def test_a_streamed_tool_call_is_assembled_costed_and_replayed_from_the_cache(gateway):
    gateway, invoker = gateway
    chat = open_stream(gateway, gateway.prepare(request()))
    events = list(chat.events())
    assert [next(iter(event)) for event in TOOL_EVENTS] == [name for name, _ in events]  # passed through as they came
    result = chat.result
    assert result is not None and result.stop_reason == "tool_use"
    assert result.message["content"] == [
        {"text": "Looking it up."},
        {"toolUse": {"toolUseId": "tooluse_abc", "name": "lookup", "input": {"q": "paris"}}},
    ]
    assert result.usage == {"inputTokens": 10, "outputTokens": 20, "cacheReadInputTokens": 1000, "totalTokens": 1030}
    assert result.cost_usd == pytest.approx(chat.model.cost_usd(10, 20, cache_read=1000))
    assert result.response_fields == {"trace": {"guardrail": {"inputAssessment": {}}}}
    assert invoker.calls[0][1]["toolConfig"] == TOOLS["toolConfig"]

    for fragment in ("claude-sonnet", "nova-pro", "maverick"):
        invoker.fail[fragment] = ("unavailable", "ServiceUnavailableException")
    cached = open_stream(gateway, gateway.prepare(request()))
    replayed = list(cached.events())
    assert cached.degraded
    assert (
        "contentBlockStart",
        {"start": {"toolUse": {"toolUseId": "tooluse_abc", "name": "lookup"}}, "contentBlockIndex": 1},
    ) in replayed
    assert ("messageStop", {"stopReason": "tool_use"}) in replayed
