"""Hedged requests (issue 30, opt-in per tier: ``tierStrategies.<tier>.hedge``).

When the current candidate has not answered (a stream: has not sent its first token) after ``afterMs`` (fixed, or
``"p95"``: the candidate's recent p95 latency, once it has ``minimumCalls`` measured calls), the loop starts the next
candidate of the plan as well, if its breaker admits it and the sandbox's ``HedgeBudget`` allows, and takes whichever
answers first. The other call is abandoned: a stream is closed (which stops the upstream read), a Converse answer is
discarded when it arrives and its cost reported then (``Gateway.on_abandoned``). Both calls are recorded honestly in
the health window: the winner as usual, the abandoned one by its own outcome if it answers (a late answer is a slow
success) and as a slow call if it fails after it was abandoned, never as a failure. The attempts of the answer name
both: the abandoned call with the outcome ``abandoned``, the winner with ``ok``.

The state machine's path does not hedge: each Invoke state is one Lambda task call of one candidate, and a Parallel
state waits for all its branches, so there is no way to take the first answer and drop the other.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from fmgateway.health.breaker import PROBE
from fmgateway.health.retry_budget import WINDOW_SECONDS, SlidingCounts
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import GatewayError, InvocationError
from fmgateway.values.exchange import Attempt

log = logging.getLogger(__name__)
DEFAULT_BUDGET_SHARE = 0.05
MAX_WORKERS = 256  # threads are made as needed; a Lambda sandbox serves one request at a time, local mode many


class HedgeSettings(NamedTuple):
    after_ms: float | str  # a number, or "p95"
    budget_share: float = DEFAULT_BUDGET_SHARE

    @classmethod
    def for_tier(cls, raw_config: Mapping[str, Any], tier: str | None) -> HedgeSettings | None:
        hedge = ((raw_config.get("tierStrategies") or {}).get(tier or "") or {}).get("hedge")
        if not hedge:
            return None
        return cls(hedge["afterMs"], float(hedge.get("budgetShare", DEFAULT_BUDGET_SHARE)))


class HedgeBudget:
    """Hedges of the last ``WINDOW_SECONDS`` at most ``share`` of the requests that could hedge (plus one), per
    sandbox: a general slowdown cannot double the bill."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._counts = SlidingCounts("requests", "hedges", clock=clock)

    def record_request(self) -> None:
        self._counts.add("requests")

    def try_spend(self, share: float) -> bool:
        return self._counts.take("hedges", lambda: share * self._counts.total("requests") + 1)

    def figures(self) -> dict[str, int]:
        counts = self._counts
        return {"requests": counts.total("requests"), "hedges": counts.total("hedges"), "windowSeconds": WINDOW_SECONDS}


class HedgeWon(NamedTuple):
    """The race's answer: who answered, with what, and both attempts."""

    candidate: Candidate
    decision: str
    response: Any
    attempts: list[Attempt]


class BothFailed(Exception):
    """The hedged pair both failed: ``error`` is the first candidate's (the loop records it as usual), the second
    candidate's failure is already recorded and is ``attempt``."""

    def __init__(self, error: InvocationError, attempt: Attempt):
        super().__init__(error.message)
        self.error, self.attempt = error, attempt


_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="hedge")
        return _executor


def after_seconds(settings: HedgeSettings, p95_ms: float | None) -> float | None:
    """When to hedge, or ``None`` (``"p95"`` with no history yet)."""
    if settings.after_ms == "p95":
        return None if p95_ms is None else p95_ms / 1000
    return float(settings.after_ms) / 1000


def race(
    gateway: Any,
    prepared: Any,
    first: Candidate,
    first_decision: str,
    second: Candidate,
    step: Any,
    record_success: bool,
    after: float,
    budget_share: float | None,
) -> Any:
    """Call ``first``; if it has not answered after ``after`` seconds, call ``second`` too (if admitted and within the
    budget, unless ``budget_share`` is ``None``) and return the first answer. Without a hedge this returns or raises
    exactly what ``gateway.invoke`` does; with one it returns ``HedgeWon``, or raises ``BothFailed`` (or the first
    call's ``GatewayError``)."""
    config, caller = prepared.config, prepared.request.caller
    started = time.perf_counter()
    pool = executor()
    primary = pool.submit(gateway.invoke, prepared, first, first_decision, step, record_success)
    try:
        return primary.result(timeout=after)
    except concurrent.futures.TimeoutError:
        pass
    decision = gateway.admit(second, config)
    if decision == "skip" or (budget_share is not None and not gateway.hedge_budget.try_spend(budget_share)):
        if decision == "probe":
            gateway.breaker.release(second.breaker_key, config.breaker)
        return primary.result()
    hedged_at = time.perf_counter()
    backup = pool.submit(gateway.invoke, prepared, second, decision, step, record_success)
    calls = {primary: (first, first_decision, started), backup: (second, decision, hedged_at)}
    pending = set(calls)
    failures: dict[concurrent.futures.Future, BaseException] = {}
    while pending:
        done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            error = future.exception()
            if error is None:
                winner, winner_decision, winner_started = calls[future]
                now = time.perf_counter()
                attempts = []
                for other in calls:
                    candidate, other_decision, other_started = calls[other]
                    if other is future:
                        continue
                    if other in failures:
                        failed = failures[other]
                        code = failed.code if isinstance(failed, InvocationError) else type(failed).__name__
                        kind = failed.kind if isinstance(failed, InvocationError) else "model_error"
                        attempts.append(Attempt(candidate.alias, kind, code, (now - other_started) * 1000))
                    else:
                        attempts.append(Attempt(candidate.alias, "abandoned", "hedged", (now - other_started) * 1000))
                        other.add_done_callback(_abandoned(gateway, prepared, candidate, other_decision, other_started))
                attempts.append(Attempt(winner.alias, "ok", None, (now - winner_started) * 1000))
                if winner is first:  # the primary answered first: the hedge is the abandoned one (listed after)
                    attempts.reverse()
                return HedgeWon(winner, winner_decision, future.result(), attempts)
            failures[future] = error
    # both failed: the primary's error goes back to the loop; the hedge's is recorded here
    first_error, second_error = failures[primary], failures[backup]
    if isinstance(second_error, InvocationError) and second_error.transient:
        gateway.record_failure(second, config, kind=second_error.kind, caller=caller)
    elif decision == "probe":
        gateway.breaker.release(second.breaker_key, config.breaker)
    second_code = second_error.code if isinstance(second_error, InvocationError) else type(second_error).__name__
    second_kind = second_error.kind if isinstance(second_error, InvocationError) else "model_error"
    attempt = Attempt(second.alias, second_kind, second_code, (time.perf_counter() - hedged_at) * 1000)
    if isinstance(first_error, InvocationError):
        raise BothFailed(first_error, attempt)
    raise first_error  # a GatewayError of the first call: the request's fault, answered as it is


def _abandoned(gateway: Any, prepared: Any, candidate: Candidate, decision: str, started: float) -> Callable[[Any], None]:
    """What happens to the abandoned call when it ends: a stream is closed at once; a Converse answer's cost is reported;
    a failure is recorded as a slow call, not a failed one (it was given up on, not judged)."""
    config, caller = prepared.config, prepared.request.caller

    def ended(future: concurrent.futures.Future) -> None:
        try:
            error = future.exception()
            if error is not None:
                if isinstance(error, (InvocationError, GatewayError)):
                    gateway.health.record_slow(candidate.health_key, config.breaker, caller)
                if decision == "probe":
                    gateway.breaker.release(candidate.breaker_key, config.breaker)
                return
            response = future.result()
            upstream = getattr(response, "upstream", None)  # a started stream (``core.streaming.Opened``)
            if upstream is not None:  # stop the upstream read; its first token did answer
                close = getattr(upstream, "close", None)
                if close is not None:
                    close()
                ms = (time.perf_counter() - started) * 1000
                gateway.record_success(candidate, config, latency_ms=ms, ttft_ms=ms, caller=caller)
            elif isinstance(response, dict):
                gateway.on_abandoned(candidate, candidate.model.usage_cost(response.get("usage") or {}))
        except Exception:  # bookkeeping of an answer nobody waits for must never raise in the pool
            log.exception("abandoned hedge bookkeeping failed")

    return ended


def race_plan(health: Any, hedge: HedgeSettings | None, candidate: Candidate, decision: str) -> tuple[float | None, float | None]:
    """After how many seconds ``candidate``'s call is raced by the next candidate, and the hedge budget's share
    (``None``: exempt), or ``(None, None)``. A half-open probe is never waited for past its model's slow threshold: a
    slower probe says the model is not fast again, and the request moves on, outside the budget (at most
    ``halfOpenMaxProbes`` probes per cooldown). ``health``: the gateway's health monitor."""
    after = None
    if hedge is not None:
        p95 = health.latency_quantile(candidate.health_key, 0.95) if hedge.after_ms == "p95" else None
        after = after_seconds(hedge, p95)
    if decision == PROBE and (threshold_ms := health.slow_threshold_ms(candidate.health_key)) is not None:
        return min(threshold_ms / 1000, after if after is not None else float("inf")), None
    return after, (hedge.budget_share if hedge is not None else None)
