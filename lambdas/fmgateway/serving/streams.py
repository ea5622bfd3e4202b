"""A started stream as a proxy response: the streaming function sends its ``stream`` (a ``StreamBody``) instead of a
``body``. Everything that can refuse a request happens before the stream is returned, so a refusal is a plain HTTP
error response, never an SSE body."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fmgateway import runtime
from fmgateway.core import streaming
from fmgateway.core.gateway import InvocationStep
from fmgateway.core.streaming import ChatStream
from fmgateway.serving.answers import account_stream, identified, log_prompt
from fmgateway.values.exchange import ChatRequest

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # proxies that buffer responses must not hold the tokens back
}


class StreamBody:
    """The bytes of one streamed answer (server-sent events, or AWS event-stream frames on the Bedrock-native paths);
    ``close`` (the client left) stops the upstream read."""

    def __init__(self, stream: ChatStream, frames: Iterator[bytes]):
        self.stream, self._frames = stream, frames

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._frames
        finally:
            account_stream(self.stream)

    def close(self) -> None:
        self.stream.close()


def open_stream(event: dict, request: ChatRequest, wrap: Callable[[InvocationStep], InvocationStep] | None = None) -> ChatStream:
    """The request prepared and its stream started: the first token is in, or every candidate has refused."""
    gateway = runtime.gateway()
    log_prompt(gateway.config.get(), request)
    return streaming.open_stream(gateway, gateway.prepare(identified(event, request)), wrap)


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
