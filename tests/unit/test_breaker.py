import threading

import pytest

from fmgateway import breaker as rules
from fmgateway.breaker import ALLOW, CLOSED, OPEN, PROBE, SKIP, BreakerState, CircuitBreaker
from fmgateway.stores import MemoryBreakerStore
from tests.breaker_scenarios import SCENARIOS, SETTINGS
from tests.conftest import FakeClock


def run_scenario(breaker: CircuitBreaker, store, clock: FakeClock, steps, key="m"):
    start = clock.now
    for at, event, expected, state in steps:
        clock.now = start + at
        if event == "admit":
            assert breaker.admit(key, SETTINGS) == expected, (at, event)
        elif event == "fail":
            breaker.record_failure(key, SETTINGS)
        else:
            breaker.record_success(key, SETTINGS)
        record, _ = store.get(key)
        assert BreakerState.from_record(record).state == state, (at, event)


def trip(breaker: CircuitBreaker, key: str = "m") -> None:
    """Open the breaker: as many failures as the scenario settings' threshold."""
    for _ in range(SETTINGS["failureThreshold"]):
        breaker.record_failure(key, SETTINGS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_table(name, clock):
    store = MemoryBreakerStore()
    run_scenario(CircuitBreaker(store, clock=clock), store, clock, SCENARIOS[name])


def test_rules_are_pure():
    closed = BreakerState()
    assert rules.admit(closed, 0, SETTINGS) == (ALLOW, None)
    opened = rules.on_failure(BreakerState(failures=2, windowStart=0), 1, SETTINGS)
    assert opened.state == OPEN and opened.openUntil == 31
    assert rules.admit(opened, 30.9, SETTINGS) == (SKIP, None)
    decision, half_open = rules.admit(opened, 31, SETTINGS)
    assert decision == PROBE and half_open.probes == 1
    assert rules.on_success(closed, 5, SETTINGS) is None


def test_healthy_traffic_reads_once_per_cache_period_and_never_writes(clock):
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock)
    cfg = {**SETTINGS, "stateCacheSeconds": 2}
    for _ in range(100):
        assert breaker.admit("m", cfg) == ALLOW
        breaker.record_success("m", cfg)
        clock.advance(0.01)  # 100 requests over one second
    assert store.writes == 0
    assert store.reads == 1


def test_two_lambdas_share_state_through_the_store(clock):
    store = MemoryBreakerStore()
    first, second = CircuitBreaker(store, clock=clock), CircuitBreaker(store, clock=clock)
    first.record_failure("m", SETTINGS)
    second.record_failure("m", SETTINGS)
    first.record_failure("m", SETTINGS)
    assert second.admit("m", SETTINGS) == SKIP


def test_concurrent_failures_are_all_counted():
    """Compare-and-set: with many writers racing, no failure is lost and the breaker opens exactly once."""
    store = MemoryBreakerStore()
    cfg = {**SETTINGS, "failureThreshold": 1000}
    breakers = [CircuitBreaker(store, max_cas_attempts=1000) for _ in range(8)]

    def hammer(breaker):
        for _ in range(50):
            breaker.record_failure("m", cfg)

    threads = [threading.Thread(target=hammer, args=(b,)) for b in breakers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record, version = store.get("m")
    assert record["failures"] == 400
    assert record["state"] == CLOSED
    assert version == 400


def test_only_one_of_two_lambdas_gets_the_half_open_probe(clock):
    store = MemoryBreakerStore()
    first, second = CircuitBreaker(store, clock=clock), CircuitBreaker(store, clock=clock)
    trip(first)
    clock.advance(30)
    assert [first.admit("m", SETTINGS), second.admit("m", SETTINGS)] == [PROBE, SKIP]


def test_retry_after_reports_time_to_the_next_probe(clock):
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock)
    trip(breaker)
    clock.advance(10)
    assert breaker.retry_after(["m"]) == 21
    assert breaker.retry_after(["other"]) is None


def test_background_refresh_serves_the_cached_copy_and_rereads_idle_ones(clock):
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock, background_refresh=True)
    cfg = {**SETTINGS, "stateCacheSeconds": 2}
    assert breaker.admit("m", cfg) == ALLOW  # first read is synchronous
    other = CircuitBreaker(store, clock=clock)
    trip(other)  # another Lambda opens the breaker
    clock.advance(3)  # stale, but within 5 periods: answered from the copy, refreshed behind
    assert breaker.admit("m", cfg) == ALLOW
    breaker._executor.shutdown(wait=True)
    assert breaker.admit("m", cfg) == SKIP  # the refresh landed
    clock.advance(60)  # an idle sandbox: far too stale to trust, read before deciding
    breaker._executor = None
    assert breaker.admit("m", cfg) in (PROBE, SKIP)
    assert store.reads >= 3


class BrokenStore(MemoryBreakerStore):
    def get(self, key):
        raise ConnectionError("dynamodb unreachable")

    def put(self, key, record, expected_version):
        raise ConnectionError("dynamodb unreachable")


def test_a_broken_state_store_fails_open(clock):
    breaker = CircuitBreaker(BrokenStore(), clock=clock)
    assert breaker.admit("m", SETTINGS) == ALLOW
    breaker.record_failure("m", SETTINGS)  # logged, not raised
    breaker.record_success("m", SETTINGS)


def test_a_probe_without_a_verdict_gives_its_slot_back(clock):
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock)
    trip(breaker)
    clock.advance(30)
    assert breaker.admit("m", SETTINGS) == PROBE
    assert breaker.admit("m", SETTINGS) == SKIP
    breaker.release("m", SETTINGS)
    assert breaker.admit("m", SETTINGS) == PROBE


def test_unread_keys_are_not_shown_as_closed(clock):
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock)
    trip(breaker)
    store.get_many = lambda keys: {}  # the batch read came back with every key unprocessed
    breaker._cache.clear()
    breaker.current(["m"], SETTINGS)
    assert breaker.admit("m", SETTINGS) == SKIP  # still read as OPEN, not cached as CLOSED
