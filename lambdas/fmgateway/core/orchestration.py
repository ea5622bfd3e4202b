"""The orchestrated path's steps: what each Lambda task of ``statemachines/routing.asl.json`` runs.

Each step is one piece of the gateway's candidate loop (``Gateway.prepare``, ``admit``, ``invoke``,
``record_failure``, ``answer``, ``last_resort``), applied with the execution's clock (``$$.State.EnteredTime``)
so the breaker rules live in one place. Steps take and return plain JSON; what the state machine carries
between them is the request body, the plan, the attempts so far and the execution's start time.

Task errors are exceptions whose class names are the state machine's error names (Lambda reports the class
name as ``errorType``, which Step Functions matches in Retry and Catch): ``ModelThrottled`` (recorded, next
candidate at once: a throttle is a routing signal), ``LastCandidateThrottled`` (the plan's last candidate: retried
once by the machine with jitter, then recorded), ``ModelUnavailable``, ``ModelTimeout``, ``ModelFailed`` (recorded,
next candidate), ``BudgetExhausted`` (no time left: last resort), and the error contract's own ``InvalidRequest``,
``PayloadTooLarge`` and ``ModelError`` (answered to the caller at once).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from fmgateway.converse import request_metadata, validation
from fmgateway.core.gateway import MIN_ATTEMPT_SECONDS, Gateway
from fmgateway.core.prepared import Prepared
from fmgateway.health.breaker import PROBE, SKIP
from fmgateway.routing.planner import Plan, TierDecision
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import GatewayError, InvocationError, Unavailable, UpstreamTimeout
from fmgateway.values.exchange import Attempt, ChatRequest, Deferred


class TaskError(Exception):
    """A failed call of one candidate; the message is JSON (code, message, ms) for the record step."""

    def __init__(self, code: str, message: str, ms: float = 0.0):
        super().__init__(json.dumps({"code": code, "message": message, "ms": round(ms, 1)}))


class ModelThrottled(TaskError):
    pass


class LastCandidateThrottled(TaskError):
    """A throttle with no candidate left to move to: the one case the machine retries (README "Throttling")."""


class ModelUnavailable(TaskError):
    pass


class ModelTimeout(TaskError):
    pass


class ModelFailed(TaskError):
    pass


class BudgetExhausted(TaskError):
    pass


TASK_ERRORS: dict[str, type[TaskError]] = {
    "throttled": ModelThrottled,
    "unavailable": ModelUnavailable,
    "timeout": ModelTimeout,
    "model_error": ModelFailed,
}
OUTCOMES = {cls.__name__: kind for kind, cls in TASK_ERRORS.items()} | {LastCandidateThrottled.__name__: "throttled"}


def epoch(iso: str) -> float:
    """``$$.State.EnteredTime`` / ``$$.Execution.StartTime`` (ISO 8601) as epoch seconds."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _started(payload: dict[str, Any]) -> float:
    """The execution's start as a ``time.perf_counter`` value: the request budget counts from there."""
    return time.perf_counter() - max(0.0, time.time() - epoch(payload["startedAt"]))


def _prepared(gateway: Gateway, payload: dict[str, Any]) -> Prepared:
    config = gateway.config.get()
    plan = Plan.from_json(config, payload["plan"])
    prepared = gateway.prepare(ChatRequest.from_body(payload["request"]), started=_started(payload), plan=plan)
    return prepared._replace(extra_cost_usd=float(payload["plan"].get("extraCostUsd", 0.0)))


def _attempts(payload: dict[str, Any]) -> list[Attempt]:
    return [Attempt.from_json(entry) for entry in payload.get("attempts") or []]


def _identified(request: ChatRequest, payload: dict[str, Any]) -> ChatRequest:
    """requestMetadata: the API key's id and API Gateway's request id, as on /v1/chat."""
    return request_metadata.identified(request, payload.get("tenant") or "", payload.get("requestId") or "")


def classify(gateway: Gateway, payload: dict[str, Any]) -> dict[str, Any]:
    """Step 1, for ``auto`` only: the heuristic, or the classifier model with the heuristic as fallback."""
    validation.chat_body(payload["request"], gateway.config.get().s3_input_buckets)  # what /v1/chat checks
    request = _identified(ChatRequest.from_body(payload["request"]), payload)  # the classifier's call carries it
    prepared = gateway.prepare(request, started=_started(payload))
    decision = prepared.plan.decision
    return {
        "decision": decision.describe() if decision else None,
        "modelSeconds": round(prepared.model_seconds, 4),
        "costUsd": prepared.extra_cost_usd,
    }


def plan(gateway: Gateway, payload: dict[str, Any]) -> dict[str, Any]:
    """Step 2: the ordered candidates for the tier (lifecycle remap and capability filter included)."""
    validation.chat_body(payload["request"], gateway.config.get().s3_input_buckets)  # what /v1/chat checks
    classification = payload.get("classification")
    decision = TierDecision.from_json(classification["decision"]) if classification and classification["decision"] else None
    prepared = gateway.prepare(ChatRequest.from_body(payload["request"]), started=_started(payload), decision=decision)
    return {**prepared.plan.to_json(), "extraCostUsd": classification["costUsd"] if classification else 0.0}


def admit(gateway: Gateway, payload: dict[str, Any]) -> dict[str, Any]:
    """A candidate whose breaker is not plainly CLOSED or OPEN: the breaker's admit rule decides."""
    config = gateway.config.get()
    candidate = Candidate.from_json(payload["candidate"])
    return {"decision": gateway.admit(candidate, config, now=epoch(payload["now"]))}


def invoke(gateway: Gateway, payload: dict[str, Any]) -> dict[str, Any]:
    """Call one admitted candidate. Success: the response body, with every attempt and the execution ARN."""
    prepared = _prepared(gateway, payload)
    prepared = prepared._replace(request=_identified(prepared.request, payload))
    candidate = Candidate.from_json(payload["candidate"])
    decision = payload.get("decision", "allow")
    if time.perf_counter() > prepared.deadline - MIN_ATTEMPT_SECONDS:
        if decision == PROBE:
            gateway.breaker.release(candidate.breaker_key, prepared.config.breaker)
        raise BudgetExhausted("budget", "the request budget ran out before this candidate could be tried")
    attempts = _attempts(payload)
    deferred = Deferred.from_json(payload.get("deferred"))
    call_started = time.perf_counter()
    now = epoch(payload["now"])  # the execution's clock, as every breaker rule of the machine sees it
    try:
        response = gateway.invoke(prepared, candidate, decision, gateway.converse_step, record_success=False)
    except InvocationError as err:
        error = TASK_ERRORS[err.kind]
        if error is ModelThrottled and prepared.plan.candidates[-1].alias == candidate.alias:
            error = LastCandidateThrottled
        raise error(err.code, err.message, (time.perf_counter() - call_started) * 1000) from err
    except GatewayError:
        gateway.settle(prepared.config, deferred, counts=False)  # the request was at fault
        raise
    elapsed = time.perf_counter() - call_started
    output_tokens = (response.get("usage") or {}).get("outputTokens")
    gateway.record_success(
        candidate,
        prepared.config,
        now=now,
        latency_ms=elapsed * 1000,
        output_tokens=output_tokens,
        generation_ms=elapsed * 1000,
        caller=prepared.request.caller,
    )
    gateway.settle(prepared.config, deferred, counts=True, now=now)
    attempts.append(Attempt(candidate.alias, "ok", None, elapsed * 1000))
    model_seconds = sum(attempt.ms for attempt in attempts) / 1000
    result = gateway.answer(prepared, candidate, response, attempts, model_seconds)
    body = result.body()
    body["gateway"]["executionArn"] = payload["executionArn"]
    return body


def record(gateway: Gateway, payload: dict[str, Any]) -> dict[str, Any]:
    """After a candidate was skipped or failed: apply the breaker's failure rule (with the execution's clock)
    and add the attempt; returns the attempts so far."""
    config = gateway.config.get()
    candidate = Candidate.from_json(payload["candidate"])
    attempts = _attempts(payload)
    deferred = Deferred.from_json(payload.get("deferred"))
    if payload["outcome"] == "skipped":
        attempts.append(Attempt(candidate.alias, "skipped", "circuit_open"))
    else:
        error = payload["error"]
        try:
            detail = json.loads(json.loads(error["Cause"])["errorMessage"])
        except (ValueError, KeyError, TypeError):
            detail = {"code": error.get("Error", "Unknown"), "message": str(error.get("Cause", "")), "ms": 0.0}
        outcome = OUTCOMES.get(error.get("Error", ""), "unavailable")  # a Lambda failure of our own: unavailable
        attempts.append(Attempt(candidate.alias, outcome, detail.get("code"), float(detail.get("ms", 0.0))))
        failure = InvocationError(outcome, str(detail.get("code")), str(detail.get("message", "")))
        deferred = gateway.after_failure(
            config,
            candidate,
            payload.get("decision", "allow"),
            failure,
            deferred,
            now=epoch(payload["now"]),
            caller=payload.get("caller") or None,
        )
    return {"attempts": [attempt.describe() for attempt in attempts], "deferred": deferred._asdict() if deferred else None}


def fallback(gateway: Gateway, payload: dict[str, Any]) -> dict[str, Any]:
    """Step 4, every candidate exhausted: the cached last good answer marked degraded, else the error to answer
    (``{"error": {type, message, retryAfter}, "status": ...}``, which the machine turns into its failure)."""
    prepared = _prepared(gateway, payload)
    attempts = _attempts(payload)
    gateway.settle(prepared.config, Deferred.from_json(payload.get("deferred")), counts=True)
    model_seconds = sum(attempt.ms for attempt in attempts) / 1000
    try:
        result = gateway.last_resort(prepared, attempts, model_seconds, out_of_time=bool(payload.get("outOfTime")))
    except (Unavailable, UpstreamTimeout) as err:
        body: dict[str, Any] = {"message": err.message}
        if err.retry_after is not None:
            body["retryAfter"] = err.retry_after
        return {"status": err.status, "error": type(err).__name__, "body": body}
    answer = result.body()
    answer["gateway"]["executionArn"] = payload["executionArn"]
    return {"status": 200, "body": answer}


STEPS = {"classify": classify, "plan": plan, "admit": admit, "invoke": invoke, "record": record, "fallback": fallback}
__all__ = ["SKIP", "STEPS", "TASK_ERRORS", "TaskError"]
