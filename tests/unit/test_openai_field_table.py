"""README's table of OpenAI request fields against the pinned ``openai`` SDK's ``CompletionCreateParams`` (both ways)
and the gateway's own table (``fmgateway.openai_surface.fields.FIELDS``); ``FIELD_CASES`` gives each row a request that is
honoured or refused by name, run over HTTP by tests/e2e/test_openai_faithful.py and here against the translation."""

from __future__ import annotations

import re

import pytest
from openai.types.chat.completion_create_params import CompletionCreateParamsBase

from fmgateway.config.gateway_config import load_file
from fmgateway.openai_surface import fields as openai_fields
from fmgateway.openai_surface.request import translate
from fmgateway.values.errors import InvalidRequest
from tests.conftest import CONFIG_FILE, ROOT

TABLE_START, TABLE_END = "<!-- openai-fields:start -->", "<!-- openai-fields:end -->"


def readme_fields() -> list[str]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index(TABLE_START) : text.index(TABLE_END)]
    return re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)


README_FIELDS = readme_fields()
SDK_FIELDS = [*CompletionCreateParamsBase.__annotations__, "stream"]  # stream: the streaming / non-streaming subclasses
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
USER = [{"role": "user", "content": "Hi"}]

# (field, value, honoured): at least one case per README row; a conditional field has both kinds
FIELD_CASES: list[tuple[str, object, bool]] = [
    ("messages", USER, True),
    ("messages", [{"role": "function", "name": "f", "content": "x"}], False),
    ("model", "claude-sonnet-4-5", True),
    ("audio", {"voice": "alloy", "format": "wav"}, False),
    ("frequency_penalty", 0, True),
    ("frequency_penalty", 0.5, False),
    ("function_call", "auto", False),
    ("functions", [{"name": "f"}], False),
    ("logit_bias", {}, True),
    ("logit_bias", {"50256": -100}, False),
    ("logprobs", False, True),
    ("logprobs", True, False),
    ("max_completion_tokens", 50, True),
    ("max_tokens", 50, True),
    ("max_tokens", 0, False),
    ("metadata", {"team": "search"}, True),
    ("metadata", {"fmgw-tenant": "me"}, False),
    ("modalities", ["text"], True),
    ("modalities", ["text", "audio"], False),
    ("moderation", {"model": "omni-moderation-latest"}, False),
    ("n", 1, True),
    ("n", 2, False),
    ("parallel_tool_calls", False, True),
    ("prediction", {"type": "content", "content": "x"}, False),
    ("presence_penalty", 0, True),
    ("presence_penalty", 1.0, False),
    ("prompt_cache_key", "k", False),
    ("prompt_cache_options", {"mode": "explicit"}, False),
    ("prompt_cache_retention", "24h", False),
    ("reasoning_effort", "low", False),
    ("response_format", {"type": "json_object"}, True),
    ("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "if": {}}}}, False),
    ("safety_identifier", "hash-1", True),
    ("safety_identifier", "bad<chars>", False),
    ("seed", 7, False),  # claude-sonnet-4-5 takes no seed
    ("seed", 7, True),  # sent with model command-r-plus, whose catalog capabilities include seed
    ("service_tier", "flex", True),
    ("service_tier", "scale", False),
    ("stop", ["END"], True),
    ("stop", [""], False),
    ("store", False, True),
    ("store", True, False),
    ("stream", False, True),
    ("stream_options", {"include_usage": True}, True),
    ("stream_options", {"include_obfuscation": True}, False),
    ("temperature", 0.5, True),
    ("temperature", 1.5, False),
    ("tool_choice", "required", True),
    ("tool_choice", {"type": "custom", "custom": {"name": "x"}}, False),
    ("tools", [TOOL], True),
    ("tools", [{"type": "custom", "custom": {"name": "x"}}], False),
    ("top_logprobs", 2, False),
    ("top_p", 0.5, True),
    ("top_p", 1.5, False),
    ("user", "user-1", True),
    ("user", "no <html>", False),
    ("verbosity", "low", False),
    ("web_search_options", {}, False),
]


def test_readme_table_lists_exactly_the_sdk_fields():
    assert sorted(set(README_FIELDS)) == sorted(README_FIELDS), "a field is listed twice"
    assert set(README_FIELDS) - set(SDK_FIELDS) == set(), "README lists fields the SDK does not have"
    assert set(SDK_FIELDS) - set(README_FIELDS) == set(), "README misses fields of the SDK's CompletionCreateParams"


def test_the_gateway_table_is_the_same_list():
    assert set(openai_fields.FIELDS) == set(SDK_FIELDS)


def test_every_row_has_a_case_and_every_conditional_row_both_kinds():
    assert {case[0] for case in FIELD_CASES} == set(README_FIELDS)
    for field, summary in openai_fields.FIELDS.items():
        kinds = {honoured for name, _, honoured in FIELD_CASES if name == field}
        if summary.startswith("honoured"):
            assert True in kinds, field
        if "refused" in summary:
            assert False in kinds, field


@pytest.mark.parametrize(("field", "value", "honoured"), FIELD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FIELD_CASES)])
def test_translation_honours_or_refuses_by_name(field, value, honoured):
    body: dict = {"model": "claude-sonnet-4-5", "messages": USER}
    body[field] = value
    if field == "stream_options":
        body["stream"] = True
    if field == "tool_choice":
        body["tools"] = [TOOL]
    if field == "seed" and honoured:
        body["model"] = "command-r-plus"
    catalog = load_file(CONFIG_FILE).catalog
    if honoured:
        translate(body, catalog, streaming=True)
    else:
        with pytest.raises(InvalidRequest, match=re.escape(f"body.{field}")):
            translate(body, catalog, streaming=True)
