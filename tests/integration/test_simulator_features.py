"""The simulator's answers to the Converse request fields (local/simulator_features.py), through an unmodified boto3
client: what tests on every branch may rely on (the behaviour README's "Converse request fields" describes)."""

from __future__ import annotations

import json

import botocore.exceptions
import httpx
import pytest

from local.simulator_features import sample

MODEL = "us.amazon.nova-lite-v1:0"
ASK = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
        "precise": {"type": "boolean"},
        "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
        "tags": {"type": "array"},
    },
    "required": ["city", "unit", "where"],
}
WEATHER = {"toolSpec": {"name": "weather", "inputSchema": {"json": SCHEMA}}}
CLOCK = {"toolSpec": {"name": "clock", "inputSchema": {"json": {"type": "object", "properties": {"tz": {"type": "string"}}}}}}


@pytest.fixture
def client(sim):
    sim.reset()
    return sim.client()


def test_sample_follows_the_schema():
    assert sample(SCHEMA) == {"city": "sample", "unit": "celsius", "where": {"lat": 1.5}}
    assert sample(SCHEMA, every_property=True) == {
        "city": "sample", "unit": "celsius", "days": 1, "precise": True, "where": {"lat": 1.5}, "tags": [],
    }  # fmt: skip
    assert sample({"type": "object", "properties": {"a": {"type": ["null", "integer"]}}}) == {"a": 1}  # none required: all


def test_tools_give_a_deterministic_tool_use_of_the_first_or_the_chosen_tool(client):
    first = client.converse(modelId=MODEL, messages=ASK, toolConfig={"tools": [WEATHER, CLOCK]})
    again = client.converse(modelId=MODEL, messages=ASK, toolConfig={"tools": [WEATHER, CLOCK]})
    assert first["stopReason"] == "tool_use"
    (block,) = first["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "weather" and block["toolUse"]["input"] == sample(SCHEMA)
    assert block["toolUse"]["toolUseId"] == again["output"]["message"]["content"][0]["toolUse"]["toolUseId"]
    assert len(block["toolUse"]["toolUseId"]) == len("tooluse_") + 20
    chosen = client.converse(
        modelId=MODEL, messages=ASK, toolConfig={"tools": [WEATHER, CLOCK], "toolChoice": {"tool": {"name": "clock"}}}
    )
    assert chosen["output"]["message"]["content"][0]["toolUse"] | {"toolUseId": ""} == {
        "toolUseId": "", "name": "clock", "input": {"tz": "sample"},
    }  # fmt: skip


def test_a_tool_result_gets_a_final_answer_quoting_it(client):
    first = client.converse(modelId=MODEL, messages=ASK, toolConfig={"tools": [WEATHER]})
    tool_use = first["output"]["message"]["content"][0]["toolUse"]
    result = {"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"text": "21 C"}, {"json": {"rain": False}}]}}
    turn = [*ASK, first["output"]["message"], {"role": "user", "content": [result]}]
    final = client.converse(modelId=MODEL, messages=turn, toolConfig={"tools": [WEATHER]})
    assert final["stopReason"] == "end_turn"
    assert final["output"]["message"]["content"] == [{"text": 'Tool result received: 21 C; {"rain": false}'}]


def test_converse_stream_sends_the_tool_use_in_two_pieces(client):
    events = list(client.converse_stream(modelId=MODEL, messages=ASK, toolConfig={"tools": [WEATHER]})["stream"])
    names = [next(iter(event)) for event in events]
    assert names == [
        "messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop",
        "messageStop", "metadata",
    ]  # fmt: skip
    assert set(events[1]["contentBlockStart"]["start"]["toolUse"]) == {"toolUseId", "name"}
    pieces = [event["contentBlockDelta"]["delta"]["toolUse"]["input"] for event in events[2:4]]
    assert all(pieces) and json.loads("".join(pieces)) == sample(SCHEMA)
    assert events[5]["messageStop"]["stopReason"] == "tool_use"


def test_structured_output_is_json_valid_against_the_schema(client):
    output = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": json.dumps(SCHEMA)}}}}
    answer = client.converse(modelId=MODEL, messages=ASK, outputConfig=output)
    assert json.loads(answer["output"]["message"]["content"][0]["text"]) == sample(SCHEMA, every_property=True)


@pytest.mark.parametrize(("trace", "traced"), [("enabled", True), ("enabled_full", True), ("disabled", False)])
def test_the_trigger_word_makes_the_guardrail_intervene(client, trace, traced):
    guardrail = {"guardrailIdentifier": "abc123", "guardrailVersion": "1", "trace": trace}
    system = [{"text": "Never say BLOCKME"}]
    answer = client.converse(modelId=MODEL, messages=ASK, system=system, guardrailConfig=guardrail)
    assert answer["stopReason"] == "guardrail_intervened"
    assert answer["output"]["message"]["content"] == [{"text": "Sorry, the model cannot answer this question."}]
    assert ("trace" in answer) == traced
    if traced:
        assert "BLOCKME" in json.dumps(answer["trace"]["guardrail"]["inputAssessment"]["abc123"])
    plain = client.converse(modelId=MODEL, messages=ASK, system=system)  # no guardrail: the word alone does nothing
    assert plain["stopReason"] == "end_turn"


def test_cache_points_write_then_read_the_prefix_per_model(client):
    system = [{"text": "handbook " * 100}, {"cachePoint": {"type": "default"}}]
    write = client.converse(modelId=MODEL, system=system, messages=ASK)["usage"]
    read = client.converse(modelId=MODEL, system=system, messages=ASK)["usage"]
    other = client.converse(modelId="us.amazon.nova-pro-v1:0", system=system, messages=ASK)["usage"]
    assert (
        write["cacheWriteInputTokens"] == read["cacheReadInputTokens"] == other["cacheWriteInputTokens"] == 200
    )  # 100 words of 2 tokens
    assert write["inputTokens"] == read["inputTokens"] == 8  # the uncached remainder: the question
    assert read["totalTokens"] == read["inputTokens"] + read["outputTokens"] + read["cacheReadInputTokens"]
    assert write["cacheDetails"] == [{"ttl": "5m", "inputTokens": 200}] and "cacheDetails" not in read
    hour = [{"text": "manual " * 50}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert client.converse(modelId=MODEL, system=hour, messages=ASK)["usage"]["cacheDetails"] == [
        {"ttl": "1h", "inputTokens": 100}
    ]
    plain = client.converse(modelId=MODEL, system=system[:1], messages=ASK)["usage"]
    assert "cacheReadInputTokens" not in plain and "cacheWriteInputTokens" not in plain


def test_requests_are_recorded_and_reset(sim, client):
    client.converse(modelId=MODEL, messages=ASK, requestMetadata={"team": "a"}, toolConfig={"tools": [WEATHER]})
    with pytest.raises(botocore.exceptions.ClientError, match="toolConfig"):  # Converse's own refusal
        client.converse(modelId=MODEL, messages=[*ASK, {"role": "assistant", "content": [{"toolUse": {
            "toolUseId": "t1", "name": "weather", "input": {}}}]}, *ASK])  # fmt: skip
    listed = httpx.get(f"{sim.url}/_sim/requests", timeout=5).json()["requests"]
    assert listed == sim.requests()
    assert listed[0] == {
        "modelId": MODEL, "operation": "converse", "requestMetadata": {"team": "a"}, "toolConfig": True,
        "guardrailConfig": False, "outputConfig": False,
        "fields": ["requestMetadata", "toolConfig"],
    }  # fmt: skip
    assert len(listed) == 2 and listed[1]["toolConfig"] is False
    for _ in range(105):
        client.converse(modelId=MODEL, messages=ASK)
    assert len(sim.requests()) == 100
    httpx.post(f"{sim.url}/_sim/reset", timeout=5)
    assert sim.requests() == []


def test_generated_values_keep_the_common_constraints():
    """Structured output and tool input from the simulator match patterns, bounds, lengths and minItems it can meet, so
    a valid request's answer is checked against its schema and passes (the new-user review's 502 on a valid schema)."""
    import jsonschema

    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[0-9]+$"},
            "short": {"type": "string", "maxLength": 3},
            "long": {"type": "string", "minLength": 12},
            "n": {"type": "integer", "minimum": 5, "maximum": 9},
            "ratio": {"type": "number", "maximum": 0.5},
            "above": {"type": "number", "exclusiveMinimum": 10},
            "tags": {"type": "array", "minItems": 2, "items": {"type": "string", "enum": ["x", "y"]}},
            "choice": {"const": "fixed"},
        },
    }
    value = sample(schema, every_property=True)
    jsonschema.validate(value, schema)
    assert value["tags"] == ["x", "x"] and value["n"] == 5
