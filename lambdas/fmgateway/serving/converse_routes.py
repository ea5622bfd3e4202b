"""The gateway's own API: ``GET /v1/health``, ``GET /v1/openapi.json``, ``POST /v1/chat``, the static task routes of the
configuration (``routes``: e.g. ``/v1/classify``), and their streamed forms (``/v1/chat/stream``,
``<task route>/stream``: ConverseStream events as SSE, then a ``gateway`` event)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fmgateway import runtime
from fmgateway.aws import http
from fmgateway.converse import validation
from fmgateway.core.streaming import ChatStream, sse
from fmgateway.serving.answers import run
from fmgateway.serving.streams import open_stream, streamed
from fmgateway.values.errors import InvalidRequest
from fmgateway.values.exchange import ChatRequest

STREAM_SUFFIX = "/stream"


def health(event: dict) -> dict:
    return http.respond(200, {"status": "ok"})


def api_description(event: dict) -> dict:
    """The OpenAPI document generated at build time (infra/openapi.py), served as it is."""
    return {"statusCode": 200, "headers": dict(http.JSON_HEADERS), "body": _openapi_text()}


@functools.cache
def _openapi_text() -> str:
    # beside fmgateway/ and handlers/ in the Lambda bundle; local mode generates it at start and names it in FMGW_OPENAPI_FILE
    path = os.environ.get("FMGW_OPENAPI_FILE") or str(Path(__file__).resolve().parents[2] / "openapi.json")
    return Path(path).read_text()


def _chat_body(event: dict) -> dict:
    config = runtime.gateway().config.get()
    return validation.chat_body(http.json_body(event, config.max_request_bytes), config.s3_input_buckets)


def _no_choice(event: dict, body: dict, instead: str) -> None:
    """A task route takes its tier from the path: a body that chooses a model or tier is refused, naming the field."""
    for field in ("model", "tier"):
        if field in body:
            path = event.get("resource") or event.get("path")
            raise InvalidRequest(f"body.{field}: {path} takes its tier from the path; use {instead} to choose")


def chat(event: dict) -> dict:
    return http.respond(200, run(ChatRequest.from_body(_chat_body(event)), event).body())


def task(event: dict, tier: str) -> dict:
    body = _chat_body(event)
    _no_choice(event, body, "/v1/chat")
    return http.respond(200, run(ChatRequest.from_body(body, path_route=tier), event).body())


def task_route(path: str) -> dict[str, http.Route] | None:
    """Static task routes come from the configuration (``routes``), so they can change without a deploy."""
    tier = runtime.gateway().config.get().routes.get(path)
    return None if tier is None else {"POST": lambda event: task(event, tier)}


# ---- streamed ----------------------------------------------------------------------------------------------------


def native_frames(stream: ChatStream, request_id: str) -> Iterator[bytes]:
    for name, data in stream.events():
        if name == "error":
            yield sse({"error": {**data, "requestId": request_id}}, event="error")
            return
        yield sse(data, event=name)
    yield sse(stream.gateway_block(), event="gateway")


def chat_stream(event: dict, path_route: str | None = None) -> dict[str, Any]:
    body = _chat_body(event)
    if path_route is not None:
        _no_choice(event, body, "/v1/chat/stream")
    stream = open_stream(event, ChatRequest.from_body(body, path_route=path_route))
    return streamed(stream, native_frames(stream, http.request_id(event)))


def task_stream_route(path: str) -> dict[str, http.Route] | None:
    """``<task route>/stream`` for every static route of the configuration."""
    if not path.endswith(STREAM_SUFFIX):
        return None
    tier = runtime.gateway().config.get().routes.get(path[: -len(STREAM_SUFFIX)])
    if tier is None:
        return None
    return {"POST": lambda event: chat_stream(event, path_route=tier)}
