"""Bedrock Runtime's errors as the simulator answers them: the error codes with their HTTP statuses, the exception
types a stream can end with, and ``SimError``, raised anywhere in the simulator and answered as a Bedrock error
(HTTP status + ``x-amzn-ErrorType`` header + ``{"message": ...}`` body)."""

from __future__ import annotations

ERROR_STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
STREAM_EXCEPTIONS = {
    "modelStreamErrorException",
    "throttlingException",
    "internalServerException",
    "serviceUnavailableException",
    "validationException",
}


class SimError(Exception):
    """An error answered as a Bedrock error response (``body`` replaces ``{"message": ...}``, e.g. SageMaker's)."""

    def __init__(self, code: str, message: str, status: int | None = None, body: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or ERROR_STATUS.get(code, 500)
        self.body = body if body is not None else {"message": message}
