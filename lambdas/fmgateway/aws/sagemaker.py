"""SageMaker AI real-time endpoints as gateway backends (issue 23): ``sagemaker-runtime`` ``InvokeEndpoint`` and
``InvokeEndpointWithResponseStream``, optionally naming an inference component (how LoRA adapters are served), with
the container's chat format translated by ``fmgateway.native.containers``.

``SageMakerEndpoints`` is the ``EndpointInvoker`` of the ``sagemaker`` backend kind: one boto3 client (built on the
first call, so a deployment without SageMaker entries never pays for it), bound per backend to its endpoint, component
and container. Errors are classified as Bedrock's are: throttles, 5xx, a model error or a copy not ready move to the
next candidate and count against the endpoint's breaker; a missing endpoint or component is the operator's (access).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
from botocore.config import Config

from fmgateway.aws.bedrock import client_config
from fmgateway.native import containers
from fmgateway.native.bodies import Untranslatable
from fmgateway.values.backends import Backend
from fmgateway.values.errors import InvocationError

CODES = {
    "ThrottlingException": "throttled",
    "ModelNotReadyException": "unavailable",
    "ServiceUnavailable": "unavailable",
    "InternalFailure": "unavailable",
    "InternalDependencyException": "unavailable",
    "ModelError": "model_error",
    "ModelStreamError": "model_error",
    "InternalStreamFailure": "unavailable",
    "ValidationError": "access",  # no such endpoint or inference component: the configuration's, not the caller's
}


def classify(exc: Exception) -> InvocationError:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Unknown"), error.get("Message", "")
        code = code[:1].upper() + code[1:]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind = CODES.get(code) or ("unavailable" if status >= 500 or status == 429 else "access")
        return InvocationError(kind, code, message)
    if isinstance(exc, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
        return InvocationError("timeout", type(exc).__name__, str(exc))
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return InvocationError("unavailable", type(exc).__name__, str(exc))
    raise exc


class SageMakerEndpoints:
    """The ``sagemaker`` backend kind's invoker: ``bind`` one backend, ``configure`` the shared client's timeouts."""

    def __init__(self, client_factory: Callable[[Config], Any]):
        self._factory = client_factory
        self._settings: dict[str, Any] = {}
        self._client: Any = None

    def configure(self, settings: dict[str, Any]) -> None:
        if settings != self._settings:
            self._settings, self._client = dict(settings), None  # rebuilt on the next call

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._factory(client_config(self._settings))
        return self._client

    def bind(self, backend: Backend) -> Endpoint:
        return Endpoint(self, backend)


class Endpoint:
    """One endpoint (and component) as a ``ModelInvoker``: Converse in, Converse out."""

    def __init__(self, endpoints: SageMakerEndpoints, backend: Backend):
        self.endpoints, self.backend = endpoints, backend
        self.container = str(backend.container)

    def configure(self, settings: dict[str, Any]) -> None:
        self.endpoints.configure(settings)

    def _call(self, operation: str, request: dict[str, Any], stream: bool) -> dict[str, Any]:
        try:
            body = containers.to_chat(request, stream=stream)
        except Untranslatable as exc:
            raise InvocationError("invalid", "ValidationException", str(exc)) from None
        payload: dict[str, Any] = {
            "EndpointName": self.backend.endpoint,
            "Body": json.dumps(body).encode("utf-8"),
            "ContentType": "application/json",
            "Accept": "application/json",
        }
        if self.backend.inference_component:
            payload["InferenceComponentName"] = self.backend.inference_component
        try:
            return getattr(self.endpoints.client, operation)(**payload)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise classify(exc) from exc

    def converse(self, invoke_id: str, request: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        response = self._call("invoke_endpoint", request, stream=False)
        try:
            answer = containers.from_chat(json.loads(response["Body"].read()))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvocationError("model_error", "InvalidResponse", f"{self.backend.endpoint}: {exc}") from None
        answer["metrics"] = {"latencyMs": int((time.perf_counter() - started) * 1000)}
        return answer

    def converse_stream(self, invoke_id: str, request: dict[str, Any], deadline: float | None = None) -> EndpointStream:
        response = self._call("invoke_endpoint_with_response_stream", request, stream=True)
        return EndpointStream(response["Body"], containers.FRAMING[self.container])

    def invoke_model(self, *args: Any, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        raise InvocationError("invalid", "ValidationException", "a SageMaker endpoint takes Converse-shaped requests")


class EndpointStream:
    """A response stream's ``PayloadPart`` bytes, reassembled into chunks and turned into ConverseStream's events;
    ``close`` drops the connection (the endpoint stops generating for a caller who left)."""

    def __init__(self, events: Any, framing: str):
        self._events = events
        self._converse = containers.stream_events(self._chunks(containers.Reassembler(framing)))

    def _chunks(self, reader: containers.Reassembler) -> Iterator[dict[str, Any]]:
        try:
            for event in self._events:
                if "PayloadPart" in event:
                    yield from reader.feed(event["PayloadPart"].get("Bytes", b""))
                    continue
                name = next(iter(event), "Unknown")  # ModelStreamError, InternalStreamFailure
                detail = event.get(name) or {}
                raise InvocationError(CODES.get(name, "unavailable"), name, str(detail.get("Message", detail)))
            yield from reader.close()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise classify(exc) from exc
        except ValueError as exc:  # a frame that is not JSON
            raise InvocationError("model_error", "InvalidResponse", str(exc)) from None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        try:
            return next(self._converse)
        except StopIteration:
            raise
        except InvocationError:
            raise
        except ValueError as exc:
            raise InvocationError("model_error", "InvalidResponse", str(exc)) from None
        except Exception as exc:  # urllib3's read errors reach the reader unwrapped
            kind = "timeout" if "Timeout" in type(exc).__name__ else "unavailable"
            raise InvocationError(kind, type(exc).__name__, str(exc)) from exc

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
