"""The error contract (README "Errors on every route"): OpenAI's error object plus the request id, one shape on every
route, ``type`` OpenAI's for the status, ``code`` the gateway's own name (the former ``type``), ``param`` the field
the error is about without the ``body.`` prefix; and ``x-request-id`` on every answer of the functions."""

from __future__ import annotations

import json

import pytest

from fmgateway.aws import http
from fmgateway.config import schemas
from fmgateway.values import errors
from fmgateway.values.errors import (
    Conflict,
    Forbidden,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    ModelError,
    NotFound,
    PayloadTooLarge,
    Throttled,
    Unavailable,
    UpstreamTimeout,
)

EVENT = {"resource": "/v1/chat", "httpMethod": "POST", "requestContext": {"requestId": "req-9"}}


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error", "invalid_request"),
        (Forbidden("x"), 403, "permission_error", "forbidden"),
        (NotFound("x"), 404, "invalid_request_error", "not_found"),
        (MethodNotAllowed("x"), 405, "invalid_request_error", "method_not_allowed"),
        (Conflict("x"), 409, "invalid_request_error", "conflict"),
        (PayloadTooLarge("x"), 413, "invalid_request_error", "request_too_large"),
        (Throttled("x"), 429, "rate_limit_error", "throttled"),
        (GatewayError("x"), 500, "server_error", "internal_error"),
        (ModelError("x"), 502, "server_error", "model_error"),
        (Unavailable("x"), 503, "service_unavailable_error", "service_unavailable"),
        (UpstreamTimeout("x"), 504, "server_error", "timeout"),
    ],
)
def test_each_error_has_openais_type_for_its_status_and_the_gateways_code(error, status, kind, code):
    assert (error.status, error.type, error.code) == (status, kind, code)
    assert error.body("req-1") == {"error": {"message": "x", "type": kind, "param": None, "code": code, "requestId": "req-1"}}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"), (408, "invalid_request_error"),
     (415, "invalid_request_error"), (429, "rate_limit_error"), (431, "invalid_request_error"), (500, "server_error"),
     (503, "service_unavailable_error"), (504, "server_error")],
)  # fmt: skip
def test_openai_type_by_status(status, kind):
    assert errors.openai_type(status) == kind


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ("body.messages[2].name: not supported", "messages[2].name"),
        ("body.model: unknown model 'gpt-9'", "model"),
        ("body.max_tokens must be smaller than or equal to 128000", "max_tokens"),
        ("body.toolConfig.tools[0].toolSpec.name: duplicate tool name", "toolConfig.tools[0].toolSpec.name"),
        ('body.metadata["a key"]: contains a lone UTF-16 surrogate', 'metadata["a key"]'),
        ("body.messages", "messages"),
        ("body: must be a JSON object", None),
        ("body: invalid JSON (Expecting value at line 1 column 1)", None),
        ("header x-gateway-pin: true or false, got 'yes'", None),
        ("modelId: unknown model 'x'", None),
        ("bodyguard: no", None),
    ],
)
def test_param_is_the_field_a_message_starts_with(message, param):
    assert errors.param_of(message) == param
    assert InvalidRequest(message).param == param


def test_an_explicit_param_wins_over_the_message():
    assert InvalidRequest("body: no", param="messages[0].content").param == "messages[0].content"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "robot", "content": [{"text": "Hi"}]}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"text": "Hi"}], "name": "bob"}]}, "messages[0].name"),  # the unknown key
        ({"messages": [{"content": [{"text": "Hi"}]}]}, "messages[0].role"),  # the missing key
        (
            {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"maxTokens": 0}},
            "inferenceConfig.maxTokens",
        ),
    ],
)
def test_schema_refusals_name_the_field_structurally(body, param):
    with pytest.raises(InvalidRequest) as raised:
        schemas.validate("chat-request", body)
    assert raised.value.param == param and raised.value.body("r")["error"]["param"] == param


def test_every_answer_of_dispatch_carries_x_request_id():
    ok = http.dispatch(EVENT, {"/v1/chat": {"POST": lambda event: http.respond(200, {"ok": True})}})
    assert ok["statusCode"] == 200 and ok["headers"]["x-request-id"] == "req-9"

    def refuse(event):
        raise InvalidRequest("body.messages[1].role: roles must alternate")

    refused = http.dispatch(EVENT, {"/v1/chat": {"POST": refuse}})
    assert refused["statusCode"] == 400 and refused["headers"]["x-request-id"] == "req-9"
    assert json.loads(refused["body"]) == {
        "error": {
            "message": "body.messages[1].role: roles must alternate",
            "type": "invalid_request_error",
            "param": "messages[1].role",
            "code": "invalid_request",
            "requestId": "req-9",
        }
    }
    for answer in (
        http.dispatch(EVENT, {}),  # 404
        http.dispatch(EVENT, {"/v1/chat": {"GET": refuse}}),  # 405
        http.dispatch(EVENT, {"/v1/chat": {"POST": lambda event: 1 / 0}}),  # 500
    ):
        assert answer["headers"]["x-request-id"] == "req-9"
        assert json.loads(answer["body"])["error"]["requestId"] == "req-9"
