"""Live model health (issue 14): what the candidate loop, the breaker and the routing strategies read.

``HealthFigures`` is the merged recent window of one candidate's ``health_key`` (every sandbox's statistics,
summed from the shared store). The strategies (``fmgateway.routing.strategies``) and ``GET /v1/models`` read it through a
``HealthView``; ``HealthMonitor`` (below) is the recorder and the view: per-sandbox statistics in memory, merged into
the shared store (``fmgateway.health.store``) at a bounded rate, read back from a cached read. The arithmetic of the
statistics is in ``fmgateway.health.stats``; README "Model health and the rate breaker" says how stale it can be.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from fmgateway.health import stats as health_stats
from fmgateway.health import store as health_store
from fmgateway.health.figures import HealthEvents, HealthFigures, NoEvents
from fmgateway.health.in_flight import SlowCallWatch, SlowThreshold, provisional
from fmgateway.health.stats import Counts, Stats
from fmgateway.health.store import FINAL_AFTER_FLUSHES, HealthStore, ItemKey

log = logging.getLogger(__name__)


# ---- the recorder and the view -------------------------------------------------------------------------------------


class HealthSettings(NamedTuple):
    window_seconds: float = 60.0
    bucket_seconds: int = 2
    flush_interval_seconds: float = 1.0
    shards: int = 2
    cache_seconds: float = 2.0  # the breaker's stateCacheSeconds: how old the shared picture may get before a re-read
    slow: SlowThreshold = SlowThreshold()
    max_key_share: float = 1.0

    @classmethod
    def from_breaker(cls, cfg: Mapping[str, Any]) -> HealthSettings:
        """From the breaker settings (``GatewayConfig.breaker``), whose ``health`` entry is the config's ``health``."""
        health = cfg.get("health") or {}
        return cls(
            window_seconds=float(cfg.get("windowSeconds", 60)),
            bucket_seconds=int(health.get("bucketSeconds", 2)),
            flush_interval_seconds=float(health.get("flushIntervalSeconds", 1.0)),
            shards=int(health.get("shards", 2)),
            cache_seconds=float(cfg.get("stateCacheSeconds", 2)),
            slow=SlowThreshold.from_breaker(cfg),
            max_key_share=float(cfg.get("maxKeyShare", 1.0)),
        )

    def bucket(self, at: float) -> int:
        return int(at // self.bucket_seconds) * self.bucket_seconds

    def window_buckets(self, at: float) -> list[int]:
        """The buckets of the window at ``at``, newest first: the current one and enough before it to reach back
        ``window_seconds`` (so the window covers between ``window - bucket`` and ``window`` seconds)."""
        last, count = self.bucket(at), max(1, math.ceil(self.window_seconds / self.bucket_seconds))
        return [last - i * self.bucket_seconds for i in range(count)]


INTEREST_SECONDS = 300  # a key nobody recorded or asked about for this long is no longer re-read


class HealthMonitor:
    """One sandbox's part of the live health picture: records outcomes in memory, merges them into the shared store at
    most once per key per flush interval, and answers from the merged window (``HealthView``).

    What a sandbox knows of a key = the last read of the store + its own statistics written since that read was issued
    + its own statistics not yet written: its own calls count at once and exactly once; other sandboxes' calls arrive
    within one flush interval plus one cache period. With ``background`` every write and read runs on one worker thread
    (serialised, which is what makes "written since the read" exact), so nothing on a request's path waits for the
    store; without it they run inline (tests, the scale simulation).
    """

    def __init__(
        self,
        store: HealthStore | None = None,
        clock: Callable[[], float] = time.time,
        background: bool = False,
        events: HealthEvents | None = None,
        shard: int | None = None,
    ):
        self.store = store
        self.clock = clock
        self.events = events or NoEvents()
        self.settings = HealthSettings()
        self._cfg: Mapping[str, Any] | None = None
        self._shard_seed = random.random() if shard is None else None
        self._fixed_shard = shard
        self._lock = threading.RLock()
        self._pending: dict[str, dict[int, Stats]] = {}
        self._unseen: list[tuple[int, str, int, Stats]] = []  # (flush number, key, bucket, stats) written since the read
        self._flushes = self._completed = 0
        self._last_flush = float("-inf")
        self._items: dict[ItemKey, dict[str, float]] = {}  # the store's items as last read
        self._read_at = float("-inf")
        self._read_running = False
        self._interest: dict[str, float] = {}
        # What figures() computed, per key, and the data it was computed from: recomputed only when the key's own
        # statistics, the store's copy or the window moved (the strategies ask for every candidate on every request).
        self._shared_version = 0  # bumped whenever the read copy or the written-since list changes
        self._key_versions: dict[str, int] = {}  # bumped whenever a key's unwritten statistics change
        self._figures: dict[str, tuple[tuple[int, int, int], HealthFigures | None]] = {}
        self._shared_totals: dict[str, tuple[tuple[int, int], Stats]] = {}
        self.slow_calls = SlowCallWatch(self, watch=background)
        self._known_slow_ms: dict[str, float] = {}  # each model's derived slow threshold, as last measured
        self._executor = None
        if background:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")

    @property
    def shard(self) -> int:
        if self._fixed_shard is not None:
            return self._fixed_shard % self.settings.shards
        return int((self._shard_seed or 0.0) * self.settings.shards)

    def configure(self, cfg: Mapping[str, Any]) -> HealthSettings:
        if cfg is not self._cfg:
            self._cfg, self.settings = cfg, HealthSettings.from_breaker(cfg)
        return self.settings

    # ---- recording (in memory; a due flush is handed to the worker) --------------------------------------------

    def record_success(
        self,
        key: str,
        cfg: Mapping[str, Any],
        at: float,
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        output_tokens: int | None = None,
        generation_ms: float | None = None,
        caller: str | None = None,
    ) -> bool:
        """A call that answered; returns whether it was slow (its model's slow threshold, ``in_flight``)."""
        self.configure(cfg)
        threshold = self.slow_threshold_ms(key, at) if latency_ms is not None else None
        slow = threshold is not None and latency_ms is not None and latency_ms >= threshold
        self.record(key, at, health_stats.success(latency_ms, ttft_ms, output_tokens, generation_ms, slow, caller))
        return slow

    def record_slow(self, key: str, cfg: Mapping[str, Any], caller: str | None = None) -> None:
        """A call given up on while still waiting (a hedge's abandoned call that then failed): slow, not failed."""
        self.configure(cfg)
        self.record(key, self.clock(), provisional(caller))

    def latency_quantile(self, key: str, q: float) -> float | None:
        """The ``q`` quantile of ``key``'s recent call latency (ms), once the window holds ``minimumCalls`` of them."""
        return health_stats.measured_quantile(self.totals(key), q, self.settings.slow.minimum_calls)

    def record_failure(self, key: str, cfg: Mapping[str, Any], at: float, kind: str, caller: str | None = None) -> None:
        """A failure that counts against the model (after failure isolation), with the caller's API key id."""
        self.configure(cfg)
        self.record(key, at, health_stats.failure(kind, caller))

    # ---- calls in flight (``fmgateway.health.in_flight``) ---------------------------------------------------------

    def slow_threshold_ms(self, key: str, at: float | None = None) -> float | None:
        """How long a call of ``key`` may take before it counts as slow; ``None``: nothing counts as slow yet."""
        slow = self.settings.slow
        if slow.fixed_ms or not slow.enabled:
            return slow.ms({})
        threshold = slow.ms(self.totals(key, self.clock() if at is None else at))
        if threshold is None:  # too few measured calls now (a brownout whose calls all time out measures none)
            return self._known_slow_ms.get(key)  # the model's last known normal still says what slow is
        self._known_slow_ms[key] = threshold
        return threshold

    def start_call(self, key: str, cfg: Mapping[str, Any], caller: str | None = None) -> int:
        """A model call begins; returns the token that ``end_call`` takes (``SlowCallWatch.start``)."""
        return self.slow_calls.start(key, cfg, caller)

    def end_call(self, token: int) -> None:
        """A model call ended, before its outcome is recorded (``SlowCallWatch.end``)."""
        self.slow_calls.end(token)

    def sweep_in_flight(self, cfg: Mapping[str, Any] | None = None, at: float | None = None, force: bool = False) -> list[str]:
        """Count the calls in flight past their threshold, once each (``SlowCallWatch.sweep``)."""
        return self.slow_calls.sweep(cfg, at, force)

    def on_slow_in_flight(self, listener: Callable[[str, Mapping[str, Any]], None]) -> None:
        """``listener(key, cfg)`` after calls of ``key`` were counted slow while in flight."""
        self.slow_calls.listeners.append(listener)

    def record(self, key: str, at: float, stats: Stats, bucket: int | None = None) -> None:
        """Add ``stats`` to ``key``'s statistics of the bucket of ``at`` (or of ``bucket``); flush when due."""
        bucket = self.settings.bucket(at) if bucket is None else bucket
        with self._lock:
            health_stats.add_into(self._pending.setdefault(key, {}).setdefault(bucket, {}), stats)
            self._key_versions[key] = self._key_versions.get(key, 0) + 1
            self._interest[key] = at
            due = at - self._last_flush >= self.settings.flush_interval_seconds
            if due:
                self._last_flush = at
        if due:
            self._run(self.flush, at)

    def _run(self, work: Callable[[float], None], at: float) -> None:
        if self._executor is None:
            work(at)
        else:
            self._executor.submit(work, at)

    def flush(self, at: float | None = None) -> None:
        """Write at most one item per key: the oldest bucket waiting (a newer one waits for the next interval);
        buckets already out of the window are dropped."""
        at = self.clock() if at is None else at
        settings = self.settings
        oldest_kept = settings.window_buckets(at)[-1]
        writes: list[tuple[str, int, Stats]] = []
        with self._lock:
            for key, buckets in list(self._pending.items()):
                for bucket in [b for b in buckets if b < oldest_kept]:
                    del buckets[bucket]
                if buckets:
                    bucket = min(buckets)
                    writes.append((key, bucket, buckets.pop(bucket)))
                if not buckets:
                    del self._pending[key]
            if not writes:
                return
            self._flushes += 1
            self._shared_version += 1
            for key, _, _ in writes:
                self._key_versions[key] = self._key_versions.get(key, 0) + 1
            number = self._flushes
            self._unseen += [(number, key, bucket, stats) for key, bucket, stats in writes]
        shard = self.shard
        expires = int(at + settings.window_seconds + settings.bucket_seconds + TTL_MARGIN_SECONDS)
        for key, bucket, stats in writes:
            self.events.flushed(key, stats)
            if self.store is None:
                continue
            try:
                self.store.add((key, shard, bucket), stats, expires)
            except Exception:  # health is advisory: a lost write costs a few calls in the picture, never a request
                log.exception("health write failed", extra={"model": key})
        with self._lock:
            self._completed = number

    # ---- reading (the merged window, from the last read) -------------------------------------------------------

    def _maybe_refresh(self, at: float) -> None:
        if self.store is None:
            return
        with self._lock:
            if self._read_running or at - self._read_at < self.settings.cache_seconds:
                return
            self._read_running = True
        self._run(self._refresh, at)

    def _refresh(self, at: float) -> None:
        try:
            self.refresh(at)
        except Exception:
            log.exception("health read failed")
        finally:
            self._read_running = False

    def refresh(self, at: float | None = None) -> None:
        """Re-read the window's items of every key of interest. Items of a bucket that ended more than
        ``FINAL_AFTER_FLUSHES`` flush intervals ago are final: read once, then kept (late writes to them are missed)."""
        assert self.store is not None
        at = self.clock() if at is None else at
        settings = self.settings
        buckets = settings.window_buckets(at)
        final_before = at - settings.bucket_seconds - FINAL_AFTER_FLUSHES * settings.flush_interval_seconds
        with self._lock:
            keys = [key for key, seen in self._interest.items() if at - seen < INTEREST_SECONDS]
            self._interest = {key: self._interest[key] for key in keys}
            seen_flush = self._completed
            own = {(key, self.shard, bucket) for number, key, bucket, _ in self._unseen if number <= seen_flush}
            wanted = health_store.window_item_keys(keys, settings.shards, buckets)
            stale = [item for item in wanted if item not in self._items or item[2] >= final_before or item in own]
        found = self.store.get_many(stale) if stale else {}
        with self._lock:
            keep = set(wanted)
            self._items = {item: stats for item, stats in self._items.items() if item in keep}
            for item in stale:
                if item in found:
                    self._items[item] = found[item]
            self._unseen = [entry for entry in self._unseen if entry[0] > seen_flush]
            self._read_at = at
            self._shared_version += 1

    def _buckets(self, key: str, at: float, since: float = 0.0) -> list[tuple[int, Stats]]:
        """The key's statistics per bucket of the window at ``at`` (newest first), leaving out buckets that ended
        before ``since`` (the breaker's window restarts when it closes)."""
        self._maybe_refresh(at)
        settings = self.settings
        wanted = [b for b in settings.window_buckets(at) if b + settings.bucket_seconds > since]
        per_bucket: dict[int, Stats] = {bucket: {} for bucket in wanted}
        with self._lock:
            self._interest[key] = at
            for (item_key, _, bucket), stats in self._items.items():
                if item_key == key and bucket in per_bucket:
                    health_stats.add_into(per_bucket[bucket], stats)
            for _, item_key, bucket, stats in self._unseen:
                if item_key == key and bucket in per_bucket:
                    health_stats.add_into(per_bucket[bucket], stats)
            for bucket, stats in self._pending.get(key, {}).items():
                if bucket in per_bucket:
                    health_stats.add_into(per_bucket[bucket], stats)
        return [(bucket, per_bucket[bucket]) for bucket in wanted]

    def recent_counts(self, key: str, cfg: Mapping[str, Any], at: float, since: float = 0.0) -> list[Counts]:
        """For the breaker: the counts of the newest bucket, of the two newest, ... of the whole window (each with the
        per-key cap applied), so a rule can judge the recent stretch as well as the window."""
        settings = self.configure(cfg)
        total: Stats = {}
        suffixes: list[Counts] = []
        for bucket, stats in self._buckets(key, at, since):
            health_stats.add_into(total, stats)
            if total.get("c"):
                suffixes.append(Counts.of(total, settings.max_key_share, at - bucket))
        return suffixes

    def totals(self, key: str, at: float | None = None) -> Stats:
        """Everything known of ``key`` over the window at ``at``: the store's copy, what this sandbox wrote since it
        was read, and what it has not written yet (the first two summed once per change, not per call)."""
        at = self.clock() if at is None else at
        self._maybe_refresh(at)
        buckets = self.settings.window_buckets(at)
        window = set(buckets)
        with self._lock:
            self._interest[key] = at
            version = (self._shared_version, buckets[0])
            cached = self._shared_totals.get(key)
            if cached is None or cached[0] != version:
                shared: Stats = {}
                for (item_key, _, bucket), stats in self._items.items():
                    if item_key == key and bucket in window:
                        health_stats.add_into(shared, stats)
                for _, item_key, bucket, stats in self._unseen:
                    if item_key == key and bucket in window:
                        health_stats.add_into(shared, stats)
                cached = self._shared_totals[key] = (version, shared)
            total = dict(cached[1])
            for bucket, stats in self._pending.get(key, {}).items():
                if bucket in window:
                    health_stats.add_into(total, stats)
        return total

    def figures(self, health_key: str) -> HealthFigures | None:
        at = self.clock()
        version = (self._shared_version, self.settings.bucket(at), self._key_versions.get(health_key, 0))
        memo = self._figures.get(health_key)
        fresh = self.store is None or self._read_at + self.settings.cache_seconds > at  # else: time to ask the store
        if memo is not None and memo[0] == version and fresh:
            self._interest[health_key] = at
            return memo[1]
        figures = self._figures_of(self.totals(health_key, at))
        self._figures[health_key] = (version, figures)
        return figures

    def _figures_of(self, stats: Stats) -> HealthFigures | None:
        if not stats.get("c"):
            return None
        generation_ms = stats.get("om", 0.0)
        return HealthFigures(
            calls=int(stats.get("c", 0)),
            failures=int(stats.get("f", 0)),
            throttles=int(stats.get("ft", 0)),
            slow_calls=int(stats.get("s", 0)),
            p50_ms=health_stats.quantile(stats, "l", 0.5),
            p99_ms=health_stats.quantile(stats, "l", 0.99),
            ttft_p50_ms=health_stats.quantile(stats, "t", 0.5),
            output_tokens_per_second=round(stats.get("ot", 0.0) * 1000 / generation_ms, 1) if generation_ms else None,
            window_seconds=self.settings.window_seconds,
            ttft_p99_ms=health_stats.quantile(stats, "t", 0.99),
            failures_by_kind={kind: int(stats[name]) for kind, name in KINDS.items() if stats.get(name)},
        )

    def wait(self, timeout: float = 5.0) -> None:
        """Let queued writes and reads finish (tests; a sandbox known to be ending)."""
        if self._executor is not None:
            self._executor.submit(lambda: None).result(timeout=timeout)


TTL_MARGIN_SECONDS = 3600  # items stay an hour past their window (for a look in the table), then TTL removes them
KINDS = {**health_stats.KIND_ATTRIBUTES, "other": "fx"}
