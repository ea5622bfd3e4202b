"""Bedrock Converse adapter and the classification of its errors.

Classification decides what the gateway does next: a *transient* failure (throttling, 5xx, model timeout
or not ready, model error) moves to the next candidate and counts against the model's breaker; a
*client* failure (validation) is returned to the caller at once, with no fallback and no breaker count;
an *access* failure (model not enabled, IAM) is the operator's problem, reported as 502 without fallback.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
from botocore.config import Config

from fmgateway.values.errors import InvocationError

TRANSIENT = {
    "ThrottlingException": "throttled",
    "ServiceQuotaExceededException": "throttled",
    "TooManyRequestsException": "throttled",
    "ServiceUnavailableException": "unavailable",
    "InternalServerException": "unavailable",
    "ModelNotReadyException": "unavailable",
    "ModelTimeoutException": "timeout",
    "ModelErrorException": "model_error",
    "ModelStreamErrorException": "model_error",
}
CLIENT = {"ValidationException": "invalid"}
ACCESS = {"AccessDeniedException": "access", "ResourceNotFoundException": "access", "UnrecognizedClientException": "access"}


def classify(exc: Exception) -> InvocationError:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        # exceptions inside an event stream arrive with a lower-case first letter (modelStreamErrorException)
        code = code[:1].upper() + code[1:]
        kind = TRANSIENT.get(code) or CLIENT.get(code) or ACCESS.get(code)
        if kind is None:
            kind = "unavailable" if status >= 500 or status == 429 else "invalid" if status == 400 else "access"
        return InvocationError(kind, code, message)
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        # boto3 refused the request before sending it (e.g. an empty text block): the caller's input, not the model
        return InvocationError("invalid", "ValidationException", str(exc))
    if isinstance(exc, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
        return InvocationError("timeout", type(exc).__name__, str(exc))
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError)):
        return InvocationError("unavailable", type(exc).__name__, str(exc))
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return InvocationError("unavailable", type(exc).__name__, str(exc))
    raise exc


def _signature(settings: dict[str, Any]) -> tuple:
    timeouts = settings.get("timeouts", {})
    return (timeouts.get("connectSeconds", 1), timeouts.get("readSeconds", 10))


def client_config(settings: dict[str, Any]) -> Config:
    """One attempt per boto3 call: the gateway decides about retries (``fmgateway.health.retry_budget``): a throttle moves to
    the next candidate, and botocore's standard mode would also retry read timeouts, spending a second full timeout on
    a model that is already too slow, and back off up to seconds while a healthy alternative waits."""
    timeouts = settings.get("timeouts", {})
    return Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=timeouts.get("connectSeconds", 1),
        read_timeout=timeouts.get("readSeconds", 10),
        tcp_keepalive=True,
        max_pool_connections=50,
    )


class BedrockInvoker:
    """``ModelInvoker`` over a boto3 ``bedrock-runtime`` client (real Bedrock or the local simulator).

    The client is built at cold start with default timeouts; ``configure`` rebuilds it only when the
    live configuration's timeouts differ, so those settings follow AppConfig too. One attempt per call:
    same-model retries are the candidate loop's decision (``Gateway.choose``, ``fmgateway.health.retry_budget``).
    """

    def __init__(self, client_factory: Callable[[Config], Any], settings: dict[str, Any] | None = None):
        self._factory = client_factory
        self._signature: tuple = ()
        self._short: dict[int, Any] = {}
        self.client = None
        self.configure(settings or {})

    def configure(self, settings: dict[str, Any]) -> None:
        signature = _signature(settings)
        if signature != self._signature:
            self.client = self._factory(client_config(settings))
            self._signature = signature
            self._short.clear()

    def client_within(self, deadline: float | None) -> Any:
        """The configured client if one attempt (connect + read timeout) fits before ``deadline`` (a
        ``time.perf_counter`` value); otherwise a client whose read timeout does."""
        connect, read = self._signature
        remaining = float("inf") if deadline is None else deadline - time.perf_counter()
        if connect + read <= remaining:
            return self.client
        read_fit = max(1, min(int(read), int(remaining - connect)))
        if read_fit not in self._short:
            settings = {"timeouts": {"connectSeconds": connect, "readSeconds": read_fit}}
            self._short[read_fit] = self._factory(client_config(settings))
        return self._short[read_fit]

    def converse(self, invoke_id: str, request: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        return self._call("converse", invoke_id, with_binary_content(request), deadline)

    def invoke_model(
        self, invoke_id: str, body: dict[str, Any], deadline: float | None = None, metadata: dict[str, str] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """InvokeModel with a provider's native JSON body: the response body's bytes and the response headers (Bedrock
        puts token counts and latency there), classified like ``converse``. ``metadata``: the call's
        requestMetadata, which InvokeModel takes as a JSON object in the ``X-Amzn-Bedrock-Request-Metadata`` header."""
        payload: dict[str, Any] = {
            "body": json.dumps(body, ensure_ascii=False).encode("utf-8"),
            "contentType": "application/json",
            "accept": "application/json",
        }
        if metadata:
            payload["requestMetadata"] = json.dumps(metadata, separators=(",", ":"))
        response = self._call("invoke_model", invoke_id, payload, deadline)
        try:
            raw = response["body"].read()
        except (botocore.exceptions.BotoCoreError, OSError) as exc:  # the connection broke while reading the body
            raise InvocationError("unavailable", type(exc).__name__, str(exc)) from exc
        return raw, dict(response.get("ResponseMetadata", {}).get("HTTPHeaders", {}))

    def converse_stream(self, invoke_id: str, request: dict[str, Any], deadline: float | None = None) -> ModelStream:
        """ConverseStream: one call opens the stream; its events are read by the caller (``ModelStream``), whose errors
        are classified the same way."""
        return ModelStream(self._call("converse_stream", invoke_id, with_binary_content(request), deadline)["stream"])

    def _call(self, operation: str, invoke_id: str, payload: dict[str, Any], deadline: float | None) -> dict[str, Any]:
        """One attempt: the gateway decides what a failure means (another candidate, or a retry of its own)."""
        try:
            return getattr(self.client_within(deadline), operation)(modelId=invoke_id, **payload)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise classify(exc) from exc


class ModelStream:
    """The events of one ConverseStream call, each a ``{"<eventType>": {...}}`` dict; a failure while reading is raised
    as ``InvocationError``. ``close`` drops the connection, so the model stops generating for a caller who left."""

    def __init__(self, events: Any):
        self._events = events
        self._iterator = iter(events)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        try:
            return next(self._iterator)
        except StopIteration:
            raise
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise classify(exc) from exc
        except InvocationError:
            raise
        except Exception as exc:  # urllib3's read errors (ProtocolError, ReadTimeoutError) reach the reader unwrapped
            kind = "timeout" if "Timeout" in type(exc).__name__ else "unavailable"
            raise InvocationError(kind, type(exc).__name__, str(exc)) from exc

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


def with_binary_content(request: dict[str, Any]) -> dict[str, Any]:
    """JSON carries image/document bytes as base64 text (in messages and in tool results); boto3 wants the raw bytes."""
    if not any("text" not in block for message in request["messages"] for block in message["content"]):
        return request
    messages = []
    for message in request["messages"]:
        content = []
        for block in message["content"]:
            if "toolResult" in block and isinstance(block["toolResult"].get("content"), list):
                inner = [_decoded(item) for item in block["toolResult"]["content"]]
                block = {"toolResult": {**block["toolResult"], "content": inner}}
            content.append(_decoded(block))
        messages.append({**message, "content": content})
    return {**request, "messages": messages}


def _decoded(block: dict[str, Any]) -> dict[str, Any]:
    kind = next((k for k in ("image", "document", "video") if k in block), None)
    source = block[kind]["source"] if kind else None
    if kind and source and isinstance(source.get("bytes"), str):
        try:
            raw = base64.b64decode(source["bytes"], validate=True)
        except ValueError:  # binascii.Error, and the ValueError of non-ASCII text
            raise InvocationError("invalid", "ValidationException", f"{kind}.source.bytes is not valid base64") from None
        return {kind: {**block[kind], "source": {"bytes": raw}}}
    return block
