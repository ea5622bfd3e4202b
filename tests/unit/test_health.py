"""The health recorder and view (fmgateway.health.monitor): what a sandbox records, writes and reads back."""

from __future__ import annotations

import pytest

from fmgateway.health import stats as health_stats
from fmgateway.health.figures import HealthEvents
from fmgateway.health.monitor import HealthMonitor
from fmgateway.health.store import MemoryHealthStore, item_size

CFG = {"windowSeconds": 60, "stateCacheSeconds": 2, "health": {"flushIntervalSeconds": 1, "bucketSeconds": 10, "shards": 2}}
KEY = "model-a"


def monitor(clock, store=None, shard=0, **kwargs):
    return HealthMonitor(store, clock=clock, shard=shard, **kwargs)


def test_figures_from_what_was_recorded(clock):
    health = monitor(clock)
    assert health.figures(KEY) is None  # nothing known: strategies keep the configured order
    for ms in (100, 100, 100, 200, 1000):
        health.record_success(KEY, CFG, clock(), latency_ms=ms, ttft_ms=ms / 2, output_tokens=100, generation_ms=ms)
    health.record_failure(KEY, CFG, clock(), "throttled", "key-1")
    health.record_failure(KEY, CFG, clock(), "timeout", None)
    figures = health.figures(KEY)
    assert (figures.calls, figures.failures, figures.throttles) == (7, 2, 1)
    assert figures.error_rate == pytest.approx(2 / 7)
    assert figures.p50_ms == pytest.approx(100, rel=0.1) and figures.p99_ms == pytest.approx(1000, rel=0.1)
    assert figures.ttft_p50_ms == pytest.approx(50, rel=0.1)
    assert figures.output_tokens_per_second == pytest.approx(500 * 1000 / 1500, rel=0.01)
    assert figures.failures_by_kind == {"throttled": 1, "timeout": 1}


def test_slow_calls_are_counted_against_slow_call_ms(clock):
    health = monitor(clock)
    cfg = {**CFG, "slowCallMs": 500}
    assert health.record_success(KEY, cfg, clock(), latency_ms=600) is True
    assert health.record_success(KEY, cfg, clock(), latency_ms=100) is False
    assert health.figures(KEY).slow_calls == 1


def test_one_write_per_key_per_flush_interval_whatever_the_traffic(clock):
    store = MemoryHealthStore(clock)
    health = monitor(clock, store)
    for _ in range(100):  # 100 calls within one second
        health.record_success(KEY, CFG, clock(), latency_ms=10)
        health.record_success("model-b", CFG, clock(), latency_ms=10)
        clock.advance(0.01)
    assert store.writes == 1  # the first call at once; the rest waits for the interval to pass
    assert health.figures(KEY).calls == 100  # written or not, each call counted once
    clock.advance(0.5)
    health.record_success(KEY, CFG, clock(), latency_ms=10)  # the next call after the interval: one write per key
    assert store.writes == 3
    assert sum(item["c"] for item in store.items.values()) == 201


def test_sandboxes_see_each_other_within_a_flush_interval_and_a_cache_period(clock):
    store = MemoryHealthStore(clock)
    first, second = monitor(clock, store, shard=0), monitor(clock, store, shard=1)
    second.figures(KEY)  # asked once: second reads KEY from now on
    for _ in range(10):
        first.record_failure(KEY, CFG, clock(), "unavailable", "k")
        clock.advance(0.1)
    clock.advance(0.2)
    first.record_success(KEY, CFG, clock())  # a flush interval has passed: the other nine failures are written
    clock.advance(2)  # second's copy is now a cache period old
    assert second.figures(KEY).failures == 10 and second.figures(KEY).calls == 11
    assert {item[1] for item in store.items} == {0}  # first writes its own shard only


def test_old_buckets_leave_the_window(clock):
    health = monitor(clock, MemoryHealthStore(clock))
    health.record_failure(KEY, CFG, clock(), "unavailable")
    clock.advance(30)
    health.record_success(KEY, CFG, clock())
    assert health.figures(KEY).calls == 2
    clock.advance(35)
    assert health.figures(KEY).calls == 1  # the failure's bucket is more than a window old


def test_a_pending_bucket_older_than_the_window_is_dropped_not_written(clock):
    store = MemoryHealthStore(clock)
    health = monitor(clock, store)
    health.record_success(KEY, CFG, clock())  # written at once
    clock.advance(0.5)
    health.record_success(KEY, CFG, clock())  # pending: the sandbox then sleeps for five minutes
    clock.advance(300)
    health.flush()
    assert store.writes == 1


def test_a_failing_store_never_fails_a_request(clock):
    class Broken(MemoryHealthStore):
        def add(self, key, stats, expires_at):
            raise ConnectionError("dynamodb unreachable")

        def get_many(self, keys):
            raise ConnectionError("dynamodb unreachable")

    health = monitor(clock, Broken(clock), background=True)
    health.record_failure(KEY, CFG, clock(), "unavailable")
    clock.advance(5)
    assert health.figures(KEY) is not None  # its own calls, at least
    health.wait()


def test_background_writes_and_reads_run_on_the_worker(clock):
    store = MemoryHealthStore(clock)
    health = monitor(clock, store, background=True)
    health.record_success(KEY, CFG, clock(), latency_ms=5)
    health.wait()
    assert store.writes == 1 and health.figures(KEY).calls == 1  # written, and counted once (read or not)
    clock.advance(3)
    health.figures(KEY)
    health.wait()
    assert health.figures(KEY).calls == 1


def test_flushes_are_reported_as_events(clock):
    seen = []

    class Events(HealthEvents):
        def flushed(self, key, stats):
            seen.append((key, dict(stats)))

    health = monitor(clock, events=Events())
    health.record_failure(KEY, CFG, clock(), "throttled", "k")
    slot = health_stats.key_slot("k")
    assert seen == [(KEY, {"c": 1, "f": 1, "ft": 1, f"k{slot}": 1, f"n{slot}": 1})]


def test_an_item_stays_within_one_write_unit():
    """A busy bucket: every counter, a wide latency spread and failures from every key slot."""
    stats = {"c": 123456, "f": 6543, "ft": 1000, "fu": 2000, "fo": 3000, "fm": 543, "s": 99, "ot": 9_999_999, "om": 12345678.9}
    stats |= {f"l{i}": 1000 for i in range(20, 60)} | {f"t{i}": 1000 for i in range(10, 40)}
    stats |= {f"k{i}": 100 for i in range(health_stats.KEY_SLOTS)}
    assert item_size("us.anthropic.claude-sonnet-4-5-20250929-v1:0#1#1800000000", stats) < 1024


def test_histogram_quantiles_are_within_ten_percent():
    stats: dict[str, float] = {}
    values = [float(v) for v in range(1, 2001)]
    for value in values:
        health_stats.add_into(stats, {f"l{health_stats.histogram_index(value)}": 1})
    assert health_stats.quantile(stats, "l", 0.5) == pytest.approx(1000, rel=0.1)
    assert health_stats.quantile(stats, "l", 0.99) == pytest.approx(1980, rel=0.1)
    assert len(health_stats.histogram_sample(stats, "l")) <= 100


def test_a_slow_store_never_holds_up_recording_or_reading(clock):
    """Background mode: writes and reads wait on the worker, never on the caller's thread."""
    import threading
    import time

    release = threading.Event()

    class Slow(MemoryHealthStore):
        def add(self, key, stats, expires_at):
            release.wait(5)
            super().add(key, stats, expires_at)

        def get_many(self, keys):
            release.wait(5)
            return super().get_many(keys)

    store = Slow(clock)
    health = monitor(clock, store, background=True)
    started = time.perf_counter()
    for _ in range(50):
        health.record_success(KEY, CFG, clock(), latency_ms=5)
        health.figures(KEY)
        clock.advance(0.5)  # a flush and a read fall due all the time
    assert time.perf_counter() - started < 1.0  # the store is stuck; nothing above waited for it
    assert health.figures(KEY).calls == 50
    release.set()
    health.wait()
    assert store.writes >= 1
