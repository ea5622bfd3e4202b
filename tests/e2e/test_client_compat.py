"""Clients as people bring them (issue 20), over HTTP against ``python -m local``: each loop that broke in a real
library, reproduced with the library's own request shape.

- instructor's validation retry and litellm's tool loop send ``name`` on a ``tool`` message; litellm replays an
  assistant message with its ``provider_specific_fields``: accepted, and named in ``x-gateway-unused-fields``.
- AWS's Nova Invoke example sends ``inferenceConfig: {"maxTokens", "temperature"}``.
- instructor 1.3's JSON_SCHEMA mode sends ``{"type": "json_object", "schema": ...}``: refused by name, not ignored.
- AWS example code names ``anthropic.claude-3-sonnet-20240229-v1:0``: its successor answers, with a deprecation header.
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.test_native import bedrock

WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


@pytest.fixture
def client(local_gateway):
    return openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key=local_gateway.keys[-1], max_retries=0)


def test_a_tool_loop_with_names_and_echoed_provider_fields_is_answered_and_the_unused_fields_named(client):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    messages = [
        {"role": "user", "content": "Weather in Paris?", "name": "alice"},
        {"role": "assistant", "content": None, "provider_specific_fields": {"refusal": None}, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny, 21 C"},
    ]  # fmt: skip
    raw = client.chat.completions.with_raw_response.create(model="claude-haiku-4-5", messages=messages, tools=[WEATHER])
    assert raw.http_response.status_code == 200 and raw.parse().choices[0].message.content
    assert raw.headers["x-gateway-unused-fields"] == "messages[0].name, messages[1].provider_specific_fields, messages[2].name"
    hello = [{"role": "user", "content": "Hi"}]
    plain = client.chat.completions.with_raw_response.create(model="claude-haiku-4-5", messages=hello)
    assert "x-gateway-unused-fields" not in plain.headers


def test_another_unknown_key_of_a_message_is_still_refused_by_name(client):
    with pytest.raises(openai.BadRequestError, match="extra_key"):
        client.chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi", "extra_key": 1}])


def test_a_json_object_response_format_with_a_schema_is_refused_by_name(client):
    with pytest.raises(openai.BadRequestError, match="response_format.schema"):
        client.chat.completions.create(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "Give me a user as JSON"}],
            response_format={"type": "json_object", "schema": {"type": "object"}},
        )


def test_awss_nova_invoke_example_with_camel_case_inference_settings(local_gateway):
    body = {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": "Describe the purpose of a 'hello world' program."}]}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.7, "topP": 0.9},
    }
    response = bedrock(local_gateway).invoke_model(modelId="us.amazon.nova-lite-v1:0", body=json.dumps(body))
    answer = json.loads(response["body"].read())
    assert answer["output"]["message"]["content"][0]["text"] and answer["stopReason"] == "end_turn"


def test_the_model_id_of_aws_examples_answers_through_its_successor_with_a_deprecation_header(local_gateway):
    response = bedrock(local_gateway).converse(
        modelId="anthropic.claude-3-sonnet-20240229-v1:0", messages=[{"role": "user", "content": [{"text": "Hello"}]}]
    )
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-gateway-model"] == "claude-sonnet-4-5"
    assert headers["x-gateway-deprecation"] == "claude-3-sonnet retired, using claude-sonnet-4-5"


def test_boto3_without_any_credentials_works_unsigned_with_the_key_hook(local_gateway, monkeypatch):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    client = boto3.session.Session().client(
        "bedrock-runtime", endpoint_url=local_gateway.url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    key = local_gateway.keys[-1]
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: request.headers.__setitem__("x-api-key", key)
    )
    response = client.converse(modelId="simple", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert response["output"]["message"]["content"][0]["text"]
