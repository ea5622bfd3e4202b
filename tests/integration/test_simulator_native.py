"""The simulator's InvokeModel and InvokeModelWithResponseStream per family, and its embedding models, through an
unmodified boto3 client (``local/simulator_native.py``)."""

from __future__ import annotations

import json
import math

import pytest
from botocore.exceptions import ClientError, EventStreamError

from local.simulator_text import count_tokens, reply_text
from tests.integration.test_bedrock_simulator import _client, _error

BODIES = {
    "us.anthropic.claude-haiku-4-5-20251001-v1:0": (
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300, "messages": [{"role": "user", "content": "Hello world"}]},
        lambda answer: answer["content"][0]["text"],
    ),
    "us.amazon.nova-lite-v1:0": (
        {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "Hello world"}]}]},
        lambda answer: answer["output"]["message"]["content"][0]["text"],
    ),
    "amazon.titan-text-premier-v1:0": ({"inputText": "Hello world"}, lambda answer: answer["results"][0]["outputText"]),
    "us.meta.llama3-3-70b-instruct-v1:0": ({"prompt": "Hello world", "max_gen_len": 300}, lambda answer: answer["generation"]),
    "us.mistral.pixtral-large-2502-v1:0": (
        {"prompt": "Hello world", "max_tokens": 300},
        lambda answer: answer["outputs"][0]["text"],
    ),
}
STREAM_TEXT = {
    "us.anthropic.claude-haiku-4-5-20251001-v1:0": lambda c: c["delta"]["text"] if c["type"] == "content_block_delta" else "",
    "us.amazon.nova-lite-v1:0": lambda c: c.get("contentBlockDelta", {}).get("delta", {}).get("text", ""),
    "amazon.titan-text-premier-v1:0": lambda c: c.get("outputText", ""),
    "us.meta.llama3-3-70b-instruct-v1:0": lambda c: c.get("generation", ""),
    "us.mistral.pixtral-large-2502-v1:0": lambda c: c["outputs"][0]["text"],
}  # fmt: skip


@pytest.fixture
def client(sim):
    sim.reset()
    return _client(sim.url)


@pytest.mark.parametrize("model_id", list(BODIES))
def test_each_family_answers_its_own_body_and_streams_the_same_text(client, model_id):
    body, text_of = BODIES[model_id]
    response = client.invoke_model(modelId=model_id, body=json.dumps(body))
    text = text_of(json.loads(response["body"].read()))
    prompt = "Hello world"
    assert text == reply_text(model_id, prompt)
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) > 0 and int(
        headers["x-amzn-bedrock-input-token-count"]
    ) == count_tokens(prompt)
    stream = client.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(body))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in stream["body"]]
    assert "".join(STREAM_TEXT[model_id](chunk) for chunk in chunks) == text
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == int(headers["x-amzn-bedrock-output-token-count"])


@pytest.mark.parametrize(
    ("model_id", "body"),
    [
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", {"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", {"anthropic_version": "x", "max_tokens": 5, "messages": [], "n": 1}),
        ("us.meta.llama3-3-70b-instruct-v1:0", {"prompt": "hi", "max_tokens": 5}),
        ("amazon.titan-text-premier-v1:0", {"prompt": "hi"}),
        ("amazon.titan-embed-text-v2:0", {"inputText": "hi", "dimensions": 100}),
        ("cohere.embed-english-v3", {"texts": ["hi"]}),
        ("cohere.embed-english-v3", {"texts": ["x"] * 97, "input_type": "search_query"}),
    ],
)
def test_bodies_bedrock_would_refuse_are_validation_errors(client, model_id, body):
    with pytest.raises(ClientError) as caught:
        client.invoke_model(modelId=model_id, body=json.dumps(body))
    assert _error(caught) == ("ValidationException", 400)


def test_embeddings_are_deterministic_normalized_and_of_the_requested_dimension(client):
    def titan(text: str, dimensions: int) -> dict:
        body = json.dumps({"inputText": text, "dimensions": dimensions})
        return json.loads(client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=body)["body"].read())

    first, again, other = titan("a text", 512), titan("a text", 512), titan("another text", 512)
    assert len(first["embedding"]) == 512 and first == again and first["embedding"] != other["embedding"]
    assert math.isclose(sum(v * v for v in first["embedding"]), 1.0, rel_tol=1e-5)
    assert first["inputTextTokenCount"] == 2
    profile = json.loads(
        client.invoke_model(
            modelId="us.amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "a text", "dimensions": 512})
        )["body"].read()
    )
    assert profile["embedding"] == first["embedding"]  # one model, one space, whatever profile reaches it
    cohere = client.invoke_model(
        modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["a", "b"], "input_type": "search_document"})
    )
    answer = json.loads(cohere["body"].read())
    assert [len(v) for v in answer["embeddings"]] == [1024, 1024] and answer["texts"] == ["a", "b"]
    assert int(cohere["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"]) == 2


def test_faults_apply_to_invoke_and_its_stream(sim, client):
    sim.set_faults("us.amazon.nova-lite-v1:0", failAfterEvents=2)
    body, _ = BODIES["us.amazon.nova-lite-v1:0"]
    with pytest.raises(EventStreamError) as caught:
        for _ in client.invoke_model_with_response_stream(modelId="us.amazon.nova-lite-v1:0", body=json.dumps(body))["body"]:
            pass
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    sim.set_faults("amazon.titan-embed-text-v2:0", down=True)
    with pytest.raises(ClientError) as down:
        client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "x"}))
    assert _error(down) == ("ServiceUnavailableException", 503)


ANTHROPIC = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
WEATHER_TOOL = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def anthropic_body(**fields) -> dict:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Weather?"}],
        **fields,
    }


def test_an_anthropic_body_with_tools_is_answered_with_a_tool_call_streamed_and_not(client):
    """Issue 20: the simulator answers tool use on native bodies as on Converse."""
    answer = json.loads(
        client.invoke_model(modelId=ANTHROPIC, body=json.dumps(anthropic_body(tools=[WEATHER_TOOL])))["body"].read()
    )
    assert answer["stop_reason"] == "tool_use" and answer["content"][0]["type"] == "tool_use"
    assert answer["content"][0]["name"] == "get_weather" and answer["content"][0]["input"] == {"city": "sample"}
    stream = client.invoke_model_with_response_stream(modelId=ANTHROPIC, body=json.dumps(anthropic_body(tools=[WEATHER_TOOL])))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in stream["body"]]
    assert chunks[1]["content_block"]["type"] == "tool_use"
    assert json.loads(chunks[2]["delta"]["partial_json"]) == {"city": "sample"}
    assert chunks[-2]["delta"]["stop_reason"] == "tool_use"
    none = json.loads(
        client.invoke_model(
            modelId=ANTHROPIC, body=json.dumps(anthropic_body(tools=[WEATHER_TOOL], tool_choice={"type": "none"}))
        )["body"].read()
    )
    assert none["content"][0]["type"] == "text"


def test_after_the_tool_result_the_answer_is_text(client):
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    ]
    answer = json.loads(
        client.invoke_model(modelId=ANTHROPIC, body=json.dumps(anthropic_body(tools=[WEATHER_TOOL], messages=messages)))[
            "body"
        ].read()
    )
    assert answer["content"][0]["type"] == "text" and answer["stop_reason"] == "end_turn"


def test_an_open_object_schema_gets_a_non_empty_object():
    from local.simulator_features import sample

    assert sample({"type": "object"}) == {"answer": "sample"}
    assert sample({"type": "object", "properties": {}, "additionalProperties": False}) == {}
