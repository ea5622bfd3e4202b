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
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from fmgateway.health import stats as health_stats
from fmgateway.health.stats import Stats

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
        measured = sum(n for name, n in window.items() if name[0] == "l" and name[1:].isdigit())
        p95 = health_stats.quantile(window, "l", 0.95) if measured >= self.minimum_calls else None
        return None if p95 is None else max(self.floor_ms, self.p95_multiple * p95)


def provisional(caller: str | None, sign: int = 1) -> Stats:
    """A slow call counted while in flight (``sign=-1``: taken back when it ends)."""
    stats: Stats = {"c": sign, "s": sign}
    if caller:
        stats[f"n{health_stats.key_slot(caller)}"] = sign
    return stats


class Call:
    __slots__ = ("caller", "counted_bucket", "key", "started")

    def __init__(self, key: str, started: float, caller: str | None):
        self.key, self.started, self.caller = key, started, caller
        self.counted_bucket: int | None = None  # the bucket its provisional slow count went to


class InFlightCalls:
    """The calls of this sandbox that have started and not ended; ``overdue`` finds those past their threshold."""

    def __init__(self) -> None:
        self._calls: dict[int, Call] = {}
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._last_sweep = float("-inf")

    def start(self, key: str, at: float, caller: str | None) -> int:
        token = next(self._tokens)
        with self._lock:
            self._calls[token] = Call(key, at, caller)
        return token

    def end(self, token: int) -> Call | None:
        with self._lock:
            return self._calls.pop(token, None)

    def overdue(self, at: float, threshold_ms: Callable[[str], float | None], force: bool = False) -> list[Call]:
        """Calls not yet counted whose time in flight has reached their model's threshold, marked as counted by the
        caller (which records them); looked for at most every ``SWEEP_INTERVAL_SECONDS`` unless ``force``."""
        with self._lock:
            if not self._calls or (not force and at - self._last_sweep < SWEEP_INTERVAL_SECONDS):
                return []
            self._last_sweep = at
            waiting = [call for call in self._calls.values() if call.counted_bucket is None]
        thresholds: dict[str, float | None] = {}
        found = []
        for call in waiting:
            if call.key not in thresholds:
                thresholds[call.key] = threshold_ms(call.key)
            limit = thresholds[call.key]
            if limit is not None and (at - call.started) * 1000 >= limit:
                found.append(call)
        return found

    def __len__(self) -> int:
        return len(self._calls)
