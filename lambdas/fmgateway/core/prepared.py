"""A request with its plan, ready for the candidate loop (``fmgateway.core.gateway``)."""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.core.cache import request_key
from fmgateway.routing.planner import Plan
from fmgateway.values.exchange import ChatRequest


class Prepared(NamedTuple):
    """A request with its plan, ready for the candidate loop."""

    request: ChatRequest
    config: GatewayConfig
    plan: Plan
    inference: dict[str, Any]
    started: float  # time.perf_counter() when the request arrived
    deadline: float  # time.perf_counter() by which the answer must be in hand
    model_seconds: float = 0.0  # spent waiting for models while preparing (the classifier)
    extra_cost_usd: float = 0.0  # what preparing cost (the classifier's tokens)

    @property
    def cache_key(self) -> str:
        request = self.request
        return request_key(self.plan.route, request.messages, request.system, request.inference, request.fields)
