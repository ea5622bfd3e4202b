"""Sync API: /v1/health, /v1/models, /v1/chat, the static task routes, /v1/chat/completions, /v1/embeddings and the
non-stream Bedrock Runtime paths (/model/{modelId}/converse, /invoke: handlers.native).

A dict lookup dispatches the routes: Powertools' APIGatewayRestResolver would add ~170 ms of imports to
every cold start for routing API Gateway has already done.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    import botocore.exceptions
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.metrics import MetricUnit

    from fmgateway import runtime
    from fmgateway.aws import http
    from fmgateway.aws.telemetry import lambda_entry, logger, metrics
    from fmgateway.converse import request_metadata, validation
    from fmgateway.core.gateway import ChatRequest, ChatResult, InvocationStep
    from fmgateway.health.monitor import HealthFigures
    from fmgateway.openai_surface import answer as openai_answer
    from fmgateway.openai_surface import request as openai_request
    from fmgateway.values.candidates import Candidate
    from fmgateway.values.errors import InvalidRequest


def health(event: dict) -> dict:
    return http.respond(200, {"status": "ok"})


def api_description(event: dict) -> dict:
    """The OpenAPI document generated at build time (infra/openapi.py), served as it is."""
    return {"statusCode": 200, "headers": dict(http.JSON_HEADERS), "body": _openapi_text()}


@functools.cache
def _openapi_text() -> str:
    # beside handlers/ in the Lambda bundle; local mode generates it at start and names it in FMGW_OPENAPI_FILE
    path = os.environ.get("FMGW_OPENAPI_FILE") or str(Path(__file__).resolve().parents[1] / "openapi.json")
    return Path(path).read_text()


def live_health(figures: HealthFigures | None, window_seconds: float) -> dict:
    """A model's merged recent window (README "Routing strategies"): nulls where nothing was measured."""
    figures = figures or HealthFigures(window_seconds=window_seconds)
    measured = figures.calls > 0
    return {
        "calls": figures.calls,
        "errorRate": round(figures.error_rate, 4) if measured else None,
        "throttleRate": round(figures.throttle_rate, 4) if measured else None,
        "p50Ms": figures.p50_ms,
        "p99Ms": figures.p99_ms,
        "ttftP50Ms": figures.ttft_p50_ms,
        "windowSeconds": figures.window_seconds,
    }


def list_models(event: dict) -> dict:
    gateway = runtime.gateway()
    config = gateway.config.get()
    models = list(config.catalog.models.values())
    embedding = list(config.embeddings.models.values())
    invoke_ids = [model.invoke_id for model in models] + [entry.model.invoke_id for entry in embedding]
    states = gateway.breaker.current(invoke_ids, config.breaker)
    window = float(config.breaker.get("windowSeconds", 60))
    data = []
    for model in models:
        data.append(
            {
                "id": model.alias,
                "object": "model",
                "created": 0,
                "owned_by": model.provider,
                **model.describe(),
                "tiers": [tier for tier, chain in config.tiers.items() if model.alias in chain],
                "breaker": gateway.breaker.display_state(states[model.invoke_id]),
                "health": live_health(gateway.health_view.figures(Candidate(model).health_key), window),
            }
        )
    for entry in embedding:  # /v1/embeddings and embedding bodies on /model/{modelId}/invoke
        data.append(
            {
                "id": entry.alias,
                "object": "model",
                "created": 0,
                "owned_by": entry.model.provider,
                **entry.describe(),
                "routes": [name for name, chain in config.embeddings.routes.items() if entry.alias in chain],
                "breaker": gateway.breaker.display_state(states[entry.model.invoke_id]),
                "health": live_health(gateway.health_view.figures(Candidate(entry.model).health_key), window),
            }
        )
    return http.respond(200, {"object": "list", "data": data, "configVersion": config.version})


def _chat_body(event: dict) -> dict:
    config = runtime.gateway().config.get()
    return validation.chat_body(http.json_body(event, config.max_request_bytes), config.s3_input_buckets)


def chat(event: dict) -> dict:
    body = _chat_body(event)
    return _converse_response(event, run(ChatRequest.from_body(body), event))


def task(event: dict, tier: str) -> dict:
    body = _chat_body(event)
    for field in ("model", "tier"):
        if field in body:
            path = event.get("resource") or event.get("path")
            raise InvalidRequest(f"body.{field}: {path} takes its tier from the path; use /v1/chat to choose")
    return _converse_response(event, run(ChatRequest.from_body(body, path_route=tier), event))


def chat_completions(event: dict) -> dict:
    gateway = runtime.gateway()
    config = gateway.config.get()
    body = http.json_body(event, config.max_request_bytes)
    translation = openai_request.translate(body, config.catalog)
    result = run(translation.request, event, translation.step(gateway.converse_step))
    payload = openai_answer.to_response(result, http.request_id(event), int(time.time()), translation)
    return http.respond(200, payload, openai_answer.gateway_headers(result))


def _converse_response(event: dict, result: ChatResult) -> dict:
    return http.respond(200, result.body())


def run(request: ChatRequest, event: dict | None = None, step: InvocationStep | None = None) -> ChatResult:
    """``event``: the API Gateway event, whose API key id and request id go into the request's requestMetadata;
    ``step``: the invocation step (default: Converse)."""
    gateway = runtime.gateway()
    if event is not None:
        request = request_metadata.identified(request, http.tenant_of(event), http.request_id(event))
    if gateway.config.get().log_prompts:
        logger.info("prompt", extra={"messages": request.messages, "system": request.system})
    result = gateway.chat(request, step)
    account(result)
    return result


def account(result: ChatResult) -> None:
    """Metrics and the log line of an answer (the streaming function accounts its streams the same way)."""
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


ROUTES: dict[str, dict[str, http.Route]] = {
    "/v1/health": {"GET": health},
    "/v1/openapi.json": {"GET": api_description},
    "/v1/models": {"GET": list_models},
    "/v1/chat": {"POST": chat},
    "/v1/chat/completions": {"POST": chat_completions},
}


# The Bedrock Runtime paths and /v1/embeddings (handlers.native, which uses this module's run and account): imported
# on their first request, so the other routes' cold start does not pay for them.
NATIVE_PATHS = frozenset({"/model/{modelId}/converse", "/model/{modelId}/invoke", "/v1/embeddings"})


def task_routes(path: str) -> dict | None:
    """Static task routes come from the configuration (``routes``), so they can change without a deploy; then the
    native paths."""
    if path in NATIVE_PATHS:
        from handlers import native

        return native.ROUTES[path]
    tier = runtime.gateway().config.get().routes.get(path)
    return None if tier is None else {"POST": lambda event: task(event, tier)}


# Bedrock errors are classified by the core; what still escapes from botocore is a dependency (DynamoDB,
# AppConfig through boto) failing: a 503, not a 500.
DEPENDENCY_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def _handle(event: dict, context) -> dict:
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    return http.dispatch(event, ROUTES, task_routes, dependency_errors=DEPENDENCY_ERRORS)


handler = lambda_entry(_handle, correlation_paths.API_GATEWAY_REST)
