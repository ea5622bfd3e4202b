"""API Gateway's usage plans, on one machine: the API keys bound to the config's ``plans``, each key's throttle
(rate/burst token bucket) and daily quota, the stage's throttle, and the plain ``x-api-key`` check (403 for a key in
no plan); a refusal is 403 or 429 with ``Retry-After``."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """``rate`` requests a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may pass, else the seconds until one may."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class UsagePlans:
    """API keys bound to the config's usage plans: throttle and daily quota per key."""

    def __init__(self, plans: dict, keys: dict[str, str], stage: dict | None):
        self.plans, self.keys = plans, keys
        self.buckets = {key: TokenBucket(plans[plan]["rateLimit"], plans[plan]["burstLimit"]) for key, plan in keys.items()}
        self.stage = TokenBucket(stage["rateLimit"], stage["burstLimit"]) if stage else None
        self.used: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def check(self, key: str | None) -> tuple[int, str, str, dict] | None:
        """None if the request may pass, else (status, code, message, headers)."""
        if key is None or key not in self.keys:
            return 403, "forbidden", "Forbidden: a valid x-api-key header is required", {}
        if self.stage and (wait := self.stage.take()):
            return 429, "throttled", "Too Many Requests", {"Retry-After": str(max(1, round(wait + 0.5)))}
        if wait := self.buckets[key].take():
            return 429, "throttled", "Too Many Requests", {"Retry-After": str(max(1, round(wait + 0.5)))}
        day = time.strftime("%Y-%m-%d", time.gmtime())
        with self.lock:
            used = self.used.get((key, day), 0) + 1
            self.used[(key, day)] = used
        if used > self.plans[self.keys[key]]["quotaPerDay"]:
            return 429, "quota_exceeded", "Limit Exceeded: daily quota used up", {"Retry-After": "3600"}
        return None
