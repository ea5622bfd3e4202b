"""The gateway's error contract: one exception type per HTTP status of DESIGN.md's error table, and the one error
object every route answers with (README "Errors on every route"): OpenAI's error object plus the gateway's request id,
``{"error": {"message", "type", "param", "code", "requestId"}}``."""

from __future__ import annotations

import re

# OpenAI's documented error types, by status. The openai SDK picks its exception class by status alone
# (openai/_client.py ``_make_status_error``: 400 BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError,
# 404 NotFoundError, 409 ConflictError, 422 UnprocessableEntityError, 429 RateLimitError, >= 500 InternalServerError)
# and reads ``type``, ``param`` and ``code`` from the body as they are; the names here are the ones OpenAI documents:
# - invalid_request_error (every 4xx the caller fixes in the request) and rate_limit_error (429, code ``slow_down``),
#   service_unavailable_error (503, code ``server_is_overloaded``): OpenAI's error-codes guide
#   (https://platform.openai.com/docs/guides/error-codes, "API errors");
# - server_error (500 and the other 5xx): OpenAI's OpenAPI spec (openai-python ``types/realtime/realtime_error.py``:
#   'The type of error (e.g., "invalid_request_error", "server_error")'), and the type of OpenAI's own 500 answers;
# - authentication_error (401): OpenAI's OpenAPI spec (openai-python ``types/beta/session_turn_error.py``: "The API
#   credentials are invalid or lack the required access");
# - permission_error (403): OpenAI documents no type of its own for a 403; the name of the SDK's class for it
#   (PermissionDeniedError), as the set of authentication_error, permission_error, rate_limit_error ... spells it.
OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}
INVALID_REQUEST_ERROR = "invalid_request_error"  # any other 4xx: 400, 404, 405, 408, 409, 411, 413, 414, 415, 431
SERVER_ERROR = "server_error"  # any other 5xx: 500, 502, 504


def openai_type(status: int) -> str:
    """OpenAI's error type for an HTTP status (``OPENAI_TYPES``, else by class: 4xx or 5xx)."""
    return OPENAI_TYPES.get(status) or (INVALID_REQUEST_ERROR if status < 500 else SERVER_ERROR)


# A message that starts with the field it is about: "body.messages[2].name: ...", "body.model ...". The field without
# the "body." prefix is OpenAI's ``param`` ("messages[2].name").
_PARAM = re.compile(r'body((?:\.[A-Za-z_][\w-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])+)(?=[:\s]|$)')


def param_of(message: str) -> str | None:
    """The request field a message names at its start (``body.<path>``, as the gateway's validation messages begin),
    without the ``body.`` prefix; ``None`` when it names none (``body: ...``, a header, the path)."""
    match = _PARAM.match(message)
    return match.group(1).removeprefix(".") if match else None


def error_object(status: int, code: str, message: str, request_id: str, param: str | None = None) -> dict:
    """The error contract's object (the value of ``"error"``) for a status: OpenAI's fields, then the request id."""
    return {"message": message, "type": openai_type(status), "param": param, "code": code, "requestId": request_id}


class GatewayError(Exception):
    """``code`` is the gateway's own name of the error (what ``error.type`` was before OpenAI's types); ``type`` is
    OpenAI's type for the status; ``param`` the request field the error is about, if any."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, retry_after: int | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.param = param

    @property
    def type(self) -> str:
        return openai_type(self.status)

    def fields(self) -> dict:
        """The error object without the request id (a stream's error event adds it)."""
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}

    def body(self, request_id: str) -> dict:
        return {"error": error_object(self.status, self.code, self.message, request_id, self.param)}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class InvalidRequest(GatewayError):
    """``param``: the field the message names; by default read from the message's leading ``body.<path>``."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, retry_after: int | None = None, param: str | None = None):
        super().__init__(message, retry_after=retry_after, param=param if param is not None else param_of(message))


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allow: list[str] | None = None):
        super().__init__(message)
        self.allow = allow or []

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allow)} if self.allow else {}


class PayloadTooLarge(GatewayError):
    status = 413
    code = "request_too_large"


class Throttled(GatewayError):
    status = 429
    code = "throttled"


class ModelError(GatewayError):
    status = 502
    code = "model_error"


class Unavailable(GatewayError):
    status = 503
    code = "service_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    code = "timeout"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


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
