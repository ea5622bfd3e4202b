"""The streaming function's ASGI app: plain HTTP in (as the AWS Lambda Web Adapter forwards API Gateway's requests),
the streaming routes of ``fmgateway.serving`` behind it, server-sent events out, chunk by chunk.

Routes: ``POST /v1/chat/completions`` (OpenAI SSE with ``stream: true``, the plain JSON answer without),
``POST /v1/chat/stream`` and ``POST <task route>/stream`` (native ConverseStream events as SSE, then a ``gateway``
event), and the Bedrock Runtime stream paths (``/model/{modelId}/converse-stream``, ``/invoke-with-response-stream``).

Served by uvicorn (pure Python: uvicorn + h11 + click, no extras) from ``run.sh`` in Lambda, and in local mode.
The core is synchronous (boto3), so each request runs in a worker thread and the stream is pulled one frame at a
time; a task watches for the client leaving and then closes the stream, which stops the upstream read at once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    from fmgateway.aws import http
    from fmgateway.aws.telemetry import metrics
    from fmgateway.serving import answers, converse_routes, openai_routes
    from fmgateway.values.errors import PayloadTooLarge

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit: a larger body never reaches the function there
REQUEST_CONTEXT_HEADER = "x-amzn-request-context"  # the Web Adapter's copy of API Gateway's requestContext

ROUTES: dict[str, dict[str, http.Route]] = {
    "/v1/health": {"GET": converse_routes.health},  # the Web Adapter's readiness check (AWS_LWA_READINESS_CHECK_PATH)
    "/v1/chat/completions": {"POST": openai_routes.chat_completions_or_stream},
    "/v1/chat/stream": {"POST": converse_routes.chat_stream},
}


def more_routes(path: str) -> dict[str, http.Route] | None:
    """Routes known from the path alone: task-route streams, and the Bedrock Runtime stream paths."""
    from fmgateway.serving import bedrock_routes  # on the first such request only

    return converse_routes.task_stream_route(path) or bedrock_routes.stream_routes(path)


def handle(event: dict) -> dict[str, Any]:
    """A proxy event in; a proxy response out, whose ``stream`` (if any) is still to be sent."""
    answers.count_request()
    return http.dispatch(event, ROUTES, more_routes, dependency_errors=answers.DEPENDENCY_ERRORS)


def proxy_event(scope: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The API Gateway proxy event the routes take, rebuilt from the request the Web Adapter forwarded."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    try:
        context = json.loads(headers.get(REQUEST_CONTEXT_HEADER) or "{}")
    except ValueError:
        context = {}
    context = context if isinstance(context, dict) else {}
    context.setdefault("requestId", str(uuid.uuid4()))
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:  # handed on as base64: the route's body reader refuses it with a 400 that says why
        text, encoded = base64.b64encode(body).decode("ascii"), True
    return {
        "resource": scope["path"],
        "path": scope["path"],
        "httpMethod": scope["method"],
        "headers": headers,
        "queryStringParameters": None,
        "requestContext": context,
        "body": text or None,
        "isBase64Encoded": encoded,
    }


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES or not message.get("more_body"):
            break
    event = proxy_event(scope, bytes(body))
    try:
        if len(body) > MAX_BODY_BYTES:
            too_large = PayloadTooLarge(f"body: larger than the limit of {MAX_BODY_BYTES} bytes")
            response = http.error_response(too_large, event)
        else:
            response = await asyncio.to_thread(handle, event)
        await _send(response, receive, send)
    finally:
        metrics.flush_metrics()  # one EMF record per request, as Powertools' decorator does per invocation


async def _send(response: dict[str, Any], receive: Any, send: Any) -> None:
    headers = [(name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in response["headers"].items()]
    await send({"type": "http.response.start", "status": response["statusCode"], "headers": headers})
    stream = response.get("stream")
    if stream is None:
        await send({"type": "http.response.body", "body": response["body"].encode("utf-8")})
        return
    left = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        left.set()
        await asyncio.to_thread(stream.close)  # breaks a read blocked on the next token

    watcher = asyncio.create_task(watch())
    frames = iter(stream)
    try:
        while not left.is_set():
            frame = await asyncio.to_thread(next, frames, None)
            if frame is None:
                break
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if not left.is_set():
            await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # runs the stream's accounting if it was left unfinished
