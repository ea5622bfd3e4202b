"""Same-model retries, in the gateway's hands (issue 14, README "Throttling").

A throttle is a routing signal: while a later candidate of the plan is healthy, the loop moves to it at once.
Only the last healthy candidate is retried, with a short full-jitter backoff, and only while the sandbox's
``RetryBudget`` allows: retries may be at most ``budgetRatio`` of the calls of the last ``WINDOW_SECONDS``
(plus a small floor of ``minRetriesPerSecond`` so that a quiet sandbox can still retry), so that during an
outage retries add at most that share of load instead of multiplying it. botocore makes one attempt per call.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

WINDOW_SECONDS = 10
DEFAULT_BUDGET_RATIO = 0.1
DEFAULT_MIN_RETRIES_PER_SECOND = 1.0
DEFAULT_BASE_DELAY_MS = 25
DEFAULT_MAX_DELAY_MS = 250
RETRIED_KINDS = frozenset({"throttled", "unavailable"})  # a timeout or model error moves to the next model instead


class SlidingCounts:
    """Named counts of the last ``WINDOW_SECONDS`` in one-second buckets, per sandbox (the retry and hedge budgets).
    ``take`` checks and adds under one lock."""

    def __init__(self, *names: str, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.lock = threading.RLock()
        self._counts = {name: [0] * WINDOW_SECONDS for name in names}
        self._second = int(clock())

    def _roll(self) -> int:
        now = int(self._clock())
        if now - self._second >= WINDOW_SECONDS:
            for buckets in self._counts.values():
                buckets[:] = [0] * WINDOW_SECONDS
        else:
            for second in range(self._second + 1, now + 1):
                for buckets in self._counts.values():
                    buckets[second % WINDOW_SECONDS] = 0
        self._second = max(self._second, now)
        return now % WINDOW_SECONDS

    def add(self, name: str) -> None:
        with self.lock:
            self._counts[name][self._roll()] += 1

    def total(self, name: str) -> int:
        with self.lock:
            self._roll()
            return sum(self._counts[name])

    def take(self, name: str, limit: Callable[[], float]) -> bool:
        """Add one to ``name`` if its window total stays within ``limit()`` (read under the same lock)."""
        with self.lock:
            if self.total(name) + 1 > limit():
                return False
            self.add(name)
            return True


class RetryBudget:
    """Calls and retries of the last ``WINDOW_SECONDS``, per sandbox (one per process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._counts = SlidingCounts("calls", "retries", clock=clock)

    def record_call(self) -> None:
        """A first call of a candidate (not a retry)."""
        self._counts.add("calls")

    def try_spend(self, settings: Mapping[str, Any]) -> bool:
        """Take one retry if the budget has room; ``False`` means: do not retry."""
        ratio = float(settings.get("budgetRatio", DEFAULT_BUDGET_RATIO))
        floor = float(settings.get("minRetriesPerSecond", DEFAULT_MIN_RETRIES_PER_SECOND)) * WINDOW_SECONDS
        return self._counts.take("retries", lambda: max(floor, ratio * self._counts.total("calls")))

    def figures(self) -> dict[str, int]:
        counts = self._counts
        return {"calls": counts.total("calls"), "retries": counts.total("retries"), "windowSeconds": WINDOW_SECONDS}


def backoff_seconds(retry: int, settings: Mapping[str, Any], rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(max, base * 2^(retry-1))], ``retry`` counting from 1."""
    base = float(settings.get("baseDelayMs", DEFAULT_BASE_DELAY_MS)) / 1000
    cap = float(settings.get("maxDelayMs", DEFAULT_MAX_DELAY_MS)) / 1000
    return (rng or random).uniform(0, min(cap, base * 2 ** (retry - 1)))
