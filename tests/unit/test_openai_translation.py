"""OpenAI <-> Converse translation, both ways: tools and tool choice, tool calls and tool messages, the answer's
tool calls (whole and as stream deltas), response_format in both forms and the check of its answer, the scalar
fields, and bodies of other APIs."""

from __future__ import annotations

import json

import pytest

from fmgateway.config.gateway_config import load_file
from fmgateway.openai_surface import json_schema
from fmgateway.openai_surface.answer import ToolCallDeltas, answer_message
from fmgateway.openai_surface.request import Translation, translate
from fmgateway.values.errors import InvalidRequest, ModelError
from fmgateway.values.exchange import ChatResult
from tests.conftest import CONFIG_FILE

CATALOG = load_file(CONFIG_FILE).catalog
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}
USER = {"role": "user", "content": "Weather in Paris?"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def body(**fields) -> dict:
    return {"model": "claude-sonnet-4-5", "messages": [USER], **fields}


def result(content: list[dict], stop_reason: str = "end_turn", model: str = "claude-sonnet-4-5") -> ChatResult:
    usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
    return ChatResult({"role": "assistant", "content": content}, stop_reason, usage, CATALOG.models[model], "r", [], False, 0, 0)


# ---- request: tools and tool choice ---------------------------------------------------------------------------


def test_tools_become_tool_specs():
    request = translate(body(tools=[WEATHER, TIME]), CATALOG).request
    assert request.fields["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},
                    "strict": True,
                }
            },
            {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object", "properties": {}}}}},
        ],
        "toolChoice": {"auto": {}},
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_time"}}, {"tool": {"name": "get_time"}}),
    ],
)
def test_tool_choice(choice, expected):
    assert (
        translate(body(tools=[WEATHER, TIME], tool_choice=choice), CATALOG).request.fields["toolConfig"]["toolChoice"] == expected
    )


def test_allowed_tools_keep_only_those():
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "get_time"}}]},
    }
    config = translate(body(tools=[WEATHER, TIME], tool_choice=choice), CATALOG).request.fields["toolConfig"]
    assert [tool["toolSpec"]["name"] for tool in config["tools"]] == ["get_time"] and config["toolChoice"] == {"any": {}}


def test_tool_choice_none_sends_no_tools_and_turns_tool_history_into_text():
    messages = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    request = translate(body(messages=messages, tools=[WEATHER], tool_choice="none"), CATALOG).request
    assert request.fields is None
    texts = [block["text"] for message in request.messages for block in message["content"]]
    assert any("called tool get_weather" in text for text in texts) and any("sunny" in text for text in texts)
    assert not any("toolUse" in block or "toolResult" in block for message in request.messages for block in message["content"])


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"tool_choice": "required"}, "body.tool_choice: needs tools"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "body.tool_choice.function.name",
        ),
        ({"tools": [WEATHER, WEATHER]}, "body.tools[1].function.name: 'get_weather' is defined twice"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "body.tools[0].type"),
        ({"tools": [{"type": "function"}]}, "body.tools[0].function"),
        ({"tools": [WEATHER], "tool_choice": {"type": "custom", "custom": {"name": "x"}}}, "body.tool_choice"),
    ],
)
def test_bad_tools_are_400s_naming_the_field(fields, needle):
    with pytest.raises(InvalidRequest, match=needle.replace("[", r"\[").replace("]", r"\]")):
        translate(body(**fields), CATALOG)


# ---- request: tool calls and tool messages --------------------------------------------------------------------


def test_tool_calls_and_tool_messages_become_tool_use_and_tool_result():
    messages = [
        {"role": "system", "content": "Be brief"},
        USER,
        {"role": "assistant", "content": "Let me look.", "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "20 C"}]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    request = translate(body(messages=messages, tools=[WEATHER]), CATALOG).request
    assert request.system == [{"text": "Be brief"}]
    assert request.messages == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Let me look."},
                {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Paris"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                {"toolResult": {"toolUseId": "call_2", "content": [{"text": "20 C"}]}},
                {"text": "And tomorrow?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([USER, {"role": "tool", "tool_call_id": "call_9", "content": "x"}],
         "body.messages[1].tool_call_id: answers no tool call"),
        ([USER, {"role": "assistant", "tool_calls": [CALL]}, {"role": "user", "content": "hi"}],
         "body.messages[1].tool_calls: tool call 'call_1' has no answer"),
        ([USER, {"role": "assistant", "tool_calls": [CALL]}], "body.messages[1].tool_calls"),
        ([USER, {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}]}],
         "function.arguments"),
        ([{**USER, "extra_key": "x"}], "body.messages[0] must not contain {'extra_key'}"),
        ([{"role": "function", "name": "f", "content": "x"}], "body.messages[0].role"),
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}], "body.messages[0].content[0].type"),
    ],
)  # fmt: skip
def test_bad_conversations_are_400s_naming_the_message(messages, needle):
    with pytest.raises(InvalidRequest, match=needle.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        translate(body(messages=messages, tools=[WEATHER]), CATALOG)


# ---- response: tool calls ---------------------------------------------------------------------------------------

TOOL_USE = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}


def test_tool_use_blocks_become_tool_calls():
    message, finish = answer_message(
        result([TOOL_USE, {**TOOL_USE, "toolUse": {**TOOL_USE["toolUse"], "toolUseId": "t2"}}], "tool_use")
    )
    assert finish == "tool_calls" and message["content"] is None
    assert message["tool_calls"][0] == {
        "id": "tooluse_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
    }
    assert len(message["tool_calls"]) == 2


def test_parallel_tool_calls_false_keeps_the_first():
    translation = translate(body(tools=[WEATHER], parallel_tool_calls=False), CATALOG)
    second = {"toolUse": {**TOOL_USE["toolUse"], "toolUseId": "t2"}}
    message, _ = answer_message(result([TOOL_USE, second], "tool_use"), translation)
    assert [call["id"] for call in message["tool_calls"]] == ["tooluse_1"]


def test_stream_deltas_name_the_call_then_carry_argument_pieces():
    deltas = ToolCallDeltas()
    assert deltas.start({"start": {"text": ""}, "contentBlockIndex": 0}) is None
    first = deltas.start({"start": {"toolUse": {"toolUseId": "t1", "name": "f"}}, "contentBlockIndex": 1})
    assert first == {"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}
    assert deltas.delta({"delta": {"toolUse": {"input": '{"a"'}}, "contentBlockIndex": 1}) == {
        "index": 0,
        "function": {"arguments": '{"a"'},
    }
    second = deltas.start({"start": {"toolUse": {"toolUseId": "t2", "name": "g"}}, "contentBlockIndex": 2})
    assert second["index"] == 1
    single = ToolCallDeltas(parallel=False)
    single.start({"start": {"toolUse": {"toolUseId": "t1", "name": "f"}}, "contentBlockIndex": 0})
    assert single.start({"start": {"toolUse": {"toolUseId": "t2", "name": "g"}}, "contentBlockIndex": 1}) is None
    assert single.delta({"delta": {"toolUse": {"input": "{}"}}, "contentBlockIndex": 1}) is None


# ---- response_format ----------------------------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}


def test_json_schema_travels_as_a_forced_tool_and_goes_native_where_the_model_has_it():
    translation = translate(body(response_format=JSON_SCHEMA), CATALOG)
    config = translation.request.fields["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "person"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": SCHEMA}
    fmt = translation.output_format
    sent = {"messages": [], "toolConfig": config}
    native = fmt.body_for(CATALOG.models["claude-sonnet-4-5"], sent)  # structuredOutput in its capabilities
    assert "toolConfig" not in native
    structure = native["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert native["outputConfig"]["textFormat"]["type"] == "json_schema" and json.loads(structure["schema"]) == SCHEMA
    assert fmt.body_for(CATALOG.models["nova-pro"], sent) is sent  # no structuredOutput: the forced tool


def test_json_schema_with_caller_tools_keeps_them_both_ways():
    fmt = translate(body(response_format=JSON_SCHEMA, tools=[WEATHER]), CATALOG).output_format
    forced = fmt.forced_tool_config()
    assert [tool["toolSpec"]["name"] for tool in forced["tools"]] == ["get_weather", "person"]
    assert forced["toolChoice"] == {"any": {}}
    native = fmt.body_for(CATALOG.models["claude-sonnet-4-5"], {"toolConfig": forced})
    assert [tool["toolSpec"]["name"] for tool in native["toolConfig"]["tools"]] == ["get_weather"]


def test_structured_answers_are_checked():
    translation = translate(body(response_format=JSON_SCHEMA), CATALOG)
    forced = {"toolUse": {"toolUseId": "t", "name": "person", "input": {"name": "Jo", "age": 4}}}
    message, finish = answer_message(result([forced], "tool_use"), translation)
    assert json.loads(message["content"]) == {"name": "Jo", "age": 4} and finish == "stop" and "tool_calls" not in message
    message, _ = answer_message(result([{"text": '{"name": "Jo", "age": 4}'}]), translation)
    assert json.loads(message["content"])["age"] == 4
    with pytest.raises(ModelError, match=r"does not match response_format json_schema 'person': \$.age: required"):
        answer_message(result([{"text": '{"name": "Jo"}'}]), translation)
    with pytest.raises(ModelError, match="not valid JSON .the answer was cut off at max_tokens"):
        answer_message(result([{"text": '{"name": "J'}], "max_tokens"), translation)


def test_json_object_and_non_object_roots():
    translation = translate(body(response_format={"type": "json_object"}), CATALOG)
    assert translation.request.fields["toolConfig"]["toolChoice"] == {"tool": {"name": "json_object"}}
    with pytest.raises(ModelError):
        answer_message(result([{"text": "[1, 2]"}]), translation)
    listed = {"type": "json_schema", "json_schema": {"name": "ids", "schema": {"type": "array", "items": {"type": "integer"}}}}
    translation = translate(body(response_format=listed), CATALOG)
    spec = translation.request.fields["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["inputSchema"]["json"]["required"] == ["value"]  # a tool's input is an object: the array is wrapped
    forced = {"toolUse": {"toolUseId": "t", "name": "ids", "input": {"value": [1, 2]}}}
    assert json.loads(answer_message(result([forced], "tool_use"), translation)[0]["content"]) == [1, 2]


@pytest.mark.parametrize(
    ("response_format", "needle"),
    [
        ({"type": "json_schema", "json_schema": {"name": "bad name", "schema": SCHEMA}},
         "body.response_format.json_schema.name"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "if": {}}}},
         "schema.if: keyword not supported"),
        ({"type": "json_schema", "json_schema": {"name": "get_weather", "schema": SCHEMA}}, "also the name of a tool"),
        ({"type": "xml"}, "body.response_format.type"),
    ],
)  # fmt: skip
def test_bad_response_formats_are_400s(response_format, needle):
    with pytest.raises(InvalidRequest, match=needle):
        translate(body(response_format=response_format, tools=[WEATHER]), CATALOG)


def test_schema_checker_keywords():
    schema = {
        "$defs": {"tag": {"type": "string", "enum": ["a", "b"]}},
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "maxItems": 2},
            "n": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
        },
        "additionalProperties": False,
    }  # fmt: skip
    assert json_schema.errors({"tags": ["a"], "n": None}, schema) == []
    assert json_schema.errors({"tags": ["c"]}, schema) == ["$.tags[0]: must be one of ['a', 'b']"]
    assert json_schema.errors({"n": 0}, schema) == ["$.n: matches none of anyOf"]
    assert json_schema.errors({"x": 1}, schema) == ["$.x: not allowed (additionalProperties is false)"]
    assert json_schema.errors(True, {"type": "integer"}) == ["$: expected integer, got boolean"]
    assert json_schema.errors(1, {"allOf": [{"$ref": "#"}]}) == ["$: the schema recurses without end"]


# ---- scalar fields --------------------------------------------------------------------------------------------------


def test_scalar_fields():
    request = translate(
        body(max_completion_tokens=20, max_tokens=20, temperature=0.3, top_p=0.8, stop="END", service_tier="priority",
             user="u-1", safety_identifier="s-1", metadata={"team": "a"}),
        CATALOG,
    ).request  # fmt: skip
    assert request.inference == {"maxTokens": 20, "temperature": 0.3, "topP": 0.8, "stopSequences": ["END"]}
    assert request.fields == {"serviceTier": {"type": "priority"}}
    assert request.metadata == {"team": "a", "openai-user": "u-1", "openai-safety-identifier": "s-1"}


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"max_tokens": 10, "max_completion_tokens": 20}, "body.max_completion_tokens: conflicts with max_tokens"),
        ({"temperature": 1.01}, "body.temperature"),
        ({"seed": 1}, "body.seed: 'claude-sonnet-4-5' does not take a seed"),
        ({"metadata": {f"k{i}": "v" for i in range(11)}, "user": "u"}, "body.metadata: at most 11 pairs"),
        ({"metadata": {"openai-user": "x"}}, "reserved for the request's own field user"),
        ({"foo": 1}, "body.foo: not a field of OpenAI Chat Completions"),
    ],
)
def test_scalar_refusals(fields, needle):
    with pytest.raises(InvalidRequest, match=needle):
        translate(body(**fields), CATALOG)


def test_seed_goes_to_a_model_that_takes_one():
    model = CATALOG.models["command-r-plus"]
    seeded = model._replace(features=model.features | {"seed"})
    catalog = type(CATALOG)({**CATALOG.models, "command-r-plus": seeded})
    request = translate({**body(seed=7), "model": "command-r-plus"}, catalog).request
    assert request.fields == {"additionalModelRequestFields": {"seed": 7}}


# ---- bodies of other APIs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("other", "needle"),
    [
        ({"system": "Be brief", "max_tokens": 10}, "body.system: .* POST /model/\\{modelId\\}/invoke"),
        ({"system": [{"text": "Be brief"}]}, "body.system: .* POST /v1/chat"),
        ({"inferenceConfig": {}}, "body.inferenceConfig: .* POST /v1/chat"),
        (
            {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
            r"body.messages\[0\].content\[0\]: a Converse content block",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]}, "Anthropic content block"),
    ],
)
def test_other_apis_are_told_where_to_go(other, needle):
    with pytest.raises(InvalidRequest, match=needle):
        translate({**body(), **other}, CATALOG)


def test_answer_without_translation_is_plain_text():
    assert answer_message(result([{"text": "Hi"}]), Translation(translate(body(), CATALOG).request)) == (
        {"role": "assistant", "content": "Hi", "refusal": None},
        "stop",
    )


PDF = "data:application/pdf;base64,JVBERi0xLjQ="


def test_file_parts_become_documents():
    part = {"type": "file", "file": {"file_data": PDF, "filename": "Q3 report (final).v2.pdf"}}
    request = translate(body(messages=[{"role": "user", "content": [{"type": "text", "text": "Sum up"}, part]}]), CATALOG).request
    document = request.messages[0]["content"][1]["document"]
    assert document == {"format": "pdf", "name": "Q3 report (final)-v2", "source": {"bytes": "JVBERi0xLjQ="}}


@pytest.mark.parametrize(
    ("file", "needle"),
    [
        ({"file_id": "file-abc"}, "file.file_id: uploaded files are not supported"),
        ({"file_data": "data:audio/wav;base64,aGk="}, "media type 'audio/wav'"),
        ({"file_data": "https://example.com/x.pdf"}, "file.file_data: must be a data URL"),
        ({"file_data": "data:application/pdf;base64,a-_k"}, "file.file_data: must be standard base64"),
    ],
)
def test_bad_file_parts_are_400s(file, needle):
    with pytest.raises(InvalidRequest, match=needle):
        translate(body(messages=[{"role": "user", "content": [{"type": "file", "file": file}]}]), CATALOG)


def test_a_guardrail_intervention_on_a_structured_output_is_a_refusal():
    translation = translate(body(response_format=JSON_SCHEMA), CATALOG)
    message, finish = answer_message(result([{"text": "Sorry, I cannot."}], "guardrail_intervened"), translation)
    assert message == {"role": "assistant", "content": None, "refusal": "Sorry, I cannot."} and finish == "content_filter"


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ({"type": "objekt"}, "schema.type: must be one of"),
        ({"type": "object", "required": "name"}, "schema.required: must be an array"),
        ({"type": "object", "properties": {"a": {"pattern": "("}}}, "schema.properties.a.pattern: not a valid regular"),
        ({"type": "object", "properties": {"a": {"$ref": "http://x/y"}}}, "only references inside the schema"),
    ],
)
def test_schemas_the_checker_cannot_check_are_refused_up_front(schema, needle):
    assert needle in json_schema.unsupported(schema)


def test_an_exponential_schema_is_bounded():
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(30)}
    defs["d30"] = {"type": "string"}
    schema = {"$defs": defs, "$ref": "#/$defs/d0"}
    assert json_schema.unsupported(schema) is None
    assert json_schema.errors("x", schema) == []  # the first branch matches at every level: linear
    assert "takes too long" in " ".join(json_schema.errors(1, schema))


def test_strict_tools_go_strict_only_to_models_with_structured_outputs_and_their_calls_are_checked():
    translation = translate(body(tools=[WEATHER]), CATALOG)  # WEATHER is strict
    assert translation.strict_tools == {"get_weather": WEATHER["function"]["parameters"]}
    sent = []
    step = translation.step(lambda candidate, converse, deadline: sent.append(converse))
    config = translation.request.fields["toolConfig"]
    for alias in ("claude-sonnet-4-5", "nova-pro"):
        step(type("C", (), {"model": CATALOG.models[alias]})(), {"toolConfig": config}, 0.0)
    assert sent[0]["toolConfig"]["tools"][0]["toolSpec"]["strict"] is True
    assert "strict" not in sent[1]["toolConfig"]["tools"][0]["toolSpec"]  # Bedrock would refuse it: the gateway checks
    good = {"toolUse": {"toolUseId": "t", "name": "get_weather", "input": {"city": "Paris"}}}
    assert answer_message(result([good], "tool_use", "nova-pro"), translation)[1] == "tool_calls"
    bad = {"toolUse": {"toolUseId": "t", "name": "get_weather", "input": {"town": "Paris"}}}
    with pytest.raises(ModelError, match=r"strict tool 'get_weather' .* \$.city: required"):
        answer_message(result([bad], "tool_use", "nova-pro"), translation)


def test_strict_tool_schemas_the_checker_cannot_check_are_400s():
    tool = {"type": "function", "function": {"name": "f", "strict": True, "parameters": {"type": "object", "if": {}}}}
    with pytest.raises(InvalidRequest, match=r"body.tools\[0\].function.parameters.if: keyword not supported"):
        translate(body(tools=[tool]), CATALOG)


def test_a_structured_answer_that_misses_the_schema_moves_to_the_next_model(config_doc, clock):
    """Checked inside the invocation step: a mismatch is request-shaped (failure isolation), so the next candidate is
    tried; it counts against the first model once the next one answers, and neither counts when both miss (502)."""
    from fmgateway.aws.stores import MemoryBreakerStore, MemoryResponseStore
    from fmgateway.config.gateway_config import parse_config
    from fmgateway.core.cache import ResponseCache
    from fmgateway.core.gateway import Gateway
    from fmgateway.health.breaker import CircuitBreaker
    from tests.fakes import FakeInvoker, StaticSource, answer

    invoker = FakeInvoker()
    cache = ResponseCache(MemoryResponseStore(clock=clock), background=False)
    gateway = Gateway(StaticSource(parse_config(config_doc)), invoker, CircuitBreaker(MemoryBreakerStore(), clock=clock), cache)
    translation = translate({**body(response_format=JSON_SCHEMA), "model": "claude-sonnet-4-5"}, CATALOG)
    invoker.responses["claude-sonnet"] = answer('{"name": "Jo"}')  # native structured output, age missing
    forced = {"toolUse": {"toolUseId": "t", "name": "person", "input": {"name": "Jo", "age": 4}}}
    invoker.responses["nova-pro"] = {**answer(), "output": {"message": {"role": "assistant", "content": [forced]}}}
    result = gateway.chat(translation.request, translation.step(gateway.converse_step))
    assert result.model.alias == "nova-pro"
    assert [(a.model, a.outcome, a.code) for a in result.attempts] == [
        ("claude-sonnet-4-5", "model_error", "OutputSchemaMismatch"),
        ("nova-pro", "ok", None),
    ]
    assert json.loads(answer_message(result, translation)[0]["content"]) == {"name": "Jo", "age": 4}
    sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert gateway.health.totals(sonnet).get("f") == 1  # counted: the next model met the schema

    invoker.responses["nova-pro"] = answer('{"name": "Jo"}')  # both miss: the request (its schema) is the likely cause
    with pytest.raises(ModelError, match="both failed this request with OutputSchemaMismatch"):
        gateway.chat(translation.request, translation.step(gateway.converse_step))
    assert gateway.health.totals(sonnet).get("f") == 1  # not counted again


def test_a_message_name_on_any_role_and_litellms_echoed_fields_are_accepted_and_named_as_unused():
    """Issue 20: instructor's retry and litellm's tool loop send ``name`` on tool messages; litellm replays assistant
    messages with ``provider_specific_fields``. Converse has no place for either: they are listed, never dropped silently."""
    from fmgateway.openai_surface.fields import unused_fields

    messages = [
        {**USER, "name": "bob"},
        {"role": "assistant", "tool_calls": [CALL], "provider_specific_fields": {"refusal": None}},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny"},
    ]
    sent = body(messages=messages, tools=[WEATHER])
    translation = translate(sent, CATALOG)
    assert [turn["role"] for turn in translation.request.messages] == ["user", "assistant", "user"]
    assert unused_fields(sent) == ["messages[0].name", "messages[1].provider_specific_fields", "messages[2].name"]
    assert unused_fields(body(messages=[USER])) == []


@pytest.mark.parametrize(
    ("response_format", "says"),
    [
        ({"type": "json_object", "schema": {"type": "object"}}, "body.response_format.schema: not a field of a json_object"),
        ({"type": "text", "bogus": 1}, "body.response_format.bogus: not a field of a text response_format"),
    ],
)
def test_a_response_format_key_of_another_type_is_refused_by_name_not_ignored(response_format, says):
    """Issue 20: instructor 1.3's JSON_SCHEMA mode sent a schema the gateway silently dropped."""
    with pytest.raises(InvalidRequest, match=says):
        translate(body(messages=[USER], response_format=response_format), CATALOG)


# ---- a conversation with tool calls but no tools listed (litellm's documented loop) -------------------------------


def test_tools_the_conversation_used_are_declared_when_none_are_listed():
    """Converse refuses toolUse / toolResult blocks without a toolConfig; OpenAI's API does not ask for tools then."""
    history = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18 degrees"},
    ]
    config = translate({"model": "claude-sonnet-4-5", "messages": history}).request.fields["toolConfig"]
    assert config["toolChoice"] == {"auto": {}}
    assert [spec["toolSpec"]["name"] for spec in config["tools"]] == ["get_weather"]
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object"}}


def test_listed_tools_win_and_tool_choice_none_still_strips_the_blocks():
    call = {"role": "assistant", "content": None, "tool_calls": [CALL]}
    history = [USER, call, {"role": "tool", "tool_call_id": "call_1", "content": "x"}]
    listed = translate({"model": "claude-sonnet-4-5", "messages": history, "tools": [TIME, WEATHER]}).request
    assert [spec["toolSpec"]["name"] for spec in listed.fields["toolConfig"]["tools"]] == ["get_time", "get_weather"]
    stripped = translate({"model": "claude-sonnet-4-5", "messages": history, "tool_choice": "none"}).request
    assert "toolConfig" not in (stripped.fields or {})


def test_a_conversation_without_tool_calls_gets_no_tool_config():
    assert translate(body()).request.fields is None
