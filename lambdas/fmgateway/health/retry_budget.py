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


class RetryBudget:
    """Calls and retries of the last ``WINDOW_SECONDS`` in one-second buckets, per sandbox (one per process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._calls = [0] * WINDOW_SECONDS
        self._retries = [0] * WINDOW_SECONDS
        self._second = int(clock())

    def _roll(self) -> int:
        now = int(self._clock())
        if now - self._second >= WINDOW_SECONDS:
            self._calls = [0] * WINDOW_SECONDS
            self._retries = [0] * WINDOW_SECONDS
        else:
            for second in range(self._second + 1, now + 1):
                self._calls[second % WINDOW_SECONDS] = self._retries[second % WINDOW_SECONDS] = 0
        self._second = max(self._second, now)
        return now % WINDOW_SECONDS

    def record_call(self) -> None:
        """A first call of a candidate (not a retry)."""
        with self._lock:
            self._calls[self._roll()] += 1

    def try_spend(self, settings: Mapping[str, Any]) -> bool:
        """Take one retry if the budget has room; ``False`` means: do not retry."""
        ratio = float(settings.get("budgetRatio", DEFAULT_BUDGET_RATIO))
        floor = float(settings.get("minRetriesPerSecond", DEFAULT_MIN_RETRIES_PER_SECOND)) * WINDOW_SECONDS
        with self._lock:
            bucket = self._roll()
            if sum(self._retries) + 1 > max(floor, ratio * sum(self._calls)):
                return False
            self._retries[bucket] += 1
            return True

    def figures(self) -> dict[str, int]:
        with self._lock:
            self._roll()
            return {"calls": sum(self._calls), "retries": sum(self._retries), "windowSeconds": WINDOW_SECONDS}


def backoff_seconds(retry: int, settings: Mapping[str, Any], rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(max, base * 2^(retry-1))], ``retry`` counting from 1."""
    base = float(settings.get("baseDelayMs", DEFAULT_BASE_DELAY_MS)) / 1000
    cap = float(settings.get("maxDelayMs", DEFAULT_MAX_DELAY_MS)) / 1000
    return (rng or random).uniform(0, min(cap, base * 2 ** (retry - 1)))
