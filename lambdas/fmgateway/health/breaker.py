"""Circuit breaker shared across Lambdas (DESIGN.md "Circuit breaker").

The rules are pure functions over a ``BreakerState`` so that the Python executor, the Step Functions
executor and the tests share one scenario table. ``CircuitBreaker`` applies them against a
``BreakerStore`` with compare-and-set writes (atomic conditional updates in DynamoDB) and keeps a
short-lived in-memory copy so a healthy request reads at most once per ``stateCacheSeconds`` and never
writes.

Outcomes are recorded in the live health window (``fmgateway.health.monitor.HealthMonitor``), not on the breaker item: CLOSED
opens on the failure (or slow-call) rate of that window with a minimum number of calls and a per-key cap, so the item
is written once per transition, never once per failure.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from fmgateway.health.figures import HealthEvents
from fmgateway.health.in_flight import SlowThreshold
from fmgateway.health.monitor import HealthMonitor
from fmgateway.health.stats import Counts
from fmgateway.values.ports import BreakerStore

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "CLOSED", "OPEN", "HALF_OPEN"
DEFAULT_SLOW_RATE_THRESHOLD = 80  # percent of a stretch's calls slower than their threshold
DEFAULT_RATE_CONFIDENCE = 95  # percent: how sure the rule must be that a rate is at or over its threshold
ALLOW, PROBE, SKIP = "allow", "probe", "skip"


class BreakerState(NamedTuple):
    state: str = CLOSED
    failures: int = 0
    windowStart: float = 0.0
    openUntil: float = 0.0
    probes: int = 0
    probeLeaseUntil: float = 0.0
    successes: int = 0
    calls: int = 0  # calls of the stretch that opened it (with ``failures``): what the rule saw

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> BreakerState:
        if not record:
            return cls()
        return cls(**{name: record[name] for name in cls._fields if name in record})

    def to_record(self) -> dict[str, Any]:
        return self._asdict()


# ---- the rules ---------------------------------------------------------------------------------------


def admit(s: BreakerState, now: float, cfg: dict) -> tuple[str, BreakerState | None]:
    """May a request go to this model? Returns the decision and the new state to write, if any."""
    if s.state == CLOSED:
        return ALLOW, None
    lease = now + cfg.get("probeLeaseSeconds", 30)
    if s.state == OPEN:
        if now < s.openUntil:
            return SKIP, None
        return PROBE, s._replace(state=HALF_OPEN, probes=1, successes=0, probeLeaseUntil=lease)
    # HALF_OPEN: a limited number of probes at a time; a probe that never reported back frees its slot
    # when its lease runs out, so a crashed Lambda cannot wedge the breaker half-open.
    if now >= s.probeLeaseUntil:
        return PROBE, s._replace(probes=1, probeLeaseUntil=lease)
    if s.probes < cfg["halfOpenMaxProbes"]:
        return PROBE, s._replace(probes=s.probes + 1, probeLeaseUntil=lease)
    return SKIP, None


def on_success(s: BreakerState, now: float, cfg: dict) -> BreakerState | None:
    if s.state != HALF_OPEN:
        return None  # healthy path: nothing to write
    successes = s.successes + 1
    if successes >= cfg["successesToClose"]:
        return BreakerState(windowStart=now)  # closed, with a fresh window: what made it open no longer counts
    return s._replace(successes=successes, probes=max(0, s.probes - 1))


def on_release(s: BreakerState, now: float, cfg: dict) -> BreakerState | None:
    """A probe ended without telling anything about the model's health (request invalid, out of time)."""
    if s.state != HALF_OPEN or s.probes == 0:
        return None
    return s._replace(probes=s.probes - 1)


def z_score(confidence: float) -> float:
    """The one-sided standard normal quantile of ``confidence`` percent (50 -> 0, 95 -> 1.645), by bisection on
    ``math.erfc``: ``statistics.NormalDist`` costs 14 ms of import on the request path for one number per setting."""
    return _z_scores.get(confidence) or _z_scores.setdefault(confidence, _bisect_z(confidence / 100))


def _bisect_z(share: float) -> float:
    low, high = 0.0, 10.0
    for _ in range(60):
        middle = (low + high) / 2
        if 1 - 0.5 * math.erfc(middle / math.sqrt(2)) < share:
            low = middle
        else:
            high = middle
    return low


_z_scores: dict[float, float] = {50: 0.0}


def rate_reached(hits: float, calls: float, threshold: float, z: float) -> bool:
    """Is the true rate of ``hits`` in ``calls`` at or over ``threshold`` percent, with confidence ``z``? The Wilson
    score lower bound of the observed rate must reach the threshold (``z`` 0: the observed rate itself). A stretch in
    which every call failed always does: that is an outage, whatever its size."""
    if calls <= 0:
        return False
    if hits >= calls:
        return True
    if z == 0:
        return hits * 100 >= threshold * calls
    rate, spread = hits / calls, z * z / calls
    lower = (rate + spread / 2 - z * math.sqrt(rate * (1 - rate) / calls + spread / (4 * calls))) / (1 + spread)
    return lower * 100 >= threshold


def trips(recent: Sequence[Counts], cfg: dict) -> Counts | None:
    """The rate rule: the first stretch of recent time (the newest bucket, the two newest, ... the whole window) with at
    least ``minimumCalls`` calls whose failure rate reaches ``failureRateThreshold`` percent, or whose slow-call rate
    reaches ``slowCallRateThreshold`` percent (default 80) while a slow threshold applies (``in_flight.SlowThreshold``:
    ``slowCallMs``, or a multiple of the model's p95, on by default). Judging the recent stretches too means a sudden
    outage is seen within a bucket, not after half a window of healthy history has aged out.

    "Reaches" is judged with ``rateConfidence`` percent (default 95; 50: the observed rate as it is), because the rule
    looks at several stretches after every failure: with the observed rate alone, a model failing 30 % of its calls
    (throttled, say) opened a 50 % breaker in over a quarter of 10-second runs at 40 calls per second."""
    minimum, threshold = cfg["minimumCalls"], cfg["failureRateThreshold"]
    z = z_score(float(cfg.get("rateConfidence", DEFAULT_RATE_CONFIDENCE)))
    slow_on = SlowThreshold.from_breaker(cfg).enabled
    slow_threshold = cfg.get("slowCallRateThreshold", DEFAULT_SLOW_RATE_THRESHOLD) if slow_on else None
    for counts in recent:
        if counts.calls < minimum:
            continue
        if rate_reached(counts.failures, counts.calls, threshold, z):
            return counts
        if slow_threshold is not None and rate_reached(counts.slow, counts.calls, slow_threshold, z):
            return counts
    return None


def on_failure(s: BreakerState, now: float, cfg: dict, recent: Sequence[Counts] = ()) -> BreakerState | None:
    """A failure (or a slow call) was recorded in the health window; ``recent``: the window's counts (``trips``).
    CLOSED writes only when the rule trips (one transition), never per failure; a failed probe reopens at once."""
    if s.state == HALF_OPEN:
        return BreakerState(state=OPEN, openUntil=now + cfg["cooldownSeconds"])
    if s.state == OPEN:
        return None
    hit = trips(recent, cfg)
    if hit is None:
        return None
    return BreakerState(state=OPEN, openUntil=now + cfg["cooldownSeconds"], failures=round(hit.failures), calls=round(hit.calls))


# ---- the executor ------------------------------------------------------------------------------------


STALE_FACTOR = 5  # with background refresh, serve a copy up to this many cache periods old while refreshing


class CircuitBreaker:
    """Applies the rules against a shared store.

    With ``background_refresh`` a copy older than ``stateCacheSeconds`` is still used while a background
    thread re-reads it, so no request waits for the store on the healthy path; a copy older than
    ``STALE_FACTOR`` periods (an idle sandbox) is re-read first. Writes stay conditional on the version
    read, so a decision taken on a stale copy can never overwrite a newer state: it is re-read and
    re-decided.
    """

    def __init__(
        self,
        store: BreakerStore,
        clock: Callable[[], float] = time.time,
        max_cas_attempts: int = 4,
        background_refresh: bool = False,
        health: HealthMonitor | None = None,
    ):
        """``health``: where outcomes are recorded and the rate rule reads its window (default: this process's calls
        only, in memory)."""
        self.store = store
        self.clock = clock
        self.health = health if health is not None else HealthMonitor(clock=clock)
        self.health.on_slow_in_flight(self._judge_slow)
        self.max_cas_attempts = max_cas_attempts
        self._cache: dict[str, tuple[BreakerState, int, float]] = {}
        self._lock = threading.Lock()
        self._refreshing: set[str] = set()
        self._executor = None
        if background_refresh:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="breaker-refresh")

    def _fetch(self, key: str) -> tuple[BreakerState, int]:
        now = self.clock()
        record, version = self.store.get(key)
        state = BreakerState.from_record(record)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or cached[1] <= version:  # never replace a newer copy with an older read
                self._cache[key] = (state, version, now)
        return state, version

    def _refresh(self, key: str) -> None:
        try:
            self._fetch(key)
        except Exception:  # the next synchronous read will surface it
            pass
        finally:
            self._refreshing.discard(key)

    def _read(self, key: str, max_age: float) -> tuple[BreakerState, int]:
        cached = self._cache.get(key)
        if cached is not None:
            age = self.clock() - cached[2]
            if age < max_age:
                return cached[0], cached[1]
            if self._executor is not None and age < max_age * STALE_FACTOR:
                if key not in self._refreshing:
                    self._refreshing.add(key)
                    self._executor.submit(self._refresh, key)
                return cached[0], cached[1]
        return self._fetch(key)

    def _apply(
        self,
        key: str,
        cfg: dict,
        rule: Callable[[BreakerState, float], tuple[Any, BreakerState | None]],
        now: float | None = None,
    ):
        """``now``: the time the rules see (default: this process's clock; the state machine passes its own)."""
        max_age = cfg.get("stateCacheSeconds", 2)
        result = None
        for _ in range(self.max_cas_attempts):
            state, version = self._read(key, max_age)
            result, new = rule(state, self.clock() if now is None else now)
            if new is None:
                return result, False
            if self.store.put(key, new.to_record(), version):
                with self._lock:
                    self._cache[key] = (new, version + 1, self.clock())
                if new.state != state.state:
                    self.events.transition(key, state.state, new.state)
                return result, True
            max_age = 0  # someone else moved the breaker: re-read and decide again
        return result, False

    def admit(self, key: str, cfg: dict, now: float | None = None) -> str:
        self.judge_in_flight(cfg, now)
        try:
            decision, written = self._apply(key, cfg, lambda s, at: admit(s, at, cfg), now)
        except Exception:
            # The breaker protects the gateway; its store being down must not take the gateway down too.
            log.exception("breaker state unavailable; letting the request through", extra={"model": key})
            return ALLOW
        if decision == PROBE and not written:
            return SKIP  # another caller claimed the probe slot
        return decision

    def judge_in_flight(self, cfg: dict, now: float | None = None, force: bool = False) -> None:
        """Calls in flight past their slow threshold count now (``HealthMonitor.sweep_in_flight``, which the monitor's
        watcher also runs the moment one is due), and the rate rule judges their models at once (``_judge_slow``): a
        brownout opens the breaker while its slow calls are still waiting."""
        try:
            self.health.sweep_in_flight(cfg, now, force)
        except Exception:  # advisory, like every health read: never a reason to fail a request
            log.exception("in-flight sweep failed")

    def _judge_slow(self, key: str, cfg: Mapping[str, Any]) -> None:
        self._record(key, dict(cfg), self._failure_rule(key, dict(cfg)))

    def _record(self, key: str, cfg: dict, rule, now: float | None = None) -> None:
        try:
            self._apply(key, cfg, lambda s, at: (None, rule(s, at, cfg)), now)
        except Exception:  # an answer already in hand must not be lost to a failed bookkeeping write
            log.exception("breaker state update failed", extra={"model": key})

    @property
    def events(self) -> HealthEvents:
        return self.health.events

    def record_success(
        self,
        key: str,
        cfg: dict,
        now: float | None = None,
        *,
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        output_tokens: int | None = None,
        generation_ms: float | None = None,
        caller: str | None = None,
    ) -> None:
        """A call answered: recorded in the health window (in memory); a probe success may close the breaker; a slow
        call (``slowCallMs``) is judged like a failure. ``caller``: the API key id (the per-key cap's evidence that the
        model answers other keys)."""
        at = self.clock() if now is None else now
        slow = self.health.record_success(key, cfg, at, latency_ms, ttft_ms, output_tokens, generation_ms, caller)
        if slow:
            self._record(key, cfg, self._failure_rule(key, cfg), at)
        else:
            self._record(key, cfg, on_success, at)

    def record_failure(
        self, key: str, cfg: dict, now: float | None = None, *, kind: str = "unavailable", caller: str | None = None
    ) -> None:
        """A failure that counts against the model (``kind``: the invocation error's; ``caller``: the API key id, for
        the per-key cap): recorded in the health window, then the rate rule decides whether the breaker opens."""
        at = self.clock() if now is None else now
        self.health.record_failure(key, cfg, at, kind, caller)
        self._record(key, cfg, self._failure_rule(key, cfg), at)

    def _failure_rule(self, key: str, cfg: dict):
        def rule(s: BreakerState, at: float, cfg: dict) -> BreakerState | None:
            recent = self.health.recent_counts(key, cfg, at, since=s.windowStart) if s.state == CLOSED else ()
            return on_failure(s, at, cfg, recent)

        return rule

    def release(self, key: str, cfg: dict, now: float | None = None) -> None:
        """Give back a probe slot that produced no verdict on the model."""
        self._record(key, cfg, on_release, now)

    def current(self, keys: list[str], cfg: dict) -> dict[str, BreakerState]:
        """States for display, from the cache where fresh, else one batch read."""
        now = self.clock()
        max_age = cfg.get("stateCacheSeconds", 2)
        stale = [key for key in keys if key not in self._cache or now - self._cache[key][2] >= max_age]
        if stale:
            # only keys the store answered for: an unread key is unknown, not CLOSED
            for key, (record, version) in self.store.get_many(stale).items():
                with self._lock:
                    cached = self._cache.get(key)
                    if cached is None or cached[1] <= version:
                        self._cache[key] = (BreakerState.from_record(record), version, now)
        return {key: self._cache[key][0] if key in self._cache else BreakerState() for key in keys}

    def display_state(self, state: BreakerState) -> str:
        if state.state == OPEN and self.clock() >= state.openUntil:
            return HALF_OPEN  # the next request will probe
        return state.state

    def retry_after(self, keys: list[str]) -> int | None:
        """Seconds until the first of these breakers may be probed, from what this process knows."""
        now = self.clock()
        waits = [c[0].openUntil - now for key in keys if (c := self._cache.get(key)) and c[0].state == OPEN]
        waits = [wait for wait in waits if wait > 0]
        return max(1, int(min(waits)) + 1) if waits else None
