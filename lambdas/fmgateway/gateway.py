"""The request pipeline shared by every entry point: plan, then try candidates in order behind their
circuit breakers, then fall back to the last cached answer, then fail with a clear status."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from fmgateway import routing
from fmgateway.bedrock import InvocationError
from fmgateway.breaker import PROBE, SKIP, CircuitBreaker
from fmgateway.cache import ResponseCache, request_key
from fmgateway.catalog import Model
from fmgateway.config import ConfigSource
from fmgateway.errors import InvalidRequest, ModelError, Unavailable, UpstreamTimeout
from fmgateway.ports import ModelInvoker

DEFAULT_RETRY_AFTER = 2  # seconds, when no open breaker tells us better
MIN_ATTEMPT_SECONDS = 1.0  # do not start a candidate with less budget than this left


class ChatRequest(NamedTuple):
    """A Converse-shaped request plus what selects the route."""

    messages: list[dict]
    system: list[dict] | None = None
    inference: dict | None = None
    model: str | None = None
    tier: str | None = None
    path_route: str | None = None


class Attempt(NamedTuple):
    model: str
    outcome: str  # ok | skipped | throttled | unavailable | timeout | model_error
    code: str | None = None
    ms: float = 0.0

    def describe(self) -> dict:
        return {"model": self.model, "outcome": self.outcome, "code": self.code, "ms": round(self.ms, 1)}


class ChatResult(NamedTuple):
    message: dict
    stop_reason: str
    usage: dict
    model: Model
    route: str
    attempts: list[Attempt]
    degraded: bool
    cost_usd: float
    overhead_ms: float
    notes: list[str] = []  # never mutated: results are built once
    routing: dict | None = None  # how ``auto`` decided (score, threshold), from ``Plan.decision``

    def gateway_block(self) -> dict[str, Any]:
        return {
            "model": self.model.alias,
            "modelId": self.model.invoke_id,
            "route": self.route,
            "attempts": [attempt.describe() for attempt in self.attempts],
            "degraded": self.degraded,
            "usage": self.usage,
            "costUsd": self.cost_usd,
            "overheadMs": round(self.overhead_ms, 3),
            **({"notes": self.notes} if self.notes else {}),
            **({"routing": self.routing} if self.routing else {}),
        }


class Gateway:
    def __init__(
        self,
        config: ConfigSource,
        invoker: ModelInvoker,
        breaker: CircuitBreaker,
        cache: ResponseCache | None = None,
        profile: str = "sync",
    ):
        """``profile="jobs"`` uses ``jobs.timeouts`` (long generations, no API Gateway 29 s limit)."""
        self.config, self.invoker, self.breaker, self.cache = config, invoker, breaker, cache
        self.profile = profile

    def _timeouts(self, config) -> dict:
        if self.profile == "jobs" and "timeouts" in config.section("jobs"):
            return config.section("jobs")["timeouts"]
        return config.section("timeouts")

    def chat(self, request: ChatRequest) -> ChatResult:
        started = time.perf_counter()
        config = self.config.get()
        timeouts = self._timeouts(config)
        self.invoker.configure({"timeouts": timeouts, "retries": config.section("retries")})
        inference = dict(request.inference or {})
        inference.setdefault("maxTokens", config.default_max_tokens)
        features = routing.extract_features(request.messages, request.system, inference["maxTokens"])
        plan = routing.plan(config, features, model=request.model, tier=request.tier, path_route=request.path_route)
        breaker_cfg = config.breaker
        deadline = started + timeouts.get("requestBudgetSeconds", 26)

        attempts: list[Attempt] = []
        model_seconds = 0.0
        out_of_time = False
        for model in plan.candidates:
            key = model.invoke_id
            if time.perf_counter() > deadline - MIN_ATTEMPT_SECONDS:  # before admit: never hold a probe unused
                out_of_time = True
                break
            decision = self.breaker.admit(key, breaker_cfg)
            if decision == SKIP:
                attempts.append(Attempt(model.alias, "skipped", "circuit_open"))
                continue
            body: dict[str, Any] = {
                "messages": request.messages,
                "inferenceConfig": {**inference, "maxTokens": min(inference["maxTokens"], model.max_output_tokens)},
            }
            if request.system:
                body["system"] = request.system
            call_started = time.perf_counter()
            try:
                response = self.invoker.converse(key, body, deadline=deadline)
            except InvocationError as err:
                elapsed = time.perf_counter() - call_started
                model_seconds += elapsed
                if not err.transient:
                    if decision == PROBE:
                        self.breaker.release(key, breaker_cfg)  # says nothing about the model's health
                    if err.kind == "invalid":
                        raise InvalidRequest(f"{model.alias} rejected the request: {err.message}") from err
                    raise ModelError(f"{model.alias} cannot be invoked ({err.code}): {err.message}") from err
                self.breaker.record_failure(key, breaker_cfg)
                attempts.append(Attempt(model.alias, err.kind, err.code, elapsed * 1000))
                continue
            elapsed = time.perf_counter() - call_started
            model_seconds += elapsed
            self.breaker.record_success(key, breaker_cfg)
            attempts.append(Attempt(model.alias, "ok", None, elapsed * 1000))
            usage = _usage(response.get("usage", {}))
            message = response["output"]["message"]
            stop_reason = response.get("stopReason", "end_turn")
            if self.cache is not None and config.section("cache").get("enabled", True):
                self.cache.remember(
                    request_key(plan.route, request.messages, request.system, request.inference),
                    {"message": message, "stopReason": stop_reason, "usage": usage, "model": model.alias},
                    config.section("cache").get("ttlSeconds", 86400),
                )
            return ChatResult(
                message=message,
                stop_reason=stop_reason,
                usage=usage,
                model=model,
                route=plan.route,
                attempts=attempts,
                degraded=False,
                cost_usd=model.cost_usd(usage["inputTokens"], usage["outputTokens"]),
                overhead_ms=(time.perf_counter() - started - model_seconds) * 1000,
                notes=plan.notes,
                routing=plan.decision,
            )

        return self._last_resort(request, plan, attempts, started, model_seconds, out_of_time)

    def _last_resort(self, request, plan, attempts, started, model_seconds, out_of_time) -> ChatResult:
        config = self.config.get()
        if self.cache is not None and config.section("cache").get("enabled", True):
            cached = self.cache.lookup(request_key(plan.route, request.messages, request.system, request.inference))
            if cached is not None:
                model = config.catalog.models.get(cached["model"], plan.candidates[0])
                return ChatResult(
                    message=cached["message"],
                    stop_reason=cached["stopReason"],
                    usage={"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
                    model=model,
                    route=plan.route,
                    attempts=attempts,
                    degraded=True,
                    cost_usd=0.0,
                    overhead_ms=(time.perf_counter() - started - model_seconds) * 1000,
                    notes=[*plan.notes, "all candidates failed: cached answer"],
                    routing=plan.decision,
                )
        tried = ", ".join(f"{a.model} ({a.code or a.outcome})" for a in attempts) or "none"
        retry_after = self.breaker.retry_after([m.invoke_id for m in plan.candidates]) or DEFAULT_RETRY_AFTER
        if out_of_time:
            raise UpstreamTimeout(f"the request budget ran out before a model answered; tried: {tried}")
        raise Unavailable(f"no candidate model could answer; tried: {tried}", retry_after=retry_after)


def _usage(usage: dict) -> dict:
    input_tokens = int(usage.get("inputTokens", 0))
    output_tokens = int(usage.get("outputTokens", 0))
    return {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens}
