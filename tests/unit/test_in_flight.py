"""Slowness counted while the slow calls still wait (``fmgateway.health.in_flight``): the threshold, the provisional
count and its return, and the breaker opening on calls that have not completed."""

from __future__ import annotations

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.health.breaker import BreakerState, CircuitBreaker
from fmgateway.health.in_flight import SlowThreshold
from fmgateway.health.monitor import HealthMonitor
from fmgateway.health.store import MemoryHealthStore
from tests.breaker_scenarios import BREAKER

KEY = "model-a"
CFG = {**BREAKER, "minimumCalls": 5, "slowCallFloorMs": 500}


def warmed(clock, store=None, latency_ms: float = 100, calls: int = 10) -> HealthMonitor:
    """A monitor whose window holds ``calls`` answered calls of ``latency_ms``: the model's normal."""
    health = HealthMonitor(store, clock=clock, shard=0)
    for _ in range(calls):
        health.record_success(KEY, CFG, clock(), latency_ms=latency_ms)
    return health


def test_the_threshold_is_fixed_or_a_multiple_of_the_p95_with_a_floor():
    assert SlowThreshold.from_breaker({"slowCallMs": 1500}).ms({}) == 1500
    derived = SlowThreshold.from_breaker({"minimumCalls": 3})
    assert derived.ms({}) is None  # no history: no known normal, nothing is slow yet
    assert derived.ms({"l30": 2}) is None  # fewer measured calls than minimumCalls
    window = {"l40": 10}  # every call ~ 1.19 ** 40.5 ms ~ 1,150 ms
    assert derived.ms(window) == pytest.approx(4 * 2 ** (40.5 / 4), rel=0.01)
    assert SlowThreshold.from_breaker({"minimumCalls": 3}).ms({"l8": 10}) == 2000  # 4 x ~4 ms: the floor
    assert SlowThreshold.from_breaker({"slowCallP95Multiple": 0}).ms(window) is None  # off
    assert not SlowThreshold.from_breaker({"slowCallP95Multiple": 0}).enabled


def test_a_call_in_flight_past_its_threshold_counts_as_slow_before_it_completes(clock):
    health = warmed(clock)
    threshold = health.slow_threshold_ms(KEY)
    assert threshold == 500  # 4 x ~100 ms is under the floor
    token = health.start_call(KEY, CFG, caller="key-1")  # its threshold is fixed as it starts: 500 ms
    clock.advance(0.4)
    assert health.sweep_in_flight(CFG, force=True) == []  # 400 ms: not yet
    before = health.totals(KEY)
    clock.advance(0.2)
    assert health.sweep_in_flight(CFG, force=True) == [KEY]  # 600 ms in flight: slow, and the model is judged
    during = health.totals(KEY)
    assert (during["c"] - before["c"], during.get("s", 0) - before.get("s", 0)) == (1, 1)
    assert health.sweep_in_flight(CFG, force=True) == []  # counted once
    clock.advance(9.4)  # it ends as a timeout 10 s after it started: counted once in the window, as a failure
    health.end_call(token)
    health.record_failure(KEY, CFG, clock(), "timeout", "key-1")
    after = health.totals(KEY)
    assert (after["c"], after.get("s", 0), after["f"]) == (before["c"] + 1, before.get("s", 0), 1)


def test_a_late_answer_counts_once_as_a_slow_success(clock):
    health = warmed(clock)
    before = health.totals(KEY)
    token = health.start_call(KEY, CFG)
    clock.advance(3)
    health.sweep_in_flight(CFG, force=True)
    health.end_call(token)
    assert health.record_success(KEY, CFG, clock(), latency_ms=3000) is True
    after = health.totals(KEY)
    assert (after["c"] - before["c"], after.get("s", 0) - before.get("s", 0)) == (1, 1)


def test_other_sandboxes_see_the_provisional_count_through_the_store(clock):
    store = MemoryHealthStore()
    first, second = warmed(clock, store), HealthMonitor(store, clock=clock, shard=1)
    second.configure(CFG)
    second.totals(KEY)  # the key is of interest to the second sandbox: its refresh reads it
    first.flush()
    token = first.start_call(KEY, CFG)
    clock.advance(1)
    first.sweep_in_flight(CFG, force=True)
    clock.advance(1)
    first.flush()
    second.refresh()
    assert second.totals(KEY).get("s") == 1  # a call still in flight in another sandbox
    first.end_call(token)
    clock.advance(1)
    first.flush()
    second.refresh()
    assert second.totals(KEY).get("s", 0) == 0  # taken back when it ended


def test_the_breaker_opens_while_the_slow_calls_are_still_waiting(clock):
    store = MemoryBreakerStore()
    health = warmed(clock, calls=5)
    breaker = CircuitBreaker(store, clock=clock, health=health)
    clock.advance(10)  # a new bucket: the stretch judged is the brownout's
    tokens = [health.start_call(KEY, CFG, caller="only-key") for _ in range(5)]
    assert breaker.admit(KEY, CFG) == "allow"
    clock.advance(1)  # every call waits 1 s, past the 500 ms threshold; none has completed
    assert breaker.admit(KEY, CFG) == "skip"
    assert BreakerState.from_record(store.get(KEY)[0]).state == "OPEN"
    for token in tokens:
        health.end_call(token)


def test_a_slow_probe_in_flight_reopens_the_breaker(clock):
    store = MemoryBreakerStore()
    health = warmed(clock, calls=5)
    breaker = CircuitBreaker(store, clock=clock, health=health)
    for _ in range(5):
        breaker.record_failure(KEY, CFG)
    assert breaker.admit(KEY, CFG) == "skip"
    clock.advance(CFG["cooldownSeconds"] + 1)
    assert breaker.admit(KEY, CFG) == "probe"
    probe = health.start_call(KEY, CFG)
    clock.advance(1)
    breaker.judge_in_flight(CFG)
    state = BreakerState.from_record(store.get(KEY)[0])
    assert state.state == "OPEN" and state.openUntil > clock() + CFG["cooldownSeconds"] - 2
    health.end_call(probe)


def test_the_watcher_counts_a_slow_call_with_nothing_else_happening():
    """A Lambda sandbox serves one request at a time: while its call waits, nothing else is admitted there. The
    background watcher counts the call the moment it passes its threshold, and the breaker judges the model."""
    import threading
    import time

    health = HealthMonitor(clock=time.time, background=True)
    judged = threading.Event()
    health.on_slow_in_flight(lambda key, cfg: judged.set())
    cfg = {**CFG, "slowCallMs": 100}
    token = health.start_call(KEY, cfg, caller="only-key")
    assert judged.wait(2), "the watcher did not count the slow call"
    assert health.totals(KEY).get("s") == 1
    health.end_call(token)
    assert health.totals(KEY).get("s", 0) == 0 and health.totals(KEY).get("c", 0) == 0


def test_a_model_keeps_its_last_known_threshold_while_nothing_is_measured(clock):
    """A brownout whose calls all time out leaves no latency in the window: the model's last known normal still says
    what slow is, so calls in flight (and probes) keep being judged."""
    health = warmed(clock)
    assert health.slow_threshold_ms(KEY) == 500
    clock.advance(CFG["windowSeconds"] + 20)  # the healthy calls have left the window
    assert health.totals(KEY).get("c", 0) == 0
    assert health.slow_threshold_ms(KEY) == 500
    assert HealthMonitor(clock=clock).slow_threshold_ms(KEY) is None  # a sandbox that never measured it: not yet
