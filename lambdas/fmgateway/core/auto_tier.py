"""How ``auto`` picks a tier while a request is prepared (``Gateway.prepare``): the content heuristic or the learned
score, both without a model call, or the classifier model, called through the gateway's breaker and within its own
budget, with the heuristic (or the learned decision) standing when it cannot answer."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.converse import request_metadata
from fmgateway.health.breaker import SKIP
from fmgateway.routing import classifier, difficulty
from fmgateway.routing import planner as routing
from fmgateway.routing.planner import TierDecision
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvocationError


class ClassifierCaller(Protocol):
    """What deciding a tier needs of the candidate loop to call the classifier model (``Gateway`` is one): its
    breaker's admission, one call, and the record of a transient failure."""

    def admit(self, candidate: Candidate, config: GatewayConfig, now: float | None = None) -> str: ...

    def call(self, config: GatewayConfig, candidate: Candidate, decision: str, body: dict[str, Any], deadline: float) -> Any: ...

    def record_failure(self, candidate: Candidate, config: GatewayConfig, now: float | None = None, kind: str = ...) -> None: ...


CLASSIFIER_ROUTE = "classifier"  # fmgw-route of the classifier's own call


def decide(
    gateway: ClassifierCaller,
    config: GatewayConfig,
    features: routing.Features,
    deadline: float,
    metadata: Mapping[str, str] | None = None,
) -> tuple[TierDecision, float, float]:
    """How ``auto`` picks a tier. ``heuristic`` / ``learned``: no model call; ``classifier``: the classifier
    model, the heuristic when it cannot answer; ``learned`` with ``uncertainBand`` (and a classifier section):
    the learned score, and the classifier only for a score within the band of a threshold, the learned
    decision standing when it cannot answer. Returns the decision, the classifier's seconds and its cost."""
    section = config.content_routing
    if classifier.enabled(section):
        otherwise = routing.heuristic_decision(features, section)
        return classify_with_model(gateway, config, features, deadline, otherwise, metadata)
    decision = routing.content_decision(features, section)
    band = float(section.get("uncertainBand", 0))
    if (
        decision.decided_by == "learned"
        and "classifier" in section
        and decision.score is not None
        and decision.thresholds
        and difficulty.in_uncertain_band(decision.score, decision.thresholds, band)
    ):
        return classify_with_model(gateway, config, features, deadline, decision, metadata)
    return decision, 0.0, 0.0


def classify_with_model(
    gateway: ClassifierCaller,
    config: GatewayConfig,
    features: routing.Features,
    deadline: float,
    otherwise: TierDecision,
    metadata: Mapping[str, str] | None = None,
) -> tuple[TierDecision, float, float]:
    """Ask the classifier model (through its breaker, within its budget); ``otherwise`` decides, with the
    reason, when it fails, is too slow, gives no valid label or its breaker is open. ``metadata``: the request's
    requestMetadata (its caller's tags and identity), sent with the call under the route ``classifier``."""
    settings = classifier.ClassifierSettings.from_config(config.content_routing)
    model, _ = config.catalog.current(config.catalog.models[settings.model])
    candidate = Candidate(model)
    detail: dict[str, Any] = {"model": model.alias}

    def fallback(reason: str, seconds: float = 0.0, cost: float = 0.0) -> tuple[TierDecision, float, float]:
        return otherwise._replace(reason=reason, classifier=detail), seconds, cost

    decision = gateway.admit(candidate, config)
    if decision == SKIP:
        return fallback(f"classifier {model.alias}: circuit open")
    budget_deadline = min(deadline, time.perf_counter() + settings.budget_seconds)
    call_started = time.perf_counter()
    try:
        body = classifier.request_body(features.text, settings)
        body["requestMetadata"] = request_metadata.for_call(metadata, CLASSIFIER_ROUTE, None, model.alias)
        response = gateway.call(config, candidate, decision, body, budget_deadline)
    except InvocationError as err:
        seconds = time.perf_counter() - call_started
        detail.update(ms=round(seconds * 1000, 1), error=err.code)
        if err.transient:
            gateway.record_failure(candidate, config, kind=err.kind)
        return fallback(f"classifier {model.alias} failed ({err.code})", seconds)
    seconds = time.perf_counter() - call_started
    usage = response.get("usage", {})
    cost = model.cost_usd(int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0)))
    detail.update(ms=round(seconds * 1000, 1), costUsd=cost)
    if seconds > settings.budget_seconds:
        return fallback(f"classifier {model.alias} slower than its budget ({settings.budget_seconds:g} s)", seconds, cost)
    label = classifier.parse_label(response, settings)
    if label is None:
        return fallback(f"classifier {model.alias} gave no valid label", seconds, cost)
    detail["label"] = label
    if otherwise.decided_by == "learned":
        detail["learnedScore"] = otherwise.score  # the score that fell in the band, for the record
    return TierDecision(label, "classifier", score=settings.label_scores[label], classifier=detail), seconds, cost
