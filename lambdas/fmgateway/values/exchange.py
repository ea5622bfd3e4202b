"""The values the candidate loop takes and gives (``fmgateway.core.gateway``): the request, each attempt, a 424 waiting
for the next model's verdict, the candidate that answered, the prepared request and the result."""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.values.candidates import Candidate
from fmgateway.values.model import Model

# Converse request fields the gateway forwards to the model as they are (issue 10), besides messages, system and
# inferenceConfig, which it reads. ``requestMetadata`` is not among them: the caller's tags are merged with the
# gateway's own keys (``ChatRequest.metadata``).
FORWARDED_FIELDS = (
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "performanceConfig",
    "serviceTier",
    "outputConfig",
)


class ChatRequest(NamedTuple):
    """A Converse-shaped request plus what selects the route."""

    messages: list[dict]
    system: list[dict] | None = None
    inference: dict | None = None
    model: str | None = None
    tier: str | None = None
    path_route: str | None = None
    fields: dict[str, Any] | None = None  # FORWARDED_FIELDS present in the request, sent to the model unchanged
    metadata: dict[str, str] | None = None  # the caller's requestMetadata (the gateway adds its own keys)
    max_cost_usd: float | None = None  # the caller's cost ceiling: candidates that may cost more are not tried
    caller: str | None = None  # the API key's id (authorizer context): the per-key cap on breaker failures
    pinned: bool = False  # x-gateway-pin: only the model asked for answers (no fallback, no cached answer, no remap)

    @classmethod
    def from_body(cls, body: dict[str, Any], path_route: str | None = None, caller: str | None = None) -> ChatRequest:
        """A validated Converse-shaped body (``/v1/chat``, task routes, jobs, the orchestrated route)."""
        return cls(
            messages=body["messages"],
            system=body.get("system"),
            inference=body.get("inferenceConfig"),
            model=body.get("model"),
            tier=body.get("tier"),
            path_route=path_route,
            fields={name: body[name] for name in FORWARDED_FIELDS if name in body} or None,
            metadata=body.get("requestMetadata"),
            max_cost_usd=body.get("maxCostUsd"),
            caller=caller,
        )


class Attempt(NamedTuple):
    model: str
    outcome: str  # ok | skipped | throttled | unavailable | timeout | model_error
    code: str | None = None
    ms: float = 0.0

    def describe(self) -> dict:
        return {"model": self.model, "outcome": self.outcome, "code": self.code, "ms": round(self.ms, 1)}

    @classmethod
    def from_json(cls, data: dict) -> Attempt:
        return cls(data["model"], data["outcome"], data.get("code"), float(data.get("ms", 0.0)))


class Deferred(NamedTuple):
    """A 424 not yet counted against its model: it counts once the next model answers or fails otherwise."""

    alias: str
    decision: str  # the breaker's admit decision for that call (a probe slot to give back if it never counts)
    message: str
    caller: str | None = None  # whose request it was (the per-key cap counts the 424 against that key)
    candidate: dict[str, Any] | None = None  # the candidate whole (Candidate.describe): never rebuilt from its alias

    @classmethod
    def from_json(cls, data: dict | None) -> Deferred | None:
        if not data:
            return None
        return cls(data["alias"], data["decision"], data["message"], data.get("caller"), data.get("candidate"))


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
    routing: dict[str, Any] | None = None  # how ``auto`` decided
    response_fields: dict[str, Any] | None = None  # trace, additionalModelResponseFields... (converse_fields)
    strategy: dict[str, Any] | None = None  # which routing strategy ordered the candidates, and on what figures

    def gateway_block(self) -> dict[str, Any]:
        return {
            "model": self.model.alias,
            "modelId": self.model.invoke_id,
            "backend": self.model.backend.kind,
            "route": self.route,
            "attempts": [attempt.describe() for attempt in self.attempts],
            "degraded": self.degraded,
            "usage": self.usage,
            "costUsd": self.cost_usd,
            "overheadMs": round(self.overhead_ms, 3),
            **({"routing": self.routing} if self.routing else {}),
            **({"strategy": self.strategy} if self.strategy else {}),
            **({"notes": self.notes} if self.notes else {}),
        }

    def body(self) -> dict[str, Any]:
        """The native (Converse-shaped) response body."""
        return {
            "output": {"message": self.message},
            "stopReason": self.stop_reason,
            "usage": self.usage,
            **(self.response_fields or {}),
            "gateway": self.gateway_block(),
        }


class Chosen(NamedTuple):
    """The candidate that answered, with what its step returned (a Converse response, or a started stream)."""

    candidate: Candidate
    decision: str  # the breaker's admit decision (a probe slot to give back if a stream's outcome never counts)
    response: Any
    attempts: list[Attempt]
    model_seconds: float
