"""The per-key cap (``circuitBreaker.maxKeyShare``): one caller alone cannot open a breaker for everyone.

One API key sends requests that model A fails (and the next candidate answers); other keys' requests on A succeed.
The bad key's failures alone pass the rate threshold and the minimum number of calls: without the cap A's breaker
opens for every caller; with it, A stays closed and the other keys keep being answered by A.
"""

from __future__ import annotations

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.gateway import Gateway
from fmgateway.health import stats as health_stats
from fmgateway.health.breaker import BreakerState, CircuitBreaker
from fmgateway.values.errors import InvocationError
from fmgateway.values.exchange import ChatRequest
from tests.fakes import answer

A = "us.anthropic.claude-haiku-4-5-20251001-v1:0"  # first candidate of the simple tier
POISON = "poison"


class KeySensitiveModel:
    """Model A fails every request that carries the bad key's marker; everything else answers."""

    def __init__(self):
        self.answered: list[tuple[str, str]] = []  # (model, text)

    def configure(self, settings: dict) -> None:
        pass

    def converse(self, invoke_id: str, request: dict, deadline: float | None = None) -> dict:
        text = request["messages"][0]["content"][0]["text"]
        if invoke_id == A and POISON in text:
            raise InvocationError("unavailable", "ServiceUnavailableException", "fails for this caller's requests")
        self.answered.append((invoke_id, text))
        return answer(f"{invoke_id} answers")


class Source:
    def __init__(self, config):
        self.config = config

    def get(self):
        return self.config


def run_traffic(config_doc, clock, max_key_share: float) -> tuple[str, list[tuple[str, str]], list[str]]:
    config_doc["circuitBreaker"].update(failureRateThreshold=50, minimumCalls=20, maxKeyShare=max_key_share)
    store, model = MemoryBreakerStore(), KeySensitiveModel()
    gateway = Gateway(Source(parse_config(config_doc)), model, CircuitBreaker(store, clock=clock))
    served_by: list[str] = []
    for i in range(70):  # 5 of every 7 requests from the bad key: 71 % of A's calls fail, 50 failures in all
        bad = i % 7 < 5
        caller, text = ("key-bad", f"{POISON} {i}") if bad else (f"key-good-{i % 3}", f"hello {i}")
        request = ChatRequest(messages=[{"role": "user", "content": [{"text": text}]}], tier="simple", caller=caller)
        result = gateway.chat(request)
        if not bad:
            served_by.append(result.model.invoke_id)
        clock.advance(0.25)
    state = BreakerState.from_record(store.get(A)[0]).state
    return state, model.answered, served_by


def test_one_key_alone_cannot_open_the_breaker(config_doc, clock):
    state, answered, good_served_by = run_traffic(config_doc, clock, max_key_share=0.5)
    assert state == "CLOSED"
    assert good_served_by == [A] * 20  # every other caller's request answered by A
    assert all(model != A for model, text in answered if POISON in text)  # the bad key's requests by the next candidate


def test_without_the_cap_the_same_traffic_opens_it_for_everyone(config_doc, clock):
    state, _, good_served_by = run_traffic(config_doc, clock, max_key_share=1.0)
    assert state == "OPEN"
    assert good_served_by[-1] != A  # other callers are sent elsewhere once it opened


def test_the_cap_counts_a_real_outage_seen_by_many_keys(config_doc, clock):
    """Capping is by share: when many keys fail, their failures count (a model that is down opens for everyone)."""
    config_doc["circuitBreaker"].update(failureRateThreshold=50, minimumCalls=20, maxKeyShare=0.5)
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock)
    cfg = parse_config(config_doc).breaker
    for i in range(20):
        breaker.record_failure(A, cfg, caller=f"key-{i % 4}")
    assert BreakerState.from_record(store.get(A)[0]).state == "OPEN"


@pytest.mark.parametrize(
    ("stats", "share", "counted"),
    [
        # one failing key while another key's calls succeed: nothing counts
        ({"c": 30, "f": 20, "k1": 20, "n1": 20, "n2": 10}, 0.5, 0),
        # the model's only caller: its failures count in full, with or without successes of its own
        ({"c": 10, "f": 10, "k1": 10, "n1": 10}, 0.5, 10),
        ({"c": 25, "f": 10, "k1": 10, "n1": 25}, 0.5, 10),
        # two keys, both failing, nobody succeeding: in full
        ({"c": 110, "f": 110, "k1": 10, "k2": 100, "n1": 10, "n2": 100}, 0.5, 110),
        # the same two keys beside keyless successes: capped, the big key counts as much as the rest
        ({"c": 120, "f": 110, "k1": 10, "k2": 100, "n1": 10, "n2": 100}, 0.5, 20),
        # no key over its share
        ({"c": 50, "f": 40, "k1": 10, "k2": 10, "k3": 10, "k4": 10, "n1": 10, "n2": 10, "n3": 10, "n4": 10}, 0.5, 40),
        # 30 keyless failures (never capped) let the key count 30
        ({"c": 140, "f": 130, "k1": 100, "n1": 100}, 0.5, 60),
        ({"c": 10, "f": 10, "k1": 10}, 1.0, 10),  # no cap
        ({"c": 110, "f": 100, "k1": 60, "k2": 40, "n1": 60, "n2": 40}, 0.5, 80),
        # one key alone capped, one counted in full: key 1 fails while key 2 succeeds; key 2 also fails while key 1's
        # calls all fail, so key 2's failures follow the model
        ({"c": 50, "f": 30, "k1": 20, "k2": 10, "n1": 20, "n2": 30}, 0.5, 20),
    ],
)
def test_capped_failures(stats, share, counted):
    assert health_stats.capped_failures(stats, share) == pytest.approx(counted)
