"""Issue 10: the forwarded Converse request fields (validation, capabilities, cost, stream assembly)."""

from __future__ import annotations

import copy
import json

import pytest

from fmgateway.config.gateway_config import parse_config
from fmgateway.converse import fields as converse_fields
from fmgateway.converse import validation
from fmgateway.routing import capabilities
from fmgateway.routing.planner import extract_features, plan, unfit_reason
from fmgateway.values.errors import InvalidRequest, PayloadTooLarge
from fmgateway.values.model import Model

WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    }
}
SCHEMA = json.dumps({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]})
USE = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
RESULT = {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp": 21}}, {"text": "sunny"}], "status": "success"}}

# one body with every forwarded field and every new block kind
FULL = {
    "tier": "simple",
    "system": [{"text": "You are terse."}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
    "messages": [
        {"role": "user", "content": [{"text": "Weather in Paris?"}, {"cachePoint": {"type": "default"}}]},
        {"role": "assistant", "content": [{"text": "Let me look."}, USE]},
        {"role": "user", "content": [RESULT]},
    ],
    "toolConfig": {"tools": [WEATHER, {"cachePoint": {"type": "default"}}], "toolChoice": {"tool": {"name": "get_weather"}}},
    "guardrailConfig": {"guardrailIdentifier": "gr1abc", "guardrailVersion": "DRAFT", "trace": "enabled"},
    "additionalModelRequestFields": {"top_k": 40},
    "additionalModelResponseFieldPaths": ["/stop_sequence"],
    "requestMetadata": {"team": "search", "use-case": "faq bot"},
    "promptVariables": {"city": {"text": "Paris"}},
    "performanceConfig": {"latency": "optimized"},
    "serviceTier": {"type": "flex"},
    "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": SCHEMA, "name": "answer"}}}},
}


def test_every_forwarded_field_is_accepted():
    assert validation.chat_body(copy.deepcopy(FULL)) == FULL


def _with(path: str, value):
    body = copy.deepcopy(FULL)
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if value is KeyError:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("toolConfig.tools", [], "body.toolConfig.tools"),
        ("toolConfig.tools.0.toolSpec.name", "bad name!", "body.toolConfig.tools[0].toolSpec.name"),
        ("toolConfig.tools.0.toolSpec.inputSchema", {"schema": {}}, "body.toolConfig.tools[0].toolSpec.inputSchema"),
        ("toolConfig.toolChoice", {"any": {}, "auto": {}}, "body.toolConfig.toolChoice"),
        ("toolConfig.toolChoice", {"required": {}}, "body.toolConfig.toolChoice"),
        ("toolConfig.toolChoice", {"tool": {"name": "nope"}}, "body.toolConfig.toolChoice.tool.name: 'nope'"),
        ("toolConfig.tools.1", WEATHER, "body.toolConfig.tools[1].toolSpec.name: duplicate tool name"),
        ("messages.1.content.1.toolUse.toolUseId", "has space", "body.messages[1].content[1].toolUse.toolUseId"),
        ("messages.1.content.1.toolUse.input", "text", "body.messages[1].content[1].toolUse.input"),
        ("messages.2.content.0.toolResult.status", "maybe", "body.messages[2].content[0].toolResult.status"),
        (
            "messages.2.content.0.toolResult.content",
            [{"json": 1, "text": "x"}],
            "body.messages[2].content[0].toolResult.content[0]",
        ),
        ("messages.2.content.0.toolResult.toolUseId", "tooluse_9", "body.messages[2].content[0].toolResult"),
        ("messages.0.content.1.cachePoint", {"type": "default", "ttl": "2h"}, "body.messages[0].content[1].cachePoint.ttl"),
        ("messages.0.content.1.cachePoint", {"ttl": "5m"}, "body.messages[0].content[1].cachePoint"),
        ("system.1", {"cachePoint": {"type": "ephemeral"}}, "body.system[1].cachePoint.type"),
        ("guardrailConfig.trace", "on", "body.guardrailConfig.trace"),
        ("guardrailConfig.guardrailVersion", "v1", "body.guardrailConfig.guardrailVersion"),
        ("guardrailConfig.extra", 1, "body.guardrailConfig"),
        ("additionalModelRequestFields", [1], "body.additionalModelRequestFields"),
        ("additionalModelResponseFieldPaths", ["stop_sequence"], "body.additionalModelResponseFieldPaths[0]"),
        ("additionalModelResponseFieldPaths", ["/a"] * 11, "body.additionalModelResponseFieldPaths"),
        ("promptVariables", {"city": {"value": "x"}}, "body.promptVariables.city"),
        ("performanceConfig.latency", "fast", "body.performanceConfig.latency"),
        ("serviceTier", {"type": "gold"}, "body.serviceTier.type"),
        ("serviceTier", {}, "body.serviceTier"),
        ("outputConfig.textFormat.type", "json_object", "body.outputConfig.textFormat.type"),
        (
            "outputConfig.textFormat.structure.jsonSchema.schema",
            "{not json",
            "body.outputConfig.textFormat.structure.jsonSchema.schema",
        ),
        (
            "outputConfig.textFormat.structure.jsonSchema.schema",
            "[1, 2]",
            "body.outputConfig.textFormat.structure.jsonSchema.schema",
        ),
        ("toolConfig", KeyError, "body.messages[1].content[1].toolUse: tool blocks need body.toolConfig"),
        ("requestMetadata", {"fmgw-tenant": "me"}, "body.requestMetadata['fmgw-tenant']"),
        ("requestMetadata", {"team": "a;b"}, "body.requestMetadata['team']"),
        ("requestMetadata", {"team": 1}, "body.requestMetadata['team']: must be a string"),
        ("requestMetadata", {f"k{i}": "v" for i in range(12)}, "body.requestMetadata: at most 11 pairs"),
    ],
)
def test_bad_shapes_are_400s_naming_the_field(path, value, named):
    with pytest.raises(InvalidRequest) as caught:
        validation.chat_body(_with(path, value))
    assert named in caught.value.message


def test_a_tool_use_in_a_user_message_is_refused():
    body = {"messages": [{"role": "user", "content": [USE]}], "toolConfig": {"tools": [WEATHER]}}
    with pytest.raises(InvalidRequest, match=r"body.messages\[0\].content\[0\].toolUse: only an assistant message"):
        validation.chat_body(body)


def test_tool_result_images_must_be_strict_base64():
    result = {"toolResult": {"toolUseId": "tooluse_1", "content": [{"image": {"format": "png", "source": {"bytes": "abc"}}}]}}
    body = _with("messages.2.content.0", result)
    with pytest.raises(InvalidRequest, match=r"toolResult.content\[0\].image.source.bytes"):
        validation.chat_body(body)


@pytest.mark.parametrize(
    ("fields", "blocks", "system", "needed"),
    [
        ({}, [{"text": "hi"}], None, set()),
        ({"toolConfig": {"tools": [WEATHER]}}, [{"text": "hi"}], None, {"toolUse"}),
        ({"toolConfig": {"tools": [WEATHER], "toolChoice": {"auto": {}}}}, [{"text": "hi"}], None, {"toolUse"}),
        ({"toolConfig": {"tools": [WEATHER], "toolChoice": {"any": {}}}}, [{"text": "hi"}], None, {"toolUse", "toolChoice"}),
        (
            {"toolConfig": {"tools": [WEATHER], "toolChoice": {"tool": {"name": "x"}}}},
            [{"text": "hi"}],
            None,
            {"toolUse", "toolChoice"},
        ),
        (
            {"toolConfig": {"tools": [WEATHER, {"cachePoint": {"type": "default"}}]}},
            [{"text": "hi"}],
            None,
            {"toolUse", "promptCaching"},
        ),
        ({"outputConfig": {"textFormat": {"type": "json_schema"}}}, [{"text": "hi"}], None, {"structuredOutput"}),
        ({"outputConfig": {"effort": "low"}}, [{"text": "hi"}], None, set()),
        ({"guardrailConfig": {}}, [{"text": "hi"}], None, {"guardrails"}),
        ({}, [{"text": "hi"}, {"cachePoint": {"type": "default"}}], None, {"promptCaching"}),
        ({}, [{"text": "hi"}], [{"text": "s"}, {"cachePoint": {"type": "default"}}], {"promptCaching"}),
        ({}, [{"image": {}}, {"document": {}}], None, {"image", "document"}),
        ({}, [RESULT], None, {"toolUse"}),
        ({}, [{"toolResult": {"toolUseId": "t", "content": [{"document": {}}]}}], None, {"toolUse", "document"}),
        ({"serviceTier": {"type": "flex"}, "performanceConfig": {"latency": "optimized"}}, [{"text": "hi"}], None, set()),
    ],
)
def test_required_capabilities(fields, blocks, system, needed):
    assert capabilities.required([{"role": "user", "content": blocks}], system, fields) == needed


def _model(**changes) -> Model:
    base = Model(
        "m", "x.m-v1:0", "amazon", "us", 100000, 4096, frozenset({"text"}), frozenset({"*"}), 0.001, 0.002, "active", None
    )
    return base._replace(**changes)


def test_unfit_reason_names_the_missing_capability():
    features = extract_features([{"role": "user", "content": [{"text": "hi"}]}], None, 100)
    needs = features._replace(capabilities=frozenset({"toolUse", "toolChoice"}))
    assert unfit_reason(_model(), needs) == "capability: does not support toolUse, toolChoice"
    assert unfit_reason(_model(features=frozenset({"toolUse"})), needs) == "capability: does not support toolChoice"
    assert unfit_reason(_model(features=frozenset({"toolUse", "toolChoice"})), needs) is None
    assert unfit_reason(_model(), features) is None  # a plain request needs nothing


def test_image_and_document_capabilities_follow_input_modalities():
    model = _model(input_modalities=frozenset({"text", "image"}), features=frozenset({"guardrails"}))
    assert model.capabilities == {"guardrails", "image"}
    assert model.describe()["capabilities"] == ["guardrails", "image"]


def test_a_request_no_candidate_can_serve_is_a_400_naming_the_capability(config_doc):
    config = parse_config(config_doc)
    features = extract_features([{"role": "user", "content": [{"text": "hi"}]}], None, 100)
    structured = features._replace(capabilities=frozenset({"structuredOutput"}))
    # simple: claude-haiku-4-5 (structured output), nova-lite and llama3-3-70b (none): only haiku stays
    assert [c.alias for c in plan(config, structured, tier="simple").candidates] == ["claude-haiku-4-5"]
    for tier in ("simple", "medium", "complex"):
        config_doc["tiers"][tier] = ["nova-lite", "llama3-3-70b"]
    with pytest.raises(InvalidRequest, match="structuredOutput") as caught:
        plan(parse_config(config_doc), structured, tier="medium")
    assert "nova-lite: capability: does not support structuredOutput" in caught.value.message
    assert not isinstance(caught.value, PayloadTooLarge)


def test_an_explicit_model_without_the_capability_is_a_400(config_doc):
    config = parse_config(config_doc)
    features = extract_features([{"role": "user", "content": [{"text": "hi"}]}], None, 100)
    tools = features._replace(capabilities=frozenset({"toolUse", "toolChoice"}))
    with pytest.raises(InvalidRequest, match="llama3-3-70b: capability: does not support toolChoice"):
        plan(config, tools, model="llama3-3-70b")


def test_catalog_capabilities_and_cache_prices(config_doc):
    models = parse_config(config_doc).catalog.models
    assert {"toolUse", "toolChoice", "structuredOutput", "promptCaching", "guardrails"} <= models[
        "claude-sonnet-4-5"
    ].capabilities
    assert "toolUse" not in models["titan-text-premier"].capabilities
    assert "promptCaching" not in models["claude-3-haiku"].capabilities
    for model in models.values():  # a model that caches has both prices; one that does not has neither
        caches = "promptCaching" in model.capabilities
        assert (model.price_cache_read_per_1k is not None) == caches, model.alias
        assert (model.price_cache_write_per_1k is not None) == caches, model.alias


def test_cost_counts_cache_reads_and_writes_at_their_prices():
    model = _model(price_cache_read_per_1k=0.0001, price_cache_write_per_1k=0.00125)
    usage = {"inputTokens": 1000, "outputTokens": 1000, "cacheReadInputTokens": 2000, "cacheWriteInputTokens": 4000}
    assert model.usage_cost(usage) == pytest.approx(0.001 + 0.002 + 0.0002 + 0.005)
    # a model without cache prices: cache tokens cost what input tokens cost, never nothing
    assert _model().usage_cost(usage) == pytest.approx(0.001 + 0.002 + 0.002 + 0.004)


def test_one_hour_cache_writes_cost_their_own_price():
    model = _model(price_cache_read_per_1k=0.0001, price_cache_write_per_1k=0.00125, price_cache_write_1h_per_1k=0.002)
    usage = {"inputTokens": 0, "outputTokens": 0, "cacheWriteInputTokens": 3000}
    details = [{"ttl": "1h", "inputTokens": 1000}, {"ttl": "5m", "inputTokens": 2000}]
    assert model.usage_cost({**usage, "cacheDetails": details}) == pytest.approx(0.002 + 0.0025)
    assert model.usage_cost(usage) == pytest.approx(0.00375)  # no breakdown: every write at the 5-minute price
    hourless = model._replace(price_cache_write_1h_per_1k=None)  # no one-hour price: what other writes cost
    assert hourless.usage_cost({**usage, "cacheDetails": details}) == pytest.approx(0.00375)


def test_usage_keeps_cache_tokens_and_counts_them_in_the_total():
    raw = {"inputTokens": 5, "outputTokens": 7, "totalTokens": 999, "cacheReadInputTokens": 100}
    assert converse_fields.usage(raw) == {"inputTokens": 5, "outputTokens": 7, "cacheReadInputTokens": 100, "totalTokens": 112}
    assert converse_fields.usage({"inputTokens": 1, "outputTokens": 2}) == {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}
    written = converse_fields.usage(
        {"inputTokens": 1, "outputTokens": 2, "cacheWriteInputTokens": 9, "cacheDetails": [{"ttl": "1h", "inputTokens": 9}]}
    )
    assert written == {
        "inputTokens": 1, "outputTokens": 2, "cacheWriteInputTokens": 9, "totalTokens": 12,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 9}],
    }  # fmt: skip


def test_response_fields_pass_through():
    response = {"output": {}, "trace": {"guardrail": {"x": 1}}, "additionalModelResponseFields": {"stop_sequence": "END"}}
    assert converse_fields.response_fields(response) == {
        "trace": {"guardrail": {"x": 1}},
        "additionalModelResponseFields": {"stop_sequence": "END"},
    }
    assert converse_fields.response_fields({"output": {}}) is None


def test_stream_assembly_and_replay_round_trip():
    message = {
        "role": "assistant",
        "content": [{"text": "Checking."}, {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"a": [1]}}}],
    }
    assembler = converse_fields.Assembler()
    events = list(converse_fields.replay(message, "tool_use", {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}))
    for name, data in events:
        assembler.feed(name, data)
    assert assembler.message() == message
    assert [name for name, _ in events].count("contentBlockStart") == 1  # text blocks start implicitly, as Bedrock's do
    assert events[-2] == ("messageStop", {"stopReason": "tool_use"})


def test_assembler_keeps_the_trace_of_the_metadata_event():
    assembler = converse_fields.Assembler()
    assembler.feed("metadata", {"usage": {}, "trace": {"guardrail": {"id": 1}}})
    assert assembler.fields == {"trace": {"guardrail": {"id": 1}}}
