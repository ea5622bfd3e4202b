"""The openai SDK (1.x) against the gateway's OpenAI route: what applications do with it, unchanged but for base_url."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel


@pytest.fixture(scope="module")
def client(url, key):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def test_chat(client, unique):
    answer = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": f"Say hi {unique}"}])
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens > 0 and answer._request_id


def test_stream_with_usage(client, unique):
    chunks = list(
        client.chat.completions.create(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": f"Count to five {unique}"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_tools_round_trip(client, unique):
    messages = [{"role": "user", "content": f"What is the weather in Paris? {unique}"}]
    first = client.chat.completions.create(model="claude-haiku-4-5", messages=messages, tools=[WEATHER], tool_choice="required")
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": "18 degrees, sunny"}]
    second = client.chat.completions.create(model="claude-haiku-4-5", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content


class City(BaseModel):
    name: str
    population: int


def test_parse_with_a_pydantic_model(client, unique):
    parsed = client.beta.chat.completions.parse(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": f"The largest city in France {unique}"}],
        response_format=City,
    )
    city = parsed.choices[0].message.parsed
    assert isinstance(city, City)


def test_embeddings_float_and_base64(client):
    floats = client.embeddings.create(model="titan-embed-text-v2", input=["one", "two"], encoding_format="float")
    assert len(floats.data) == 2 and all(isinstance(x, float) for x in floats.data[0].embedding)
    # the SDK's default asks for base64 and decodes it itself
    decoded = client.embeddings.create(model="titan-embed-text-v2", input="one")
    assert len(decoded.data[0].embedding) == len(floats.data[0].embedding)
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)


def test_a_bad_request_is_a_bad_request_error_naming_the_field(client):
    orphan = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_nope", "content": "18 degrees"}]
    with pytest.raises(openai.BadRequestError) as caught:  # a tool result answering no tool call
        client.chat.completions.create(model="claude-haiku-4-5", messages=orphan)
    error = caught.value
    assert error.status_code == 400 and error.type == "invalid_request_error"
    assert error.param == "messages[1].tool_call_id" and error.code == "invalid_request"
    assert error.request_id


def test_a_field_the_api_schema_refuses_names_no_param(client):
    """API Gateway's request validator (local mode's too) answers before the function: its 400 has no param."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "bogus", "content": "hi"}])
    assert caught.value.type == "invalid_request_error" and caught.value.request_id


def test_an_unknown_model_is_refused_naming_the_param(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.param == "model" and caught.value.request_id


def test_a_bad_key_is_an_authentication_error(url):
    bad = openai.OpenAI(base_url=f"{url}/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises((openai.AuthenticationError, openai.PermissionDeniedError)) as caught:
        bad.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.request_id and caught.value.message
