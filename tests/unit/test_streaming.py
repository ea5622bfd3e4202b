"""The streaming step in the one candidate loop (fmgateway.core.streaming), with a fake ConverseStream."""

import pytest

from fmgateway.aws.stores import MemoryBreakerStore, MemoryResponseStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.cache import ResponseCache
from fmgateway.core.gateway import Gateway
from fmgateway.core.streaming import open_stream
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.values.errors import Unavailable
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeStreamingInvoker, StaticSource, answer
from tests.unit.test_gateway import MAVERICK, NOVA_PRO, SONNET

HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]


@pytest.fixture
def parts(config_doc, clock):
    config_doc["circuitBreaker"].update(failureRateThreshold=50, minimumCalls=2, stateCacheSeconds=0)
    config_doc["timeouts"]["streamBudgetSeconds"] = 60
    invoker = FakeStreamingInvoker()
    breakers = MemoryBreakerStore()
    gateway = Gateway(
        StaticSource(parse_config(config_doc)),
        invoker,
        CircuitBreaker(breakers, clock=clock),
        ResponseCache(MemoryResponseStore(clock=clock), background=False),
    )
    return gateway, invoker, breakers


def stream(gateway, text="Hello"):
    return open_stream(
        gateway, gateway.prepare(ChatRequest(messages=[{"role": "user", "content": [{"text": text}]}], tier="medium"))
    )


def failures(gateway, invoke_id):
    """Failures counted against the model in the health window (where the breaker's rate rule reads them)."""
    return gateway.health.totals(invoke_id).get("f", 0)


def test_success_streams_every_event_then_records_success_cost_and_cache(parts):
    gateway, invoker, breakers = parts
    invoker.responses["claude-sonnet"] = answer("one two three", input_tokens=1000, output_tokens=2000)
    chat = stream(gateway)
    events = list(chat.events())
    assert [name for name, _ in events] == [
        "messageStart",
        *["contentBlockDelta"] * 3,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert chat.error is None and chat.result is not None
    assert chat.result.message["content"][0]["text"] == "one two three"
    assert chat.result.usage == {"inputTokens": 1000, "outputTokens": 2000, "totalTokens": 3000}
    assert chat.result.cost_usd == pytest.approx(chat.model.cost_usd(1000, 2000))
    figures = gateway.health.figures(SONNET)  # the stream's end is one call in the health window, with its TTFT
    assert (figures.calls, figures.failures) == (1, 0) and figures.ttft_p50_ms is not None and figures.p50_ms is not None
    assert figures.output_tokens_per_second and figures.output_tokens_per_second > 0
    block = chat.gateway_block()
    assert block["model"] == "claude-sonnet-4-5" and block["degraded"] is False and block["timeToFirstTokenMs"] >= 0
    # the assembled answer is the degraded cache's: every model down now, the same request streams it marked degraded
    invoker.fail.update(
        {"claude-sonnet": ("unavailable", "x"), "nova-pro": ("unavailable", "x"), "maverick": ("unavailable", "x")}
    )
    cached = stream(gateway)
    assert cached.degraded and [data for name, data in cached.events() if name == "contentBlockDelta"] == [
        {"delta": {"text": "one two three"}, "contentBlockIndex": 0}
    ]


def test_failure_before_the_first_token_moves_to_the_next_candidate(parts):
    gateway, invoker, _ = parts
    invoker.stream_fail["claude-sonnet"] = 1  # after messageStart, before any token
    chat = stream(gateway)
    assert [a.outcome for a in chat.attempts] == ["model_error", "ok"] and chat.model.alias == "nova-pro"
    assert invoker.streams[0].closed  # the failed stream's connection is dropped
    assert "error" not in [name for name, _ in chat.events()]
    assert failures(gateway, NOVA_PRO) == 0


def test_failure_after_tokens_ends_with_an_error_event_and_counts_on_the_breaker(parts):
    gateway, invoker, _ = parts
    invoker.stream_fail["claude-sonnet"] = 3
    chat = stream(gateway)
    events = list(chat.events())
    assert [name for name, _ in events] == ["messageStart", "contentBlockDelta", "contentBlockDelta", "error"]
    error = events[-1][1]
    assert error["code"] == "model_error" and error["type"] == "server_error" and "incomplete" in error["message"]
    assert chat.result is None and chat.error is not None
    assert failures(gateway, SONNET) == 1
    assert invoker.models_called == [SONNET]  # no fallback once tokens were sent


def test_all_candidates_refusing_before_the_first_token_raise_503(parts):
    gateway, invoker, _ = parts
    for fragment in ("claude-sonnet", "nova-pro", "maverick"):
        invoker.fail[fragment] = ("unavailable", "ServiceUnavailableException")
    with pytest.raises(Unavailable) as raised:
        stream(gateway, "never answered")
    assert raised.value.retry_after >= 1
    assert invoker.models_called == [SONNET, NOVA_PRO, *[MAVERICK] * 4]  # the last one retried (retries.maxAttempts 4)


def test_closing_stops_the_upstream_read_and_counts_nothing(parts):
    gateway, invoker, _ = parts
    invoker.responses["claude-sonnet"] = answer("a b c d e f g h")
    chat = stream(gateway)
    events = chat.events()
    next(events), next(events)
    chat.close()
    assert invoker.streams[0].closed
    assert list(events) == []  # nothing more, and no error event for a caller who left
    assert chat.result is None and chat.error is None and failures(gateway, SONNET) == 0


def test_stream_budget_ends_the_stream_with_an_error_event(parts, config_doc):
    gateway, invoker, _ = parts
    invoker.responses["claude-sonnet"] = answer("a b c d")
    chat = stream(gateway)
    chat.prepared = chat.prepared._replace(started=chat.prepared.started - 61)  # the budget (60 s) is spent
    events = list(chat.events())
    assert [name for name, _ in events][-1] == "error" and events[-1][1]["code"] == "timeout"
    assert len(events) == 2  # messageStart, then the budget check stops it
    assert invoker.streams[0].closed and failures(gateway, SONNET) == 0
