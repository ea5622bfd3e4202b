"""The gateway's error contract: one exception type per HTTP status of DESIGN.md's error table."""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    type = "internal_error"

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def body(self, request_id: str) -> dict:
        return {"error": {"type": self.type, "message": self.message, "requestId": request_id}}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request"


class Forbidden(GatewayError):
    status = 403
    type = "forbidden"


class NotFound(GatewayError):
    status = 404
    type = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "method_not_allowed"

    def __init__(self, message: str, *, allow: list[str] | None = None):
        super().__init__(message)
        self.allow = allow or []

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allow)} if self.allow else {}


class PayloadTooLarge(GatewayError):
    status = 413
    type = "request_too_large"


class Throttled(GatewayError):
    status = 429
    type = "throttled"


class ModelError(GatewayError):
    status = 502
    type = "model_error"


class Unavailable(GatewayError):
    status = 503
    type = "service_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout"


class Conflict(GatewayError):
    status = 409
    type = "conflict"


class ConfigError(ValueError):
    """The gateway configuration is invalid; the message names the offending field."""


class InvocationError(Exception):
    """A model call that failed, classified (``fmgateway.aws.bedrock.classify``): ``kind`` decides what the loop does next."""

    def __init__(self, kind: str, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.kind, self.code, self.message = kind, code, message

    @property
    def transient(self) -> bool:
        return self.kind in ("throttled", "unavailable", "timeout", "model_error")


# A failure that may follow the request rather than the model (README "Failure isolation"): Bedrock's
# ModelErrorException (424). It counts against a model only once the next model has not failed the same way.
# An invocation step's own verdict of the same kind: the answer does not match the output schema the request asked for
# (OpenAI response_format), which may be the schema's fault as much as the model's.
OUTPUT_SCHEMA_MISMATCH = "OutputSchemaMismatch"
REQUEST_SHAPED_ERRORS = frozenset({"ModelErrorException", OUTPUT_SCHEMA_MISMATCH})
