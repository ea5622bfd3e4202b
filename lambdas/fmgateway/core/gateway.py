"""The request pipeline shared by every entry point (DESIGN.md "Candidates"): prepare a plan of candidates,
try them in order behind their circuit breakers with a pluggable invocation step, then fall back to the last
cached answer, then fail with a clear status.

The pieces (``prepare``, ``admit``, ``invoke``, ``answer``, ``record_failure``, ``last_resort``) are public
because the orchestrated state machine runs the same loop step by step in its Lambda tasks; ``run`` composes
them for the Lambda paths. Nothing else may copy the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from fmgateway.config.gateway_config import ConfigSource, GatewayConfig
from fmgateway.converse import fields as converse_fields
from fmgateway.converse import request_metadata
from fmgateway.core import auto_tier, hedging
from fmgateway.core.cache import ResponseCache
from fmgateway.core.hedging import BothFailed, HedgeBudget, HedgeSettings, HedgeWon
from fmgateway.core.invokers import Invokers
from fmgateway.core.outcomes import BreakerOutcomes
from fmgateway.core.prepared import Prepared
from fmgateway.health.breaker import CLOSED, PROBE, SKIP, CircuitBreaker
from fmgateway.health.figures import HealthView
from fmgateway.health.retry_budget import RETRIED_KINDS, RetryBudget, backoff_seconds
from fmgateway.routing import capabilities, strategies
from fmgateway.routing import planner as routing
from fmgateway.routing.planner import Plan, TierDecision
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import GatewayError, InvalidRequest, InvocationError, ModelError, Unavailable, UpstreamTimeout
from fmgateway.values.exchange import Attempt, ChatRequest, ChatResult, Chosen, Deferred
from fmgateway.values.ports import EndpointInvoker, ModelInvoker

DEFAULT_RETRY_AFTER = 2  # seconds, when no open breaker tells us better
MIN_ATTEMPT_SECONDS = 1.0  # do not start a candidate with less budget than this left
ZERO_USAGE = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}

# The invocation step: one call of one candidate with a Converse-shaped body, within a deadline
# (a ``time.perf_counter`` value). Converse returns the response; ConverseStream (fmgateway.core.streaming) returns a stream
# whose first token has arrived, so that a failure before it still moves to the next candidate.
InvocationStep = Callable[[Candidate, dict[str, Any], float], Any]


class Gateway(BreakerOutcomes):
    def __init__(
        self,
        config: ConfigSource,
        invoker: ModelInvoker,
        breaker: CircuitBreaker,
        cache: ResponseCache | None = None,
        profile: str = "sync",
        health_view: HealthView | None = None,
        sleep: Callable[[float], None] = time.sleep,
        endpoints: Mapping[str, EndpointInvoker] | None = None,
    ):
        """``profile="jobs"`` uses ``jobs.timeouts`` (long generations, no API Gateway 29 s limit);
        ``profile="orchestrated"`` makes one call per invocation: the state machine's Retry does the retrying.
        ``health_view``: what the routing strategies order candidates by (default: the breaker's health monitor, the
        live picture shared by every sandbox; ``NoHealth``: the configured order). ``endpoints``: the invokers of the
        backends that are not Bedrock (``fmgateway.values.backends``), by kind; ``invoker`` is Bedrock's."""
        self.config, self.breaker, self.cache = config, breaker, cache
        self.invokers = Invokers(invoker, endpoints)
        self.profile = profile
        self.health_view: HealthView = health_view if health_view is not None else breaker.health
        self.retry_budget = RetryBudget()  # per sandbox: one gateway per process and profile
        self.hedge_budget = HedgeBudget()
        # the cost of a hedged call's abandoned Converse answer, reported when it arrives (an EMF metric in Lambda)
        self.on_abandoned: Callable[[Candidate, float], None] = lambda candidate, cost_usd: self.health.events.abandoned_hedge(
            candidate.health_key, cost_usd
        )
        self._sleep = sleep

    @property
    def invoker(self) -> ModelInvoker:
        """Bedrock's invoker (tests replace it; the other backends' are in ``invokers``)."""
        return self.invokers.bedrock

    @invoker.setter
    def invoker(self, invoker: ModelInvoker) -> None:
        self.invokers.bedrock = invoker

    def _timeouts(self, config: GatewayConfig) -> dict:
        if self.profile == "jobs" and "timeouts" in config.section("jobs"):
            return config.section("jobs")["timeouts"]
        return config.section("timeouts")

    def configure(self, config: GatewayConfig) -> dict:
        """Apply the live configuration's timeouts and retries to the invoker; returns the timeouts."""
        timeouts = self._timeouts(config)
        retries = {"maxAttempts": 1} if self.profile == "orchestrated" else config.section("retries")
        self.invokers.configure({"timeouts": timeouts, "retries": retries})
        return timeouts

    # ---- the pieces ----------------------------------------------------------------------------------

    def prepare(
        self,
        request: ChatRequest,
        *,
        started: float | None = None,
        plan: Plan | None = None,
        decision: TierDecision | None = None,
    ) -> Prepared:
        """Route and plan the request. ``plan`` (a plan made earlier for this request) or ``decision`` (how
        ``auto`` chose its tier) skip the work already done, as the state machine's later steps do."""
        started = time.perf_counter() if started is None else started
        config = self.config.get()
        timeouts = self.configure(config)
        inference = dict(request.inference or {})
        inference.setdefault("maxTokens", config.default_max_tokens)
        deadline = started + timeouts.get("requestBudgetSeconds", 26)
        model_seconds = extra_cost = 0.0
        if plan is None:
            features = routing.extract_features(request.messages, request.system, inference["maxTokens"])
            features = features._replace(capabilities=capabilities.required(request.messages, request.system, request.fields))
            if decision is None and self.is_auto(request, config):
                decision, model_seconds, extra_cost = auto_tier.decide(self, config, features, deadline, request.metadata)
            plan = routing.plan(
                config,
                features,
                model=request.model,
                tier=request.tier,
                path_route=request.path_route,
                decision=decision,
                pinned=request.pinned,
            )
            plan = self.order(config, plan, features, request.max_cost_usd)
        return Prepared(request, config, plan, inference, started, deadline, model_seconds, extra_cost)

    def order(self, config: GatewayConfig, plan: Plan, features: routing.Features, max_cost_usd: float | None) -> Plan:
        """The tier's routing strategy orders the plan's candidates (``fmgateway.routing.strategies``); a model asked for by
        name stays first, and only the rest of its tier is ordered."""
        settings = strategies.settings_for(config.raw, plan.tier)
        if settings.get("strategy", "ordered") == "ordered" and max_cost_usd is None:
            return plan
        pinned = plan.candidates[:1] if plan.kind in ("alias", "model") else []
        candidates, dropped = list(plan.candidates), dict[str, str]()
        if max_cost_usd is not None:
            candidates, dropped = strategies.within_cost(
                candidates, features.input_tokens, features.max_tokens, max_cost_usd, pinned[0] if pinned else None
            )
        choice = strategies.order(
            settings,
            candidates[len(pinned) :],
            self.health_view,
            input_tokens=features.input_tokens,
            max_tokens=features.max_tokens,
        )
        choice = choice._replace(candidates=[*pinned, *choice.candidates], dropped={**dropped, **choice.dropped})
        return plan._replace(candidates=choice.candidates, strategy=choice.describe())

    @staticmethod
    def is_auto(request: ChatRequest, config: GatewayConfig) -> bool:
        if request.tier is not None or request.path_route is not None:
            return False
        if request.model is not None:
            return request.model == "auto"
        return config.default_route == "auto"

    def body_for(self, prepared: Prepared, candidate: Candidate) -> dict[str, Any]:
        inference = prepared.inference
        body: dict[str, Any] = {
            "messages": prepared.request.messages,
            "inferenceConfig": {**inference, "maxTokens": min(inference["maxTokens"], candidate.model.max_output_tokens)},
        }
        if prepared.request.system:
            body["system"] = prepared.request.system
        if prepared.request.fields:
            body.update(prepared.request.fields)
        plan = prepared.plan  # the caller's tags plus the gateway's five keys, fmgw-model being this candidate
        body["requestMetadata"] = request_metadata.for_call(prepared.request.metadata, plan.route, plan.tier, candidate.alias)
        return body

    def converse_step(self, candidate: Candidate, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        """The default invocation step: Bedrock Converse through the candidate's inference profile."""
        return self.invokers.for_candidate(candidate).converse(candidate.invoke_id, body, deadline=deadline)

    def call(
        self,
        config: GatewayConfig,
        candidate: Candidate,
        decision: str,
        body: dict[str, Any],
        deadline: float,
        step: InvocationStep | None = None,
        record_success: bool = True,
        caller: str | None = None,
    ) -> Any:
        """One call of one admitted candidate with ``step`` (default: Converse). Success is recorded on its breaker
        (``record_success=False``: the caller records the outcome later, as a stream does at its end); every failure is
        raised as ``InvocationError``, after giving back a probe slot when it says nothing about the model's health (a
        transient one is for the caller to record, after any retries of its own)."""
        started = time.perf_counter()
        in_flight = self.health.start_call(candidate.health_key, config.breaker, caller)  # slow counts while it waits
        try:
            response = (step or self.converse_step)(candidate, body, deadline)
        except InvocationError as err:
            self.health.end_call(in_flight)
            if not err.transient and decision == PROBE:
                self.breaker.release(candidate.breaker_key, config.breaker)
            raise
        except BaseException:
            self.health.end_call(in_flight)
            raise
        self.health.end_call(in_flight)
        if record_success:
            ms = (time.perf_counter() - started) * 1000
            output_tokens = (response.get("usage") or {}).get("outputTokens") if isinstance(response, dict) else None
            self.record_success(candidate, config, latency_ms=ms, output_tokens=output_tokens, generation_ms=ms, caller=caller)
        return response

    def invoke(
        self, prepared: Prepared, candidate: Candidate, decision: str, step: InvocationStep, record_success: bool = True
    ) -> Any:
        """``call`` for the request's own answer: a failure that says nothing about the model's health becomes the
        caller's error at once (400 invalid, 502 no access), with no fallback."""
        try:
            body = self.body_for(prepared, candidate)
            config, deadline, caller = prepared.config, prepared.deadline, prepared.request.caller
            return self.call(config, candidate, decision, body, deadline, step, record_success, caller)
        except InvocationError as err:
            if err.transient:
                raise
            if err.kind == "invalid":
                raise InvalidRequest(f"{candidate.alias} rejected the request: {err.message}") from err
            raise ModelError(f"{candidate.alias} cannot be invoked ({err.code}): {err.message}") from err

    def answer(
        self, prepared: Prepared, candidate: Candidate, response: dict[str, Any], attempts: list[Attempt], model_seconds: float
    ) -> ChatResult:
        """The result of a successful call; remembered as the last good answer for this request."""
        config = prepared.config
        usage = _usage(response.get("usage", {}))
        message = response["output"]["message"]
        stop_reason = response.get("stopReason", "end_turn")
        if self.cache is not None and config.section("cache").get("enabled", True):
            self.cache.remember(
                prepared.cache_key,
                {"message": message, "stopReason": stop_reason, "usage": usage, "model": candidate.alias},
                config.section("cache").get("ttlSeconds", 86400),
            )
        return ChatResult(
            message=message,
            stop_reason=stop_reason,
            usage=usage,
            model=candidate.model,
            route=prepared.plan.route,
            attempts=attempts,
            degraded=False,
            cost_usd=round(candidate.model.usage_cost(usage) + prepared.extra_cost_usd, 10),
            overhead_ms=(time.perf_counter() - prepared.started - model_seconds - prepared.model_seconds) * 1000,
            notes=prepared.plan.notes,
            routing=prepared.plan.decision.describe() if prepared.plan.decision else None,
            response_fields=converse_fields.response_fields(response),
            strategy=prepared.plan.strategy,
        )

    def last_resort(self, prepared: Prepared, attempts: list[Attempt], model_seconds: float, out_of_time: bool) -> ChatResult:
        """Every candidate failed or was skipped: the cached last good answer, marked degraded, else a clear error."""
        config, plan = prepared.config, prepared.plan
        # a pinned request measures its model: another model's answer, even a cached one, would be a wrong result
        if self.cache is not None and config.section("cache").get("enabled", True) and not prepared.request.pinned:
            cached = self.cache.lookup(prepared.cache_key)
            if cached is not None:
                model = config.catalog.models.get(cached["model"], plan.candidates[0].model)
                return ChatResult(
                    message=cached["message"],
                    stop_reason=cached["stopReason"],
                    usage=dict(ZERO_USAGE),
                    model=model,
                    route=plan.route,
                    attempts=attempts,
                    degraded=True,
                    cost_usd=prepared.extra_cost_usd,
                    overhead_ms=(time.perf_counter() - prepared.started - model_seconds - prepared.model_seconds) * 1000,
                    notes=[*plan.notes, "all candidates failed: cached answer"],
                    routing=plan.decision.describe() if plan.decision else None,
                    strategy=plan.strategy,
                )
        if attempts and all(attempt.code == "circuit_open" for attempt in attempts):
            self.health.events.no_healthy_candidate(plan.tier or plan.route)
        tried = ", ".join(f"{a.model} ({a.code or a.outcome})" for a in attempts) or "none"
        retry_after = self.breaker.retry_after([c.breaker_key for c in plan.candidates]) or DEFAULT_RETRY_AFTER
        if out_of_time:
            raise UpstreamTimeout(f"the request budget ran out before a model answered; tried: {tried}")
        raise Unavailable(f"no candidate model could answer; tried: {tried}", retry_after=retry_after)

    # ---- the loop ------------------------------------------------------------------------------------

    def run(self, prepared: Prepared, step: InvocationStep | None = None) -> ChatResult:
        """Try the plan's candidates in order with ``step`` (default: Converse)."""
        outcome = self.choose(prepared, step or self.converse_step)
        if isinstance(outcome, ChatResult):
            return outcome
        return self.answer(prepared, outcome.candidate, outcome.response, outcome.attempts, outcome.model_seconds)

    def retry_delay(self, prepared: Prepared, err: InvocationError, retry: int, rest: list[Candidate]) -> float | None:
        """How long to wait before retrying this candidate, or ``None`` to move on (README "Throttling"). Only a throttle
        or 5xx is retried, only when no later candidate of the plan is healthy (breaker closed: a throttle is a routing
        signal), within ``retries.maxAttempts`` calls of this candidate, the sandbox's retry budget and the request
        budget (a backoff plus a minimal attempt must fit before the deadline)."""
        settings = {"maxAttempts": 1} if self.profile == "orchestrated" else prepared.config.section("retries")
        if err.kind not in RETRIED_KINDS or retry >= int(settings.get("maxAttempts", 1)):
            return None
        config = prepared.config
        if rest:
            states = self.breaker.current([candidate.breaker_key for candidate in rest], config.breaker)
            if any(self.breaker.display_state(state) == CLOSED for state in states.values()):
                return None
        delay = backoff_seconds(retry, settings)
        if time.perf_counter() + delay > prepared.deadline - MIN_ATTEMPT_SECONDS:
            return None
        if not self.retry_budget.try_spend(settings):
            return None
        return delay

    def choose(self, prepared: Prepared, step: InvocationStep, record_success: bool = True) -> Chosen | ChatResult:
        """The candidate loop: the first candidate whose ``step`` succeeds, or the last resort (a degraded cached
        ``ChatResult``) when none does; raises the error contract's exceptions otherwise."""
        config = prepared.config
        attempts: list[Attempt] = []
        model_seconds = 0.0
        deferred: Deferred | None = None
        candidates = prepared.plan.candidates
        hedge = HedgeSettings.for_tier(config.raw, prepared.plan.tier) if self.profile != "orchestrated" else None
        if hedge is not None:
            self.hedge_budget.record_request()
        hedged_away: set[int] = set()  # candidates already called as a hedge
        for index, candidate in enumerate(candidates):
            if index in hedged_away:
                continue
            if time.perf_counter() > prepared.deadline - MIN_ATTEMPT_SECONDS:  # before admit: never hold a probe unused
                self.settle(config, deferred, counts=True)
                return self.last_resort(prepared, attempts, model_seconds, out_of_time=True)
            decision = self.admit(candidate, config)
            if decision == SKIP:
                attempts.append(Attempt(candidate.alias, "skipped", "circuit_open"))
                continue
            self.retry_budget.record_call()
            retries = 0
            while True:  # more than once only for a retry of the last healthy candidate (``retry_delay``)
                call_started = time.perf_counter()
                try:
                    after, share = hedging.race_plan(self.health, hedge, candidate, decision) if retries == 0 else (None, None)
                    if after is not None and index + 1 < len(candidates):
                        second = candidates[index + 1]
                        response = hedging.race(self, prepared, candidate, decision, second, step, record_success, after, share)
                        if isinstance(response, HedgeWon):
                            hedged_away.add(index + 1)
                            model_seconds += time.perf_counter() - call_started
                            attempts.extend(response.attempts)
                            self.settle(config, deferred, counts=True)
                            return Chosen(response.candidate, response.decision, response.response, attempts, model_seconds)
                    else:
                        response = self.invoke(prepared, candidate, decision, step, record_success=record_success)
                except BothFailed as both:
                    hedged_away.add(index + 1)
                    elapsed = time.perf_counter() - call_started
                    model_seconds += elapsed
                    err = both.error
                    attempts += [Attempt(candidate.alias, err.kind, err.code, elapsed * 1000), both.attempt]
                    deferred = self.after_failure(config, candidate, decision, err, deferred, caller=prepared.request.caller)
                    break
                except InvocationError as err:
                    elapsed = time.perf_counter() - call_started
                    model_seconds += elapsed
                    attempts.append(Attempt(candidate.alias, err.kind, err.code, elapsed * 1000))
                    # a probe's failure decides the breaker at once: never retried
                    delay = None if decision == PROBE else self.retry_delay(prepared, err, retries + 1, candidates[index + 1 :])
                    if delay is not None:
                        # every failed call counts (README "Throttling"): the health window sees each retried throttle
                        self.record_failure(candidate, config, kind=err.kind, caller=prepared.request.caller)
                        retries += 1
                        self._sleep(delay)
                        continue
                    deferred = self.after_failure(config, candidate, decision, err, deferred, caller=prepared.request.caller)
                    break
                except GatewayError:
                    self.settle(config, deferred, counts=False)  # the request was at fault: say nothing of the models
                    raise
                elapsed = time.perf_counter() - call_started
                model_seconds += elapsed
                attempts.append(Attempt(candidate.alias, "ok", None, elapsed * 1000))
                self.settle(config, deferred, counts=True)
                return Chosen(candidate, decision, response, attempts, model_seconds)
        self.settle(config, deferred, counts=True)
        return self.last_resort(prepared, attempts, model_seconds, out_of_time=False)

    def chat(self, request: ChatRequest, step: InvocationStep | None = None) -> ChatResult:
        return self.run(self.prepare(request), step)


def _usage(usage: dict) -> dict:
    return converse_fields.usage(usage)  # prompt-cache token counts kept when the model reports them
