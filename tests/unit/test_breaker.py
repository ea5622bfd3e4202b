import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.health import breaker as rules
from fmgateway.health.breaker import ALLOW, OPEN, PROBE, SKIP, BreakerState, CircuitBreaker
from fmgateway.health.monitor import HealthMonitor
from fmgateway.health.stats import Counts
from fmgateway.health.store import MemoryHealthStore
from tests.breaker_scenarios import BREAKER, SCENARIOS, event_key
from tests.conftest import FakeClock

SETTINGS = BREAKER


def run_scenario(breaker: CircuitBreaker, store, clock: FakeClock, steps, key="m"):
    start = clock.now
    for at, step, expected, state in steps:
        clock.now = start + at
        event, caller = event_key(step)
        if event == "admit":
            assert breaker.admit(key, SETTINGS) == expected, (at, step)
        elif event == "fail":
            breaker.record_failure(key, SETTINGS, caller=caller)
        else:
            breaker.record_success(key, SETTINGS, caller=caller)
        record, _ = store.get(key)
        assert BreakerState.from_record(record).state == state, (at, event)


def trip(breaker: CircuitBreaker, key: str = "m") -> None:
    """Open the breaker: the minimum number of calls, all failing."""
    for _ in range(SETTINGS["minimumCalls"]):
        breaker.record_failure(key, SETTINGS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_table(name, clock):
    store = MemoryBreakerStore()
    run_scenario(CircuitBreaker(store, clock=clock), store, clock, SCENARIOS[name])


def test_rules_are_pure():
    closed = BreakerState()
    assert rules.admit(closed, 0, SETTINGS) == (ALLOW, None)
    assert rules.on_failure(closed, 1, SETTINGS, [Counts(2, 2, 0, 10)]) is None  # below minimumCalls
    assert rules.on_failure(closed, 1, SETTINGS, [Counts(4, 1, 0, 10)]) is None  # 25 % < 50 %
    opened = rules.on_failure(BreakerState(), 1, SETTINGS, [Counts(2, 2, 0, 5), Counts(4, 2, 0, 15)])
    assert opened.state == OPEN and opened.openUntil == 31 and (opened.failures, opened.calls) == (2, 4)
    assert rules.admit(opened, 30.9, SETTINGS) == (SKIP, None)
    decision, half_open = rules.admit(opened, 31, SETTINGS)
    assert decision == PROBE and half_open.probes == 1
    assert rules.on_success(closed, 5, SETTINGS) is None
    assert rules.on_failure(half_open, 32, SETTINGS).state == OPEN  # a failed probe reopens, whatever the window


def test_slow_calls_open_it_when_configured():
    cfg = {**SETTINGS, "slowCallMs": 1000, "slowCallRateThreshold": 60}
    assert rules.trips([Counts(5, 0, 3, 10)], cfg) == Counts(5, 0, 3, 10)  # 60 % slow
    assert rules.trips([Counts(5, 0, 2, 10)], cfg) is None
    assert rules.trips([Counts(5, 0, 4, 10)], SETTINGS) == Counts(5, 0, 4, 10)  # on by default: 80 % of the calls slow
    assert rules.trips([Counts(5, 0, 3, 10)], SETTINGS) is None
    off = {**SETTINGS, "slowCallP95Multiple": 0}
    assert rules.trips([Counts(5, 0, 5, 10)], off) is None  # no slowCallMs and no derived threshold: speed is not judged


def test_a_slow_model_opens_through_the_executor(clock):
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock)
    cfg = {**SETTINGS, "slowCallMs": 1000, "slowCallRateThreshold": 50}
    breaker.record_success("m", cfg, latency_ms=200)
    breaker.record_success("m", cfg, latency_ms=1500)
    assert breaker.admit("m", cfg) == ALLOW  # 2 calls: under the minimum
    breaker.record_success("m", cfg, latency_ms=2500)  # 2 of 3 slow
    assert breaker.admit("m", cfg) == SKIP
    assert store.writes == 1


def test_a_slow_probe_reopens(clock):
    store = MemoryBreakerStore()
    breaker = CircuitBreaker(store, clock=clock)
    cfg = {**SETTINGS, "slowCallMs": 1000, "slowCallRateThreshold": 50}
    trip(breaker)
    clock.advance(30)
    assert breaker.admit("m", cfg) == PROBE
    breaker.record_success("m", cfg, latency_ms=5000)
    assert BreakerState.from_record(store.get("m")[0]).state == OPEN


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
    """Neither sandbox alone reaches the minimum number of calls; their merged health window does."""
    store, health_store = MemoryBreakerStore(), MemoryHealthStore(clock)
    first, second = (CircuitBreaker(store, clock=clock, health=HealthMonitor(health_store, clock=clock)) for _ in range(2))
    first.record_failure("m", SETTINGS)
    second.record_failure("m", SETTINGS)
    assert first.admit("m", SETTINGS) == ALLOW
    clock.advance(1)  # a flush interval: both have written their failures; the next read sees both
    first.record_failure("m", SETTINGS)
    assert second.admit("m", SETTINGS) == SKIP


def test_many_sandboxes_failing_at_once_write_one_transition(clock):
    """Failures are counted in the health window, not on the breaker item: 8 sandboxes failing 10 times a second for
    5 s make one conditional write (the transition), and no write before it."""
    store, health_store = MemoryBreakerStore(), MemoryHealthStore(clock)
    cfg = {**SETTINGS, "minimumCalls": 100, "stateCacheSeconds": 1}
    breakers = [CircuitBreaker(store, clock=clock, health=HealthMonitor(health_store, clock=clock)) for _ in range(8)]
    for _ in range(5):
        for _ in range(10):
            for breaker in breakers:
                breaker.record_failure("m", cfg)
            clock.advance(0.1)
    record, version = store.get("m")
    assert record["state"] == OPEN and record["failures"] >= 100
    assert version == 1 and store.writes == 1
    assert health_store.writes <= 8 * 5  # one write per sandbox per flush interval


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
