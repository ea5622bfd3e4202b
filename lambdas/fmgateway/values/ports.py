"""The small interfaces the core depends on. AWS adapters and in-memory fakes implement them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from fmgateway.values.backends import Backend


class ModelInvoker(Protocol):
    """Bedrock Converse. Raises ``fmgateway.values.errors.InvocationError`` with a classification on failure."""

    def converse(self, invoke_id: str, request: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
        """``deadline`` (a ``time.perf_counter`` value): the call must not outlive it, retries included."""

    def converse_stream(self, invoke_id: str, request: dict[str, Any], deadline: float | None = None) -> Iterator[dict[str, Any]]:
        """ConverseStream: an iterator of ``{"<eventType>": {...}}`` events (with a ``close()`` that drops the
        connection); failures while opening or reading raise ``InvocationError`` like ``converse``."""

    def invoke_model(
        self, invoke_id: str, body: dict[str, Any], deadline: float | None = None, metadata: dict[str, str] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """InvokeModel with a provider's native JSON body: the response body and headers (Bedrock-native paths)."""

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply the live configuration's timeouts and retries."""


class EndpointInvoker(Protocol):
    """The invoker of a backend kind whose calls need more than an id (a SageMaker endpoint: its container's format,
    its inference component): ``bind`` gives the ``ModelInvoker`` of one backend."""

    def bind(self, backend: Backend) -> ModelInvoker: ...

    def configure(self, settings: dict[str, Any]) -> None: ...


class BreakerStore(Protocol):
    """Breaker records with optimistic concurrency: ``put`` succeeds only if the version still matches."""

    def get(self, key: str) -> tuple[dict[str, Any] | None, int]: ...

    def get_many(self, keys: list[str]) -> dict[str, tuple[dict[str, Any] | None, int]]:
        """Every key the store answered for, ``(None, 0)`` when it has no record; unread keys are left out."""

    def put(self, key: str, record: dict[str, Any], expected_version: int) -> bool: ...


class ResponseStore(Protocol):
    """Exact-match response cache: the last good answer per normalised request."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None: ...
