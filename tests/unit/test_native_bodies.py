"""Each family's InvokeModel body translated both ways (native <-> Converse), requests and responses, its stream
chunks, and what a family cannot express (``Untranslatable``) or does not have (a 400 naming the field)."""

from __future__ import annotations

import pytest

from fmgateway.native import anthropic, families, llama, mistral, nova, titan
from fmgateway.native.bodies import Untranslatable
from fmgateway.values.errors import InvalidRequest
from fmgateway.values.model import Model

CONVERSATION = {
    "system": [{"text": "Be brief."}],
    "messages": [
        {"role": "user", "content": [{"text": "What is 2+2?"}]},
        {"role": "assistant", "content": [{"text": "4"}]},
        {"role": "user", "content": [{"text": "And 3+3?"}]},
    ],
    "inferenceConfig": {"maxTokens": 200, "temperature": 0.2, "topP": 0.9},
}
ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "6"}]}},
    "stopReason": "max_tokens",
    "usage": {"inputTokens": 12, "outputTokens": 1, "totalTokens": 13},
}


@pytest.mark.parametrize("module", [anthropic, nova, titan, llama, mistral])
def test_a_conversation_survives_the_round_trip_through_each_family(module):
    body = module.converse_to_request(CONVERSATION)
    back = module.request_to_converse(body)
    assert back["inferenceConfig"]["maxTokens"] == 200 and back["inferenceConfig"]["temperature"] == 0.2
    if module is mistral:  # no system role: the system prompt leads the first user turn
        assert back["messages"][0]["content"] == [{"text": "Be brief.\n\nWhat is 2+2?"}] and "system" not in back
        assert back["messages"][1:] == CONVERSATION["messages"][1:]
    else:
        assert back["messages"] == CONVERSATION["messages"]
        assert back["system"] == CONVERSATION["system"]


@pytest.mark.parametrize("module", [anthropic, nova, titan, llama, mistral])
def test_an_answer_survives_the_round_trip_through_each_family(module):
    answer = module.converse_to_response(ANSWER, "some.model-v1:0")
    headers = {"x-amzn-bedrock-input-token-count": "12", "x-amzn-bedrock-output-token-count": "1"}
    back = module.response_to_converse(answer, headers)
    assert back["output"]["message"]["content"] == [{"text": "6"}]
    assert back["stopReason"] == "max_tokens"
    assert back["usage"] == ANSWER["usage"]


def test_anthropic_request_to_converse_maps_every_field():
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 300,
        "system": "You are terse.",
        "temperature": 0.5,
        "top_p": 0.8,
        "top_k": 40,
        "stop_sequences": ["\n\nHuman:"],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
        ],
        "tools": [{"name": "weather", "description": "Weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
    }
    converse = anthropic.request_to_converse(body)
    assert converse["system"] == [{"text": "You are terse."}]
    assert converse["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.5, "topP": 0.8, "stopSequences": ["\n\nHuman:"]}
    assert converse["additionalModelRequestFields"] == {"top_k": 40}
    assert converse["messages"][1]["content"] == [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}}]
    assert converse["messages"][2]["content"] == [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}]
    assert converse["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}, "description": "Weather"}}],
        "toolChoice": {"auto": {}},
    }
    again = anthropic.converse_to_request(converse)  # back to the native body, top_k included
    assert again["top_k"] == 40 and again["tools"][0]["input_schema"] == {"type": "object"}
    assert again["messages"][1]["content"][0] == {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}


def test_anthropic_images_translate_both_ways():
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": [image]}]}
    converse = anthropic.request_to_converse(body)
    assert converse["messages"][0]["content"] == [{"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]
    assert anthropic.converse_to_request(converse)["messages"][0]["content"] == [image]


def test_anthropic_tool_answers_translate_both_ways():
    native_answer = {
        "content": [{"type": "tool_use", "id": "t9", "name": "f", "input": {"x": 1}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    converse = anthropic.response_to_converse(native_answer)
    assert converse["output"]["message"]["content"] == [{"toolUse": {"toolUseId": "t9", "name": "f", "input": {"x": 1}}}]
    assert converse["stopReason"] == "tool_use"
    assert anthropic.converse_to_response(converse, "m")["content"] == native_answer["content"]


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("module", "body", "field"),
    [
        (anthropic, {"anthropic_version": "x", "max_tokens": 5, "messages": HI, "n": 2}, "body.n"),
        (anthropic, {"anthropic_version": "x", "messages": HI}, "body.max_tokens"),
        (anthropic, {"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]}, "content[0]"),
        (nova, {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"max_tokens": 5}}, "max_tokens"),
        (
            nova,
            {
                "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                "inferenceConfig": {"maxTokens": 5, "max_new_tokens": 5},
            },
            "the same setting as maxTokens",
        ),
        (titan, {"inputText": "hi", "textGenerationConfig": {"max_tokens": 5}}, "body.textGenerationConfig.max_tokens"),
        (llama, {"prompt": "hi", "max_tokens": 5}, "body.max_tokens"),
        (mistral, {"prompt": "hi", "max_gen_len": 5}, "body.max_gen_len"),
        (titan, {"inputText": "  "}, "body.inputText"),
    ],
)
def test_a_field_the_family_does_not_have_is_a_400_naming_it(module, body, field):
    with pytest.raises(InvalidRequest) as caught:
        module.request_to_converse(body)
    assert field in caught.value.message


@pytest.mark.parametrize("module", [titan, llama, mistral])
def test_prompt_families_cannot_carry_images_or_tools(module):
    image = {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "AAAA"}}}]}
    with pytest.raises(Untranslatable, match="image"):
        module.converse_to_request({"messages": [image]})
    tools = {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "toolConfig": {"tools": []}}
    with pytest.raises(Untranslatable, match="toolConfig"):
        module.converse_to_request(tools)


def test_one_familys_extra_fields_do_not_travel_to_another():
    converse = anthropic.request_to_converse(
        {"anthropic_version": "x", "max_tokens": 5, "top_k": 3, "messages": [{"role": "user", "content": "hi"}]}
    )
    with pytest.raises(Untranslatable):
        nova.converse_to_request(converse)
    with pytest.raises(Untranslatable):
        llama.converse_to_request(converse)


def test_llama_and_mistral_prompts_are_read_into_turns():
    prompt = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    converse = llama.request_to_converse({"prompt": prompt, "max_gen_len": 64})
    assert converse["system"] == [{"text": "Be kind."}]
    assert converse["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]
    plain = llama.request_to_converse({"prompt": "plain text"})["messages"]
    assert plain == [{"role": "user", "content": [{"text": "plain text"}]}]
    turns = mistral.request_to_converse({"prompt": "<s>[INST] one [/INST] two</s>[INST] three [/INST]"})["messages"]
    assert [m["role"] for m in turns] == ["user", "assistant", "user"] and turns[2]["content"] == [{"text": "three"}]
    assert titan.request_to_converse({"inputText": "User: a\nBot: b\nUser: c\nBot:"})["messages"][2] == {
        "role": "user",
        "content": [{"text": "c"}],
    }


EVENTS = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"delta": {"text": "Hel"}, "contentBlockIndex": 0}),
    ("contentBlockDelta", {"delta": {"text": "lo"}, "contentBlockIndex": 0}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("messageStop", {"stopReason": "end_turn"}),
    ("metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 7}}),
]


def _render(module) -> list[dict]:
    renderer = module.StreamRenderer("model-x")
    return [chunk for name, data in EVENTS for chunk in renderer.feed(name, data)]


def test_stream_chunks_in_each_familys_shape():
    chunks = _render(anthropic)
    assert [c["type"] for c in chunks] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert chunks[-2]["delta"]["stop_reason"] == "end_turn" and chunks[-2]["usage"] == {"output_tokens": 2}
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 3
    assert "".join(c.get("outputText", "") for c in _render(titan)) == "Hello"
    assert _render(titan)[-1]["completionReason"] == "FINISH"
    assert "".join(c["generation"] for c in _render(llama)) == "Hello" and _render(llama)[-1]["stop_reason"] == "stop"
    assert "".join(c["outputs"][0]["text"] for c in _render(mistral)) == "Hello"
    assert [next(iter(c)) for c in _render(nova)][:2] == ["messageStart", "contentBlockDelta"]


def _model(provider: str, model_id: str) -> Model:
    return Model("m", model_id, provider, "us", 1000, 100, frozenset({"text"}), frozenset({"*"}), 0, 0, "active", None)


def test_families_of_models_and_bodies():
    assert families.family_of_model(_model("anthropic", "anthropic.claude-x")) == "anthropic"
    assert families.family_of_model(_model("amazon", "amazon.nova-pro-v1:0")) == "nova"
    assert families.family_of_model(_model("amazon", "amazon.titan-text-premier-v1:0")) == "titan-text"
    assert families.family_of_model(_model("meta", "meta.llama3")) == "llama"
    assert families.family_of_model(_model("mistral", "mistral.large")) == "mistral"
    assert families.family_of_model(_model("cohere", "cohere.command-r-plus-v1:0")) is None
    assert families.family_of_body({"anthropic_version": "x"}) == "anthropic"
    assert families.family_of_body({"schemaVersion": "messages-v1", "messages": []}) == "nova"
    assert families.family_of_body({"inputText": "x", "textGenerationConfig": {}}) == "titan-text"
    assert families.family_of_body({"inputText": "x", "dimensions": 256}) == "titan-embed"
    assert families.family_of_body({"prompt": "x", "max_gen_len": 5}) == "llama"
    assert families.family_of_body({"prompt": "[INST] x [/INST]", "max_tokens": 5}) == "mistral"
    assert families.family_of_body({"texts": ["x"], "input_type": "search_query"}) == "cohere-embed"
    assert families.family_of_body({"foo": 1}) is None


def test_nova_takes_both_spellings_of_its_inference_settings_as_aws_examples_send_them():
    """Issue 20: AWS's Nova Invoke example sends ``inferenceConfig: {"maxTokens": 512, "temperature": 0.7}``."""
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    camel = nova.request_to_converse(
        {"messages": messages, "inferenceConfig": {"maxTokens": 512, "temperature": 0.7, "topP": 0.9, "topK": 20}}
    )
    snake = nova.request_to_converse(
        {"messages": messages, "inferenceConfig": {"max_new_tokens": 512, "temperature": 0.7, "top_p": 0.9, "top_k": 20}}
    )
    assert camel == snake and camel["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.7, "topP": 0.9}
    assert camel["additionalModelRequestFields"] == {"inferenceConfig": {"topK": 20}}
