"""This sandbox's model calls in flight, so that slowness counts while the slow calls are still waiting.

A call in flight longer than its slow threshold is counted at once as a provisional slow call (``c`` and ``s``, and
its key slot's ``n``) in the bucket of the moment it crossed the threshold; the monitor flushes it with the rest, so
every sandbox's breaker sees it within a flush interval. When the call ends, the provisional count is taken back from
that same bucket and the call's real outcome is recorded as usual (a timeout as a failure, a late answer as a slow
success), so each call counts once in the window: in flight where it crossed, then where it ended.

The threshold (``SlowThreshold``): ``circuitBreaker.slowCallMs`` when set; otherwise ``slowCallP95Multiple`` (default
4) times the model's recent p95 latency, never under ``slowCallFloorMs`` (default 2,000 ms), and only once the window
holds ``minimumCalls`` measured calls (a model with no history has no known normal, so nothing is slow yet).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from fmgateway.health import stats as health_stats
from fmgateway.health.stats import Stats
from fmgateway.health.store import FINAL_AFTER_FLUSHES

log = logging.getLogger(__name__)

DEFAULT_P95_MULTIPLE = 4.0
DEFAULT_FLOOR_MS = 2000.0
SWEEP_INTERVAL_SECONDS = 0.25  # how often admissions look for calls that crossed their threshold


class SlowThreshold(NamedTuple):
    fixed_ms: float | None = None  # slowCallMs
    p95_multiple: float = DEFAULT_P95_MULTIPLE  # 0: no derived threshold
    floor_ms: float = DEFAULT_FLOOR_MS
    minimum_calls: int = 20

    @classmethod
    def from_breaker(cls, cfg: Mapping[str, Any]) -> SlowThreshold:
        return cls(
            fixed_ms=cfg.get("slowCallMs"),
            p95_multiple=float(cfg.get("slowCallP95Multiple", DEFAULT_P95_MULTIPLE)),
            floor_ms=float(cfg.get("slowCallFloorMs", DEFAULT_FLOOR_MS)),
            minimum_calls=int(cfg.get("minimumCalls", 20)),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.fixed_ms) or self.p95_multiple > 0

    def ms(self, window: Stats) -> float | None:
        """The threshold for a model whose window statistics are ``window``; ``None``: nothing counts as slow."""
        if self.fixed_ms:
            return float(self.fixed_ms)
        if self.p95_multiple <= 0:
            return None
        p95 = health_stats.measured_quantile(window, 0.95, self.minimum_calls)
        return None if p95 is None else max(self.floor_ms, self.p95_multiple * p95)


def provisional(caller: str | None, sign: int = 1) -> Stats:
    """A slow call counted while in flight (``sign=-1``: taken back when it ends)."""
    stats: Stats = {"c": sign, "s": sign}
    if caller:
        stats[f"n{health_stats.key_slot(caller)}"] = sign
    return stats


class Call:
    __slots__ = ("caller", "counted_bucket", "deadline", "key", "started")

    def __init__(self, key: str, started: float, caller: str | None, deadline: float | None):
        self.key, self.started, self.caller, self.deadline = key, started, caller, deadline
        self.counted_bucket: int | None = None  # the bucket its provisional slow count went to


class InFlightCalls:
    """The calls of this sandbox that have started and not ended, each with the time at which it becomes slow (its
    model's threshold when it started; ``None``: never). ``overdue`` hands out those past it, once each."""

    def __init__(self) -> None:
        self._calls: dict[int, Call] = {}
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._last_sweep = float("-inf")
        self.changed = threading.Condition(self._lock)  # a watcher waits on it for the next deadline

    def start(self, key: str, at: float, caller: str | None, threshold_ms: float | None) -> int:
        token = next(self._tokens)
        deadline = None if threshold_ms is None else at + threshold_ms / 1000
        with self._lock:
            self._calls[token] = Call(key, at, caller, deadline)
            if deadline is not None:
                self.changed.notify_all()
        return token

    def end(self, token: int) -> Call | None:
        with self._lock:
            return self._calls.pop(token, None)

    def next_deadline(self) -> float | None:
        """The earliest time a call not yet counted becomes slow (call it holding ``changed``)."""
        deadlines = [call.deadline for call in self._calls.values() if call.deadline is not None and call.counted_bucket is None]
        return min(deadlines, default=None)

    def overdue(self, at: float, bucket: Callable[[float], int], force: bool = False) -> list[Call]:
        """Calls past their deadline and not yet counted, marked as counted in ``bucket(at)``; looked for at most
        every ``SWEEP_INTERVAL_SECONDS`` unless ``force``."""
        with self._lock:
            if not self._calls or (not force and at - self._last_sweep < SWEEP_INTERVAL_SECONDS):
                return []
            self._last_sweep = at
            found = [c for c in self._calls.values() if c.counted_bucket is None and c.deadline is not None and at >= c.deadline]
            for call in found:
                call.counted_bucket = bucket(at)
        return found

    def __len__(self) -> int:
        return len(self._calls)


class Recorder(Protocol):
    """What the watch needs of the health monitor (``HealthMonitor`` is one)."""

    clock: Callable[[], float]

    @property
    def settings(self) -> Any: ...

    def configure(self, cfg: Mapping[str, Any]) -> Any: ...

    def slow_threshold_ms(self, key: str, at: float | None = None) -> float | None: ...

    def record(self, key: str, at: float, stats: Stats, bucket: int | None = None) -> None: ...


class SlowCallWatch:
    """A sandbox's calls in flight, counted slow when they pass their model's threshold: by a watcher thread (``watch``,
    Lambda and local mode: a Lambda sandbox serves one request at a time, so while its call waits nothing else happens
    there), or by ``sweep`` (admissions, tests). ``listeners`` (the breaker) judge the models that got new counts."""

    def __init__(self, recorder: Recorder, watch: bool = False):
        self.recorder = recorder
        self.calls = InFlightCalls()
        self.listeners: list[Callable[[str, Mapping[str, Any]], None]] = []
        self._cfg: Mapping[str, Any] = {}
        self._watch = watch
        self._watcher: threading.Thread | None = None

    def start(self, key: str, cfg: Mapping[str, Any], caller: str | None = None) -> int:
        recorder = self.recorder
        recorder.configure(cfg)
        self._cfg = cfg
        at = recorder.clock()
        token = self.calls.start(key, at, caller, recorder.slow_threshold_ms(key, at))
        if self._watch and self._watcher is None:
            self._start_watcher()
        return token

    def end(self, token: int) -> None:
        """The provisional slow count of a call that got one is taken back: from the bucket it went to while other
        sandboxes may still re-read that bucket, else from the current one."""
        call = self.calls.end(token)
        if call is None or call.counted_bucket is None:
            return
        at, settings = self.recorder.clock(), self.recorder.settings
        final_before = at - settings.bucket_seconds - FINAL_AFTER_FLUSHES * settings.flush_interval_seconds
        bucket = None if call.counted_bucket < final_before else call.counted_bucket
        self.recorder.record(call.key, at, provisional(call.caller, -1), bucket=bucket)

    def sweep(self, cfg: Mapping[str, Any] | None = None, at: float | None = None, force: bool = False) -> list[str]:
        """Count the overdue calls and tell the listeners; returns the keys that got new counts."""
        recorder = self.recorder
        if cfg is not None:
            recorder.configure(cfg)
            self._cfg = cfg
        at = recorder.clock() if at is None else at
        overdue = self.calls.overdue(at, recorder.settings.bucket, force)
        for call in overdue:
            recorder.record(call.key, at, provisional(call.caller), bucket=call.counted_bucket)
        keys = sorted({call.key for call in overdue})
        for key in keys:
            for listener in list(self.listeners):
                listener(key, self._cfg)
        return keys

    def _start_watcher(self) -> None:
        with self.calls.changed:
            if self._watcher is not None:
                return
            self._watcher = threading.Thread(target=self._run_watcher, name="health-in-flight", daemon=True)
        self._watcher.start()

    def _run_watcher(self) -> None:
        """Sleep until the earliest deadline of a call in flight, then count what is overdue."""
        changed = self.calls.changed
        while True:
            with changed:
                deadline = self.calls.next_deadline()
                wait = None if deadline is None else deadline - self.recorder.clock()
                if wait is None or wait > 0:
                    changed.wait(wait)
                    continue
            try:
                self.sweep(force=True)
            except Exception:  # advisory: a failed sweep must not stop the watcher
                log.exception("in-flight sweep failed")
