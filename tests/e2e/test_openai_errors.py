"""The error contract through the real ``openai`` SDK against local mode (issue 20): OpenAI's error object (``type``,
``param``, ``code``) so that ``e.type``, ``e.param`` and ``e.code`` say what OpenAI's would, and ``x-request-id`` on
every answer so that ``e.request_id`` and a completion's ``_request_id`` are set."""

from __future__ import annotations

import httpx
import openai
import pytest

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def client(local_gateway):
    return openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key=local_gateway.keys[-1], max_retries=0)


def test_a_400_names_the_field_as_openai_does(client):
    messages = [*HI, {"role": "tool", "tool_call_id": "call_1", "content": "42"}]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="auto", messages=messages)
    error = raised.value
    assert error.type == "invalid_request_error"
    assert error.param == "messages[1].tool_call_id"  # the field, without the "body." of the message
    assert error.code == "invalid_request"  # what error.type was before: nothing clients relied on is lost
    assert error.request_id and error.request_id == error.body["requestId"]
    assert "messages[1].tool_call_id" in error.message


def test_a_schema_refusal_names_the_unknown_field(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="auto", messages=HI, extra_body={"modalities_v2": ["text"]})
    assert raised.value.type == "invalid_request_error" and raised.value.param == "modalities_v2"
    assert raised.value.code == "invalid_request" and raised.value.request_id


def test_an_unknown_model_names_the_model_field(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-9", messages=HI)
    assert raised.value.param == "model" and raised.value.request_id


def test_no_usable_key_is_an_authentication_error_with_its_request_id(local_gateway):
    # "Bearer" with two words is no single token: the authorizer's 401 (a wrong key is a 403)
    unauthenticated = openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key="not one-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        unauthenticated.chat.completions.create(model="auto", messages=HI)
    error = raised.value
    assert error.status_code == 401 and error.type == "authentication_error" and error.code == "unauthorized"
    assert error.param is None and error.request_id and error.request_id == error.body["requestId"]


def test_an_unknown_key_is_a_permission_error_with_its_request_id(local_gateway):
    denied = openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key="wrong-key-000000000", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as raised:
        denied.models.list()
    assert raised.value.type == "permission_error" and raised.value.code == "forbidden" and raised.value.request_id


def test_an_unknown_path_is_not_found_with_its_request_id(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.get("/nothing/here", cast_to=object)
    assert raised.value.type == "invalid_request_error" and raised.value.code == "not_found" and raised.value.request_id


def test_a_success_has_its_request_id(client, local_gateway):
    completion = client.chat.completions.create(model="auto", messages=HI)
    assert completion._request_id  # read from x-request-id
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert raw.request_id and raw.headers["x-request-id"] == raw.headers["x-amzn-RequestId"]
    with client.chat.completions.with_streaming_response.create(model="auto", messages=HI, stream=True) as streamed:
        assert streamed.request_id  # the streaming function sends it before the first event
    health = httpx.get(f"{local_gateway.url}/v1/health")  # every route, the public ones too
    assert health.headers["x-request-id"]


def test_the_orchestrated_route_and_local_modes_own_answers_have_it_too(local_gateway):
    with local_gateway.client() as http:
        refused = http.post(
            "/v1/chat/orchestrated", json={"tier": "huge", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
        )
        answered = http.post(
            "/v1/chat/orchestrated", json={"tier": "simple", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
        )
        wrong_method = http.put("/v1/chat")
    assert refused.status_code == 400 and refused.headers["x-request-id"] == refused.json()["error"]["requestId"]
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert answered.status_code == 200 and answered.headers["x-request-id"]
    assert wrong_method.status_code == 405 and wrong_method.headers["x-request-id"] == wrong_method.json()["error"]["requestId"]
    assert (
        wrong_method.json()["error"]["type"] == "invalid_request_error"
        and wrong_method.json()["error"]["code"] == "method_not_allowed"
    )


def test_a_throttle_is_a_rate_limit_error(local_gateway):
    """Plan 'standard' allows 10 requests/s with a burst of 20: the usage plan's 429 (local mode's own answer)."""
    throttled = openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key=local_gateway.keys[0], max_retries=0)
    raised = None
    for _ in range(60):
        try:
            throttled.models.list()
        except openai.RateLimitError as error:
            raised = error
            break
    assert raised is not None, "no 429 in 60 requests at once"
    assert raised.type == "rate_limit_error" and raised.code == "throttled" and raised.param is None
    assert raised.request_id and int(raised.response.headers["Retry-After"]) >= 1
