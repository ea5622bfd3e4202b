"""EMF metrics per model (fmgateway.aws.health_metrics) and where the core emits them."""

from __future__ import annotations

import contextlib
import json

from fmgateway.aws.health_metrics import EmfHealthEvents
from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.health.figures import HealthEvents
from fmgateway.health.monitor import HealthMonitor
from fmgateway.values.errors import Unavailable
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeInvoker

HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]


def emitted(printer_lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in printer_lines]


def test_a_flush_emits_one_record_per_model_with_counts_and_latencies(clock):
    lines: list[str] = []
    health = HealthMonitor(clock=clock, events=EmfHealthEvents(lines.append))
    cfg = {"health": {"flushIntervalSeconds": 1}}
    health.record_success("model-a", cfg, clock(), latency_ms=120, ttft_ms=40)
    (record,) = emitted(lines)
    assert record["Model"] == "model-a" and record["ModelCalls"] == [1.0] and record["ModelFailures"] == [0.0]
    assert record["ModelLatencyMs"] and record["ModelTtftMs"]
    names = {metric["Name"] for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"ModelCalls", "ModelFailures", "ModelLatencyMs", "ModelTtftMs"} <= names
    assert ["Model", "service"] in record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    clock.advance(1)
    health.record_failure("model-a", cfg, clock(), "throttled", "key-1")
    assert emitted(lines)[1]["ModelThrottles"] == [1.0]


def test_breaker_transitions_and_tiers_without_a_healthy_candidate_are_reported(config_doc, clock):
    class Recorder(HealthEvents):
        def __init__(self):
            self.transitions, self.tiers = [], []

        def transition(self, key, old_state, new_state):
            self.transitions.append((key, old_state, new_state))

        def no_healthy_candidate(self, route):
            self.tiers.append(route)

    config_doc["circuitBreaker"].update(failureRateThreshold=50, minimumCalls=1, stateCacheSeconds=0)
    config_doc["cache"]["enabled"] = False
    events = Recorder()
    invoker = FakeInvoker()
    invoker.fail = {"": ("unavailable", "ServiceUnavailableException")}  # every model fails

    class Source:
        def get(self):
            return parse_config(config_doc)

    breaker = CircuitBreaker(MemoryBreakerStore(), clock=clock, health=HealthMonitor(clock=clock, events=events))
    gateway = Gateway(Source(), invoker, breaker)
    for _ in range(2):
        with contextlib.suppress(Unavailable):  # the first request opens every breaker; the second finds none
            gateway.chat(ChatRequest(messages=HELLO, tier="simple"))
    assert len(events.transitions) == 3 and {t[2] for t in events.transitions} == {"OPEN"}
    assert events.tiers == ["simple"]  # the second request found every candidate open
