"""``POST /v1/chat/completions`` with the ``openai`` SDK against local mode (issue 10, the OpenAI half): tool calling
over two turns, streamed tool-call deltas, ``response_format`` answers checked against their schema, what reaches
"Bedrock" (the simulator's request log), and every field of the README table honoured or refused with a 400 that
names it."""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

from tests.unit.test_openai_field_table import FIELD_CASES, README_FIELDS

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    "required": ["name", "age", "tags", "address"],
    "additionalProperties": False,
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def client(local_gateway):
    return openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key=local_gateway.keys[-1], max_retries=0)


def sim_requests(gateway) -> list[dict]:
    return httpx.get(f"{gateway.simulator}/_sim/requests", timeout=5).json()["requests"]


def test_two_turn_tool_calling_exchange(client):
    first = client.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=ASK,
        tools=[TIME, WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id.startswith("tooluse_")
    assert json.loads(call.function.arguments) == {"city": "sample", "unit": "celsius"}  # the simulator's sample input

    second = client.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[
            *ASK,
            choice.message,  # the assistant message with its tool_calls, appended as SDK users do
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
        ],
        tools=[TIME, WEATHER],
        tool_choice="auto",
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content.startswith("Tool result received:")
    assert "18 degrees and sunny" in second.choices[0].message.content


def test_tool_choice_required_and_none(client, local_gateway):
    required = client.chat.completions.create(model="simple", messages=ASK, tools=[WEATHER], tool_choice="required")
    assert required.choices[0].finish_reason == "tool_calls"
    none = client.chat.completions.create(model="simple", messages=ASK, tools=[WEATHER], tool_choice="none")
    assert none.choices[0].finish_reason == "stop" and none.choices[0].message.tool_calls is None
    assert sim_requests(local_gateway)[-1]["toolConfig"] is False  # "none": the model was given no tools


def test_tool_request_reaches_bedrock_with_metadata(client, local_gateway):
    client.chat.completions.create(
        model="claude-haiku-4-5", messages=ASK, tools=[WEATHER], user="user-42", safety_identifier="hash-abc",
        metadata={"team": "search"},
    )  # fmt: skip
    last = sim_requests(local_gateway)[-1]
    assert last["toolConfig"] is True
    metadata = last["requestMetadata"]
    assert metadata["openai-user"] == "user-42" and metadata["openai-safety-identifier"] == "hash-abc"
    assert metadata["team"] == "search" and metadata["fmgw-model"] == "claude-haiku-4-5"


def test_streamed_tool_call_deltas(client):
    stream = client.chat.completions.create(model="claude-sonnet-4-5", messages=ASK, tools=[WEATHER], stream=True)
    chunks = list(stream)
    deltas = [piece for chunk in chunks if chunk.choices for piece in chunk.choices[0].delta.tool_calls or []]
    assert deltas[0].index == 0 and deltas[0].id.startswith("tooluse_") and deltas[0].type == "function"
    assert deltas[0].function.name == "get_weather" and deltas[0].function.arguments == ""
    assert len(deltas) >= 3  # the name, then the arguments in pieces (the simulator sends two)
    assert all(piece.index == 0 and piece.id is None for piece in deltas[1:])
    arguments = "".join(piece.function.arguments for piece in deltas[1:])
    assert json.loads(arguments) == {"city": "sample", "unit": "celsius"}
    finals = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finals == ["tool_calls"]


def test_streamed_tool_calls_assemble_in_the_sdk(client):
    """The SDK's stream helper puts the deltas together into the same tool call a non-streamed answer has."""
    with client.chat.completions.stream(model="claude-sonnet-4-5", messages=ASK, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] == "sample"


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "nova-pro"])  # native structured output / the forced tool
def test_json_schema_answers_match_the_schema(client, local_gateway, model):
    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Extract: John is 42"}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}},
    )
    answer = json.loads(completion.choices[0].message.content)
    jsonschema.validate(answer, PERSON)
    assert completion.choices[0].finish_reason == "stop" and completion.choices[0].message.tool_calls is None
    last = sim_requests(local_gateway)[-1]
    native = model == "claude-sonnet-4-5"  # its catalog capabilities include structuredOutput; nova-pro's do not
    assert last["outputConfig"] is native and last["toolConfig"] is not native


def test_json_schema_with_the_sdk_parse_helper(client):
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int

    parsed = client.chat.completions.parse(model="nova-pro", messages=[{"role": "user", "content": "John, 42"}],
                                           response_format=Person)  # fmt: skip
    assert isinstance(parsed.choices[0].message.parsed, Person)


def test_json_object_is_parsable_json(client):
    completion = client.chat.completions.create(
        model="simple", messages=[{"role": "user", "content": "Give me JSON"}], response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_streamed_json_schema_is_checked_json(client):
    stream = client.chat.completions.create(
        model="nova-pro",
        messages=[{"role": "user", "content": "Extract: John is 42"}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}},
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    jsonschema.validate(json.loads(text), PERSON)


def test_an_answer_that_misses_the_schema_is_a_502(client):
    """The simulator's structured output fills every property with sample values: a pattern none of its candidate
    strings match makes an answer that does not match on every model, which must never pass as a success (each model
    misses: failure isolation ends it with a 502 after the second)."""
    strict = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^zz[0-9]{3}$"}}, "required": ["code"]}
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[{"role": "user", "content": "A code please"}],
            response_format={"type": "json_schema", "json_schema": {"name": "code", "schema": strict}},
        )
    assert raised.value.status_code == 502
    assert "does not match response_format json_schema 'code'" in raised.value.message


def test_a_file_part_reaches_the_model_as_a_document(client):
    pdf = {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=", "filename": "report.pdf"}}
    completion = client.chat.completions.create(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": [{"type": "text", "text": "Sum it up"}, pdf]}]
    )
    assert completion.choices[0].message.content


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (
            {"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief", "messages": ASK},
            400,
            "POST /model/{modelId}/invoke",
        ),
        (
            {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [
                {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "aGk="}}]}]},
            400,
            "POST /model/{modelId}/invoke",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"maxTokens": 10}},
            400,
            "send it to POST /v1/chat",
        ),
        ({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}, 400, "send it to POST /v1/chat"),
        ({"model": "auto", "messages": ASK, "toolConfig": {"tools": []}}, 400, "send it to POST /v1/chat"),
    ],
)  # fmt: skip
def test_bodies_of_other_apis_are_pointed_to_their_endpoint(local_gateway, body, status, needle):
    with local_gateway.client() as http:
        response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]


CONVERSE_TARGETS = {
    "service_tier": "serviceTier", "tools": "toolConfig", "tool_choice": "toolConfig", "response_format": "toolConfig",
    "max_tokens": "inferenceConfig", "stop": "inferenceConfig", "temperature": "inferenceConfig", "top_p": "inferenceConfig",
    "seed": "additionalModelRequestFields",
}  # fmt: skip
METADATA_KEYS = {"user": "openai-user", "safety_identifier": "openai-safety-identifier"}


@pytest.mark.parametrize(("field", "value", "honoured"), FIELD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FIELD_CASES)])
def test_every_field_is_honoured_or_refused_by_name(local_gateway, field, value, honoured):
    assert field in README_FIELDS
    body = {"model": "claude-sonnet-4-5", "messages": ASK, **({} if field in ("model", "messages") else {field: value})}
    if field in ("model", "messages"):
        body[field] = value
    if field == "stream_options":
        body["stream"] = True
    if field == "tool_choice":
        body["tools"] = [WEATHER]
    if field == "seed" and honoured:
        body["model"] = "command-r-plus"
    with local_gateway.client() as http:
        response = http.post("/v1/chat/completions", json=body)
    if honoured:
        assert response.status_code == 200, response.text
        received = sim_requests(local_gateway)[-1]
        if field in CONVERSE_TARGETS:  # the field reached "Bedrock" as its Converse counterpart
            assert CONVERSE_TARGETS[field] in received["fields"], received
        if field in METADATA_KEYS:
            assert received["requestMetadata"][METADATA_KEYS[field]] == value
    else:
        assert response.status_code == 400, response.text
        assert f"body.{field}" in response.json()["error"]["message"]


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "nova-pro"])  # strict tool use natively / checked by the gateway
def test_strict_tools_answer_on_every_tool_model(client, model):
    strict = {**WEATHER, "function": {**WEATHER["function"], "strict": True}}
    completion = client.chat.completions.create(model=model, messages=ASK, tools=[strict], tool_choice="required")
    (call,) = completion.choices[0].message.tool_calls
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])
