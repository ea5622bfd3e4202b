"""Running a request for a route and accounting for its answer: the caller's identity in its ``requestMetadata``, the
prompt in the log only when the configuration asks, then metrics and one log line per answer or stream."""

from __future__ import annotations

import botocore.exceptions
from aws_lambda_powertools.metrics import MetricUnit

from fmgateway import runtime
from fmgateway.aws import http
from fmgateway.aws.telemetry import logger, metrics
from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.converse import request_metadata
from fmgateway.core.gateway import InvocationStep
from fmgateway.core.streaming import ChatStream
from fmgateway.routing.planner import PIN_HEADER
from fmgateway.values.errors import InvalidRequest
from fmgateway.values.exchange import ChatRequest, ChatResult

# Bedrock errors are classified by the core; what still escapes from botocore is a dependency (DynamoDB,
# AppConfig through boto) failing: a 503, not a 500.
DEPENDENCY_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def identified(event: dict, request: ChatRequest) -> ChatRequest:
    """The caller's API key id and the request id in the request's metadata, as every route does, and the pin
    (``x-gateway-pin: true``) when the caller sent it."""
    request = request_metadata.identified(request, http.tenant_of(event), http.request_id(event))
    pin = http.header(event, PIN_HEADER)
    if pin is None:
        return request
    if pin.strip().lower() not in ("true", "false"):
        raise InvalidRequest(f"header {PIN_HEADER}: true or false, got {pin[:40]!r}")
    return request._replace(pinned=pin.strip().lower() == "true")


def log_prompt(config: GatewayConfig, request: ChatRequest) -> None:
    """The prompt in the log, only when ``logging.logPrompts`` is on (never by default)."""
    if config.log_prompts:
        logger.info("prompt", extra={"messages": request.messages, "system": request.system})


def run(request: ChatRequest, event: dict | None = None, step: InvocationStep | None = None) -> ChatResult:
    """``event``: the API Gateway event, whose API key id and request id go into the request's requestMetadata;
    ``step``: the invocation step (default: Converse)."""
    gateway = runtime.gateway()
    if event is not None:
        request = identified(event, request)
    log_prompt(gateway.config.get(), request)
    result = gateway.chat(request, step)
    account(result)
    return result


def account(result: ChatResult) -> None:
    """Metrics and the log line of an answer."""
    fallbacks = sum(1 for attempt in result.attempts if attempt.outcome != "ok")
    metrics.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=fallbacks)
    metrics.add_metric(name="Degraded", unit=MetricUnit.Count, value=int(result.degraded))
    metrics.add_metric(name="CostMicroUsd", unit=MetricUnit.Count, value=round(result.cost_usd * 1e6))
    metrics.add_metric(name="OverheadMs", unit=MetricUnit.Milliseconds, value=result.overhead_ms)
    logger.info(
        "answered",
        extra={
            "route": result.route,
            "model": result.model.alias,
            "attempts": [attempt.describe() for attempt in result.attempts],
            "degraded": result.degraded,
            "usage": result.usage,
            "costUsd": result.cost_usd,
            "overheadMs": round(result.overhead_ms, 3),
            "notes": result.notes,
        },
    )


def account_stream(stream: ChatStream) -> None:
    """Metrics and the log line of a stream, once it has ended (well, with an error, or by the client leaving)."""
    metrics.add_metric(name="StreamTimeToFirstTokenMs", unit=MetricUnit.Milliseconds, value=stream.time_to_first_token_ms)
    if stream.result is not None:
        account(stream.result)
    elif stream.error is not None:
        metrics.add_metric(name="StreamErrors", unit=MetricUnit.Count, value=1)
        logger.warning("stream failed", extra={"error": stream.error.message, **stream.gateway_block()})
    elif stream.closed:
        metrics.add_metric(name="StreamsAbandoned", unit=MetricUnit.Count, value=1)
        logger.info("client left the stream", extra=stream.gateway_block())


def count_request() -> None:
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
