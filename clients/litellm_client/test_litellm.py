"""litellm as a client of the gateway: its ``openai/...`` provider at the OpenAI route and its ``bedrock/...`` provider
at the native routes, and the tool loop exactly as litellm's docs show it (the assistant message replayed as litellm
returns it, ``provider_specific_fields`` included, and tool messages carrying ``name``)."""

from __future__ import annotations

import json

import litellm
import pytest

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                "required": ["location"],
            },
        },
    }
]


def get_current_weather(location: str) -> str:
    return json.dumps({"location": location, "temperature": "72", "unit": "fahrenheit"})


@pytest.fixture(scope="module")
def openai_route(url, key):
    return {"model": "openai/claude-haiku-4-5", "api_base": f"{url}/v1", "api_key": key}


def test_openai_provider_chat_and_stream(openai_route, unique):
    answer = litellm.completion(messages=[{"role": "user", "content": f"Say hi {unique}"}], **openai_route)
    assert answer.choices[0].message.content
    chunks = list(litellm.completion(messages=[{"role": "user", "content": f"Count {unique}"}], stream=True, **openai_route))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_the_documented_tool_loop(openai_route, unique):
    messages = [{"role": "user", "content": f"What's the weather like in San Francisco? {unique}"}]
    response = litellm.completion(messages=messages, tools=TOOLS, tool_choice="auto", **openai_route)
    response_message = response.choices[0].message
    tool_calls = response_message.tool_calls
    assert tool_calls
    messages.append(response_message)  # as litellm's docs do: its own message object, extra fields and all
    for tool_call in tool_calls:
        arguments = json.loads(tool_call.function.arguments)
        messages.append(
            {
                "tool_call_id": tool_call.id,
                "role": "tool",
                "name": tool_call.function.name,
                "content": get_current_weather(arguments.get("location", "")),
            }
        )
    second = litellm.completion(messages=messages, **openai_route)
    assert second.choices[0].message.content


def test_bedrock_provider_with_the_gateway_as_endpoint(tls_url, key, ca_file, unique, monkeypatch):
    """litellm's bedrock provider signs with SigV4, or sends a Bedrock API key as a bearer token: the latter, over
    HTTPS, with the gateway's key (AWS_BEARER_TOKEN_BEDROCK as litellm documents it)."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    monkeypatch.setenv("AWS_CA_BUNDLE", ca_file)
    answer = litellm.completion(
        model="bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
        messages=[{"role": "user", "content": f"Say hi {unique}"}],
        aws_region_name="us-east-1",
        api_base=tls_url,
        ssl_verify=ca_file,
    )
    assert answer.choices[0].message.content
