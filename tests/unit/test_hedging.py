"""Hedged requests (``fmgateway.core.hedging``): the second candidate is called once the first has not answered after
``afterMs``, the first answer wins, the other call is abandoned (a stream closed, a Converse answer's cost reported),
both are recorded, and the hedge budget holds."""

from __future__ import annotations

import threading
import time

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core import streaming
from fmgateway.core.gateway import Gateway
from fmgateway.core.hedging import WINDOW_SECONDS, HedgeBudget
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.values.errors import InvocationError
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeStreamingInvoker, StaticSource

HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]
HAIKU, NOVA = "claude-haiku", "nova-lite"  # the simple tier's first two candidates (fragments of their invoke ids)


class SlowInvoker(FakeStreamingInvoker):
    """Each model answers after ``delay[fragment]`` seconds (a real sleep: the hedge races real threads)."""

    def __init__(self, delay: dict[str, float]):
        super().__init__()
        self.delay = delay
        self.lock = threading.Lock()

    def converse(self, invoke_id, request, deadline=None):
        time.sleep(next((seconds for fragment, seconds in self.delay.items() if fragment in invoke_id), 0.0))
        with self.lock:
            return super().converse(invoke_id, request, deadline)


@pytest.fixture
def build(config_doc):
    def make(invoker, after_ms=50, budget_share=0.5):
        config_doc["tierStrategies"] = {
            "simple": {"strategy": "ordered", "hedge": {"afterMs": after_ms, "budgetShare": budget_share}}
        }
        config_doc["cache"]["enabled"] = False
        gateway = Gateway(StaticSource(parse_config(config_doc)), invoker, CircuitBreaker(MemoryBreakerStore()))
        abandoned: list[tuple[str, float]] = []
        gateway.on_abandoned = lambda candidate, cost: abandoned.append((candidate.alias, cost))
        return gateway, abandoned

    return make


def test_a_slow_first_candidate_is_hedged_and_the_faster_answer_wins(build):
    invoker = SlowInvoker({HAIKU: 0.6})
    gateway, abandoned = build(invoker)
    result = gateway.chat(ChatRequest(HELLO, tier="simple", caller="key-1"))
    assert result.model.alias == "nova-lite"
    assert [(a.model, a.outcome) for a in result.attempts] == [("claude-haiku-4-5", "abandoned"), ("nova-lite", "ok")]
    assert result.overhead_ms < 1000
    deadline = time.monotonic() + 3
    while not abandoned and time.monotonic() < deadline:  # the abandoned answer arrives ~0.6 s after it started
        time.sleep(0.02)
    assert abandoned and abandoned[0][0] == "claude-haiku-4-5" and abandoned[0][1] > 0  # its cost, counted
    health = gateway.health
    haiku = next(c for c in gateway.config.get().catalog.models.values() if c.alias == "claude-haiku-4-5")
    assert health.totals(haiku.invoke_id).get("c") == 1  # the abandoned call recorded: a success, not a failure
    assert not health.totals(haiku.invoke_id).get("f")


def test_no_hedge_when_the_first_candidate_answers_in_time(build):
    invoker = FakeStreamingInvoker()
    gateway, _ = build(invoker, after_ms=500)
    result = gateway.chat(ChatRequest(HELLO, tier="simple"))
    assert [(a.model, a.outcome) for a in result.attempts] == [("claude-haiku-4-5", "ok")]
    assert len(invoker.calls) == 1


def test_both_failing_move_on_to_the_third_candidate(build):
    class FailingSlowly(SlowInvoker):
        def converse(self, invoke_id, request, deadline=None):
            if HAIKU in invoke_id or NOVA in invoke_id:
                time.sleep(0.2 if HAIKU in invoke_id else 0.05)
                raise InvocationError("unavailable", "ServiceUnavailableException", "down")
            return super().converse(invoke_id, request, deadline)

    gateway, _ = build(FailingSlowly({}), after_ms=20)
    result = gateway.chat(ChatRequest(HELLO, tier="simple"))
    assert [a.model for a in result.attempts] == ["claude-haiku-4-5", "nova-lite", "llama3-3-70b"]
    assert [a.outcome for a in result.attempts] == ["unavailable", "unavailable", "ok"]


def test_an_abandoned_stream_is_closed(build):
    class SlowStreams(FakeStreamingInvoker):
        def converse_stream(self, invoke_id, request, deadline=None):
            if HAIKU in invoke_id:
                time.sleep(0.3)  # its first token arrives after the hedge answered
            stream = super().converse_stream(invoke_id, request, deadline)
            self.by_model[invoke_id] = stream
            return stream

    invoker = SlowStreams()
    invoker.by_model = {}
    gateway, _ = build(invoker, after_ms=30)
    stream = streaming.open_stream(gateway, gateway.prepare(ChatRequest(HELLO, tier="simple")))
    assert stream.model.alias == "nova-lite"
    list(stream.events())
    deadline = time.monotonic() + 3
    while len(invoker.streams) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)
    haiku_stream = next(stream for invoke_id, stream in invoker.by_model.items() if HAIKU in invoke_id)
    assert haiku_stream.closed and haiku_stream.sent <= 2  # the upstream read stopped at its first token
    assert stream.result is not None and stream.result.model.alias == "nova-lite"


def test_the_hedge_budget_holds_under_a_burst():
    now = [1000.0]
    budget = HedgeBudget(clock=lambda: now[0])
    hedges = 0
    for _ in range(1000):  # a burst in which every request would hedge
        budget.record_request()
        hedges += budget.try_spend(0.05)
    assert hedges <= 0.05 * 1000 + 1
    now[0] += WINDOW_SECONDS + 1  # a new window: hedging may resume
    budget.record_request()
    assert budget.try_spend(0.05)


def test_hedging_stays_within_its_budget_through_the_gateway(build):
    invoker = SlowInvoker({HAIKU: 0.05})
    gateway, _ = build(invoker, after_ms=10, budget_share=0.1)
    results = [gateway.chat(ChatRequest(HELLO, tier="simple")) for _ in range(30)]
    hedged = sum(1 for result in results if len(result.attempts) == 2)
    assert 1 <= hedged <= 0.1 * 30 + 1


def test_a_slow_half_open_probe_is_not_waited_for(config_doc, clock):
    """A probe slower than the slow threshold says the model is not fast again: the request moves on to the next
    candidate then (no hedge configured, and outside the hedge budget), instead of waiting out the read timeout."""
    config_doc["circuitBreaker"].update(slowCallMs=100, minimumCalls=2, cooldownSeconds=5, stateCacheSeconds=0)
    config_doc["cache"]["enabled"] = False
    invoker = SlowInvoker({HAIKU: 0.5})
    breaker = CircuitBreaker(MemoryBreakerStore(), clock=clock)
    gateway = Gateway(StaticSource(parse_config(config_doc)), invoker, breaker)
    haiku = next(m for m in gateway.config.get().catalog.models.values() if m.alias == "claude-haiku-4-5")
    for _ in range(3):
        breaker.record_failure(haiku.invoke_id, gateway.config.get().breaker)
    clock.advance(6)  # the cooldown is over: the next request probes the primary
    started = time.perf_counter()
    result = gateway.chat(ChatRequest(HELLO, tier="simple"))
    assert [(a.model, a.outcome) for a in result.attempts] == [("claude-haiku-4-5", "abandoned"), ("nova-lite", "ok")]
    assert time.perf_counter() - started < 0.4  # it did not wait for the 0.5 s probe
