"""The orchestrated route's API Gateway mapping templates, rendered with airspeed-ext as API Gateway renders them
(the request template's output must be StartSyncExecution's JSON body; the response template must produce the
error contract for every execution outcome). Executions themselves: tests/integration/test_routing_state_machine.py."""

from __future__ import annotations

import json

import pytest

from fmgateway.values.errors import openai_type, param_of
from local.orchestration import REQUEST_TEMPLATE, RESPONSE_TEMPLATE, escape_javascript, render, substitute

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:routing"


def request_template(limit: int = 240_000) -> str:
    return substitute(REQUEST_TEMPLATE.read_text(), {"StateMachineArn": ARN, "MaxWrappedBodyChars": limit})


@pytest.mark.parametrize(
    "text",
    ["plain", "quotes \" and ' and \\ backslash", "unicode: naïve 日本語 🙂", "lines\nand\ttabs", "</script> and /slashes/"],
)
def test_the_body_arrives_in_the_execution_input_unchanged(text):
    body = {"model": "auto", "messages": [{"role": "user", "content": [{"text": text}]}]}
    rendered, _ = render(request_template(), json.dumps(body), "req-1", "key-1")
    start = json.loads(rendered)  # the template's output is StartSyncExecution's JSON body
    assert start["stateMachineArn"] == ARN
    execution_input = json.loads(start["input"])
    assert execution_input == {"requestId": "req-1", "tenant": "key-1", "body": body}


def test_a_body_over_the_limit_sends_only_its_size():
    body = {"messages": [{"role": "user", "content": [{"text": "x" * 500}]}]}
    rendered, _ = render(request_template(limit=100), json.dumps(body), "req-2")
    execution_input = json.loads(json.loads(rendered)["input"])
    assert execution_input["tooLarge"]["limit"] == 100 and execution_input["tooLarge"]["size"] > 500
    assert "body" not in execution_input


def response(answer: dict) -> tuple[str, dict]:
    return render(RESPONSE_TEMPLATE.read_text(), json.dumps(answer), "req-3")


def test_a_succeeded_execution_answers_its_output():
    output = {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "gateway": {"degraded": False}}
    text, override = response({"status": "SUCCEEDED", "output": json.dumps(output)})
    assert json.loads(text) == output and override["status"] is None  # the integration response's 200
    assert override["header"] == {"x-request-id": "req-3"}  # the openai SDK's _request_id, on success too


@pytest.mark.parametrize(
    ("error", "cause", "status", "kind", "code"),
    [
        ("InvalidRequest", {"message": "body.model: unknown"}, 400, "invalid_request_error", "invalid_request"),
        ("PayloadTooLarge", {"message": "too big"}, 413, "invalid_request_error", "request_too_large"),
        ("ModelError", {"message": "access denied"}, 502, "server_error", "model_error"),
        ("Unavailable", {"message": "no candidate", "retryAfter": 7}, 503, "service_unavailable_error", "service_unavailable"),
        ("UpstreamTimeout", {"message": "budget"}, 504, "server_error", "timeout"),
        ("InternalError", {"message": "ignored"}, 502, "server_error", "internal_error"),
    ],
)
def test_failed_executions_answer_the_error_contract(error, cause, status, kind, code):
    text, override = response({"status": "FAILED", "error": error, "cause": json.dumps(cause)})
    body = json.loads(text)
    assert override["status"] == status
    assert body["error"]["type"] == kind and body["error"]["code"] == code and body["error"]["requestId"] == "req-3"
    assert body["error"]["type"] == openai_type(status)  # as the functions answer (fmgateway.values.errors)
    assert body["error"]["param"] == ("model" if status == 400 else None)
    if code != "internal_error":
        assert body["error"]["message"] == cause["message"]
    assert override["header"] == ({"Retry-After": "7"} if status == 503 else {}) | {"x-request-id": "req-3"}


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ("body.messages[2].name: not supported", "messages[2].name"),
        ("body.tier must be one of ['simple']", "tier"),
        ("body.toolConfig.tools[0].toolSpec.name: duplicate", "toolConfig.tools[0].toolSpec.name"),
        ("body.messages", "messages"),
        ("body: must be a JSON object", None),
        ('body.metadata["a b"]: not a key', None),  # a quoted key: beyond the template's pattern, no param
        ("unknown routing task 'x'", None),
    ],
)
def test_a_400_names_the_field_its_message_starts_with(message, param):
    """The template derives ``param`` as ``fmgateway.values.errors.param_of`` does (the function's own 400s)."""
    text, _ = response({"status": "FAILED", "error": "InvalidRequest", "cause": json.dumps({"message": message})})
    assert json.loads(text)["error"]["param"] == param
    assert param is None or param_of(message) == param


def test_a_timed_out_execution_is_504():
    text, override = response({"status": "TIMED_OUT", "error": "States.Timeout", "cause": ""})
    error = json.loads(text)["error"]
    assert override["status"] == 504 and error["code"] == "timeout" and error["type"] == "server_error"


def test_messages_with_quotes_stay_valid_json():
    text, _ = response({"status": "FAILED", "error": "InvalidRequest", "cause": json.dumps({"message": 'it\'s "bad" \\ here'})})
    assert json.loads(text)["error"]["message"] == 'it\'s "bad" \\ here'


def test_escape_javascript_follows_java_rules():
    assert escape_javascript("a'b\"c/é\U0001f642\n") == "a\\'b\\\"c\\/\\u00E9\\uD83D\\uDE42\\n"
