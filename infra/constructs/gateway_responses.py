"""The gateway's error contract on API Gateway's side: ``{"error": {"message", "type", "param", "code", "requestId"}}``
(OpenAI's error object plus the request id; ``fmgateway.values.errors.error_object`` is the functions' side).

Owns the error body template (also used by the 405 catch-all of ``infra/constructs/rest_api.py``), the texts of API
Gateway's own errors (401, 403, 404, 413, 503 ...), one gateway response per response type, the Bedrock error code
each status carries as ``x-amzn-ErrorType`` for boto3 ``bedrock-runtime`` clients, and the ``x-request-id`` header.
Gateway responses belong to the API, so each template serves every route; their templates are not VTL (no
conditions), so ``param`` is always null here: the messages are API Gateway's own.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw

from fmgateway.values.errors import openai_type

JSON = "application/json"

# $context.error.messageString is already a quoted JSON string; $context.error.validationErrorString is not.
MESSAGE = "$context.error.messageString"
VALIDATION_ERROR = '"$context.error.validationErrorString"'


# The request id on every gateway response, where the openai SDK reads request_id (the functions send it too)
REQUEST_ID_HEADERS = {"x-request-id": "context.requestId"}


def error_template(status: int, code: str, message: str = MESSAGE) -> str:
    """A gateway response body in the error contract: OpenAI's ``type`` for ``status``, the gateway's ``code``;
    ``message`` is a JSON value (a quoted string or a variable that renders as one). The message is also at the top
    level, where botocore reads an error's message (boto3 ``bedrock-runtime`` otherwise shows an empty one, as the
    native routes' function errors already avoid)."""
    return (
        '{"error": {"message": ' + message + ', "type": "' + openai_type(status) + '", "param": null, "code": "' + code + '", '
        '"requestId": "$context.requestId"}, "message": ' + message + "}"
    )


# The 401 and 403 of the API-key authorizer; lambdas/fmgateway/aws/access.py has the same text for local mode (a test
# checks that they agree).
UNAUTHORIZED_MESSAGE = (
    "\"Unauthorized: send the API key as the x-api-key header or as 'Authorization: Bearer <key>' "
    '(AWS SigV4 signatures are not accepted)"'
)
FORBIDDEN_MESSAGE = '"Forbidden: the API key is not valid for this API or is disabled"'
# With a 405 catch-all (ANY) on every resource that has methods, API Gateway answers MISSING_AUTHENTICATION_TOKEN only
# for a path that is no resource of the API: a 404, not a 403 about tokens.
NOT_FOUND_MESSAGE = '"Not Found: no such resource; the API is described at GET /v1/openapi.json"'
AUTHORIZER_FAILED_MESSAGE = '"the API key check failed; retry shortly"'
# API Gateway's own payload limit (10 MB); the functions refuse bodies over limits.maxRequestBytes with the same hint.
REQUEST_TOO_LARGE_MESSAGE = (
    '"Request Too Long; send large images and documents by S3 reference instead: source.s3Location.uri = '
    's3://<bucket>/<key>, in a bucket the gateway allows (limits.s3InputBuckets)"'
)

# (construct id, response type, status code or None to keep API Gateway's, error code, message, extra headers); the
# DEFAULT_4XX / DEFAULT_5XX responses keep API Gateway's status and take the type of 400 / 500
GATEWAY_RESPONSES: tuple[tuple[str, apigw.ResponseType, str | None, str, str, dict[str, str]], ...] = (
    ("MissingAuthenticationToken", apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", NOT_FOUND_MESSAGE, {}),
    (
        "Unauthorized",
        apigw.ResponseType.UNAUTHORIZED,
        "401",
        "unauthorized",
        UNAUTHORIZED_MESSAGE,
        {"WWW-Authenticate": "'Bearer'"},
    ),
    ("InvalidApiKey", apigw.ResponseType.INVALID_API_KEY, "403", "forbidden", MESSAGE, {}),
    ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", FORBIDDEN_MESSAGE, {}),
    (
        "AuthorizerFailure",
        apigw.ResponseType.AUTHORIZER_FAILURE,
        "503",
        "service_unavailable",
        AUTHORIZER_FAILED_MESSAGE,
        {"Retry-After": "'1'"},
    ),
    (
        "AuthorizerConfigurationError",
        apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
        "503",
        "service_unavailable",
        AUTHORIZER_FAILED_MESSAGE,
        {"Retry-After": "'1'"},
    ),
    ("Throttled", apigw.ResponseType.THROTTLED, "429", "throttled", MESSAGE, {"Retry-After": "'1'"}),
    ("QuotaExceeded", apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", MESSAGE, {"Retry-After": "'3600'"}),
    ("BadRequestBody", apigw.ResponseType.BAD_REQUEST_BODY, "400", "invalid_request", VALIDATION_ERROR, {}),
    ("BadRequestParameters", apigw.ResponseType.BAD_REQUEST_PARAMETERS, "400", "invalid_request", VALIDATION_ERROR, {}),
    ("UnsupportedMediaType", apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, "415", "invalid_request", MESSAGE, {}),
    ("RequestTooLarge", apigw.ResponseType.REQUEST_TOO_LARGE, "413", "request_too_large", REQUEST_TOO_LARGE_MESSAGE, {}),
    ("ResourceNotFound", apigw.ResponseType.RESOURCE_NOT_FOUND, "404", "not_found", MESSAGE, {}),
    ("IntegrationTimeout", apigw.ResponseType.INTEGRATION_TIMEOUT, "504", "timeout", MESSAGE, {}),
    ("IntegrationFailure", apigw.ResponseType.INTEGRATION_FAILURE, "502", "internal_error", MESSAGE, {}),
    ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, None, "invalid_request", MESSAGE, {}),
    ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, None, "internal_error", MESSAGE, {}),
)

# Bedrock's exception name per status, sent as x-amzn-ErrorType on API Gateway's own error responses (401, 403, 429 ...)
# as the functions send it (fmgateway.native.invocation.ERROR_CODES; a test checks that they agree), so that boto3 raises
# e.g. ThrottlingException for a usage-plan throttle on the Bedrock Runtime paths (infra/constructs/native_routes.py).
BEDROCK_ERROR_CODES = {
    "400": "ValidationException",
    "401": "AccessDeniedException",
    "403": "AccessDeniedException",
    "404": "ResourceNotFoundException",
    "413": "ValidationException",
    "415": "ValidationException",
    "429": "ThrottlingException",
    "502": "ModelErrorException",
    "503": "ServiceUnavailableException",
    "504": "ModelTimeoutException",
}


def add_gateway_responses(api: apigw.RestApi) -> None:
    """One gateway response per entry of ``GATEWAY_RESPONSES`` on ``api``, its body in the error contract."""
    for construct_id, response_type, status, code, message, headers in GATEWAY_RESPONSES:
        headers = {**headers, **REQUEST_ID_HEADERS}
        if status in BEDROCK_ERROR_CODES:  # boto3 bedrock-runtime clients read the code from this header
            headers["x-amzn-ErrorType"] = f"'{BEDROCK_ERROR_CODES[status]}'"
        type_status = int(status) if status else (500 if response_type.response_type == "DEFAULT_5XX" else 400)
        api.add_gateway_response(
            construct_id,
            type=response_type,
            status_code=status,
            response_headers=headers,
            templates={JSON: error_template(type_status, code, message)},
        )
