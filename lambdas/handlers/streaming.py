"""Streaming routes: ``POST /v1/chat/completions`` (OpenAI SSE with ``stream: true``, the plain JSON answer without),
``POST /v1/chat/stream`` and ``POST <task route>/stream`` (native ConverseStream events as SSE, then a ``gateway``
event).

The routes take and return API Gateway proxy shapes, like every handler, and run through ``fmgateway.aws.http.dispatch``
for the same error contract; a streamed answer is a proxy response whose ``stream`` (a ``StreamBody``) replaces
``body``. Everything that can refuse a request (validation, every candidate refusing before the first token) happens
before the route returns, so a refusal is a plain HTTP error response, never an SSE body. ``handlers.streaming_app``
serves these routes over HTTP as an ASGI app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from fmgateway import runtime
from fmgateway.aws import http
from fmgateway.aws.telemetry import logger, metrics
from fmgateway.converse import request_metadata, validation
from fmgateway.core import streaming
from fmgateway.core.gateway import ChatRequest, InvocationStep
from fmgateway.core.streaming import ChatStream, sse
from fmgateway.openai_surface import request as openai_request
from fmgateway.openai_surface.answer import openai_frames
from fmgateway.values.errors import InvalidRequest
from handlers import api

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # proxies that buffer responses must not hold the tokens back
}
STREAM_SUFFIX = "/stream"


class StreamBody:
    """The bytes of one streamed answer (server-sent events, or AWS event-stream frames on the Bedrock-native paths);
    ``close`` (the client left) stops the upstream read."""

    def __init__(self, stream: ChatStream, frames: Iterator[bytes]):
        self.stream, self._frames = stream, frames

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._frames
        finally:
            account(self.stream)

    def close(self) -> None:
        self.stream.close()


def _open(event: dict, request: ChatRequest, wrap: Callable[[InvocationStep], InvocationStep] | None = None) -> ChatStream:
    gateway = runtime.gateway()
    if gateway.config.get().log_prompts:
        logger.info("prompt", extra={"messages": request.messages, "system": request.system})
    request = request_metadata.identified(request, http.tenant_of(event), http.request_id(event))
    return streaming.open_stream(gateway, gateway.prepare(request), wrap)


def streamed(stream: ChatStream, frames: Iterator[bytes], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The proxy response of a streamed answer: ``headers`` (default: SSE's) plus the gateway's own."""
    return {
        "statusCode": 200,
        "headers": {
            **(SSE_HEADERS if headers is None else headers),
            "x-gateway-model": stream.model.alias if stream.model else "",
            "x-gateway-route": stream.route,
            "x-gateway-attempts": str(len(stream.attempts)),
            "x-gateway-degraded": "true" if stream.degraded else "false",
        },
        "stream": StreamBody(stream, frames),
    }


# ---- native ConverseStream events ------------------------------------------------------------------------------


def native_frames(stream: ChatStream, request_id: str) -> Iterator[bytes]:
    for name, data in stream.events():
        if name == "error":
            yield sse({"error": {**data, "requestId": request_id}}, event="error")
            return
        yield sse(data, event=name)
    yield sse(stream.gateway_block(), event="gateway")


def chat_stream(event: dict, path_route: str | None = None) -> dict[str, Any]:
    config = runtime.gateway().config.get()
    body = validation.chat_body(http.json_body(event, config.max_request_bytes), config.s3_input_buckets)
    if path_route is not None:
        for field in ("model", "tier"):
            if field in body:
                raise InvalidRequest(f"body.{field}: {event.get('path')} takes its tier from the path; use /v1/chat/stream")
    stream = _open(event, ChatRequest.from_body(body, path_route=path_route))
    return streamed(stream, native_frames(stream, http.request_id(event)))


# ---- OpenAI chat completions -----------------------------------------------------------------------------------


def chat_completions(event: dict) -> dict[str, Any]:
    config = runtime.gateway().config.get()
    body = http.json_body(event, config.max_request_bytes)
    if not isinstance(body, dict) or not body.get("stream"):
        return api.chat_completions(event)  # the sync path, unchanged: the same SDK sends both kinds here
    translation = openai_request.translate(body, config.catalog, streaming=True)
    stream = _open(event, translation.request, wrap=translation.step)
    frames = openai_frames(stream, http.request_id(event), openai_request.include_usage(body), translation)
    return streamed(stream, frames)


# ---- routing and accounting ------------------------------------------------------------------------------------

ROUTES: dict[str, dict[str, http.Route]] = {
    "/v1/health": {"GET": api.health},  # the Web Adapter's readiness check (AWS_LWA_READINESS_CHECK_PATH)
    "/v1/chat/completions": {"POST": chat_completions},
    "/v1/chat/stream": {"POST": chat_stream},
}


def task_stream_routes(path: str) -> dict[str, http.Route] | None:
    """``<task route>/stream`` for every static route of the configuration."""
    if not path.endswith(STREAM_SUFFIX):
        return None
    tier = runtime.gateway().config.get().routes.get(path[: -len(STREAM_SUFFIX)])
    if tier is None:
        return None
    return {"POST": lambda event: chat_stream(event, path_route=tier)}


def handle(event: dict) -> dict[str, Any]:
    """A proxy event in; a proxy response out, whose ``stream`` (if any) is still to be sent."""
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    return http.dispatch(event, ROUTES, more_routes, dependency_errors=api.DEPENDENCY_ERRORS)


def more_routes(path: str) -> dict[str, http.Route] | None:
    """Routes known from the path alone: task-route streams, and the Bedrock Runtime stream paths (handlers.native)."""
    from handlers import native

    return task_stream_routes(path) or native.stream_routes(path)


def account(stream: ChatStream) -> None:
    """Metrics and the log line of a stream, once it has ended (well, with an error, or by the client leaving)."""
    metrics.add_metric(name="StreamTimeToFirstTokenMs", unit=MetricUnit.Milliseconds, value=stream.time_to_first_token_ms)
    if stream.result is not None:
        api.account(stream.result)
    elif stream.error is not None:
        metrics.add_metric(name="StreamErrors", unit=MetricUnit.Count, value=1)
        logger.warning("stream failed", extra={"error": stream.error.message, **stream.gateway_block()})
    elif stream.closed:
        metrics.add_metric(name="StreamsAbandoned", unit=MetricUnit.Count, value=1)
        logger.info("client left the stream", extra=stream.gateway_block())
