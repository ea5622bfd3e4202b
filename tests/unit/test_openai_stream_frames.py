"""The OpenAI SSE frames of the streaming function (fmgateway.openai_surface.answer.openai_frames) for tool calls and
structured outputs, from ConverseStream events as Bedrock sends them (a stand-in ChatStream: the loop is tested
elsewhere)."""

from __future__ import annotations

import json

from fmgateway.config.gateway_config import load_file
from fmgateway.openai_surface.answer import openai_frames
from fmgateway.openai_surface.request import translate
from fmgateway.values.exchange import ChatResult
from tests.conftest import CONFIG_FILE

CATALOG = load_file(CONFIG_FILE).catalog
USAGE = {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


class FakeStream:
    def __init__(self, events: list[tuple[str, dict]], content: list[dict], stop_reason: str):
        self._events, self.model = events, CATALOG.models["nova-pro"]
        self.result = ChatResult({"role": "assistant", "content": content}, stop_reason, USAGE, self.model, "r", [], False, 0, 0)

    def events(self):
        yield from self._events

    def gateway_block(self) -> dict:
        return {"model": self.model.alias}


def tool_events(name: str, pieces: list[str], block: int = 0) -> list[tuple[str, dict]]:
    return [
        (
            "contentBlockStart",
            {"start": {"toolUse": {"toolUseId": f"tooluse_{block}", "name": name}}, "contentBlockIndex": block},
        ),
        *[("contentBlockDelta", {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": block}) for piece in pieces],
        ("contentBlockStop", {"contentBlockIndex": block}),
    ]


def frames(stream: FakeStream, body: dict) -> list:
    translation = translate(
        {"model": "nova-pro", "messages": [{"role": "user", "content": "hi"}], **body}, CATALOG, streaming=True
    )
    out = []
    for frame in openai_frames(stream, "req-1", include_usage=False, translation=translation):
        data = frame.decode().removeprefix("data: ").strip()
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_tool_calls_stream_as_openai_deltas():
    events = [("messageStart", {"role": "assistant"}), *tool_events("get_weather", ['{"ci', 'ty": "Paris"}'])]
    events += [("messageStop", {"stopReason": "tool_use"})]
    content = [{"toolUse": {"toolUseId": "tooluse_0", "name": "get_weather", "input": {"city": "Paris"}}}]
    out = frames(FakeStream(events, content, "tool_use"), {"tools": [WEATHER]})
    calls = [chunk["choices"][0]["delta"]["tool_calls"][0] for chunk in out[:-1] if "tool_calls" in chunk["choices"][0]["delta"]]
    assert calls == [
        {"index": 0, "id": "tooluse_0", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"ci'}},
        {"index": 0, "function": {"arguments": 'ty": "Paris"}'}},
    ]
    assert out[-2]["choices"][0]["finish_reason"] == "tool_calls" and out[-1] == "[DONE]"


def test_a_forced_tool_structured_output_is_checked_then_sent_as_content():
    events = [("messageStart", {"role": "assistant"}), *tool_events("person", ['{"name"', ': "Jo"}'])]
    events += [("messageStop", {"stopReason": "tool_use"})]
    content = [{"toolUse": {"toolUseId": "tooluse_0", "name": "person", "input": {"name": "Jo"}}}]
    body = {"response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}}
    out = frames(FakeStream(events, content, "tool_use"), body)
    deltas = [chunk["choices"][0]["delta"] for chunk in out[:-1] if chunk["choices"]]
    assert not any("tool_calls" in delta for delta in deltas)  # the format tool is no tool call of the caller's
    assert [delta["content"] for delta in deltas if delta.get("content")] == ['{"name": "Jo"}']
    assert out[-2]["choices"][0]["finish_reason"] == "stop"


def test_a_structured_output_that_misses_its_schema_ends_with_an_error_event():
    events = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"delta": {"text": '{"age": 3}'}, "contentBlockIndex": 0}),
    ]
    events += [("messageStop", {"stopReason": "end_turn"})]
    body = {"response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}}
    out = frames(FakeStream(events, [{"text": '{"age": 3}'}], "end_turn"), body)
    assert out[-1]["error"]["code"] == "model_error" and "$.name: required" in out[-1]["error"]["message"]
    assert "[DONE]" not in out
    assert not any(chunk.get("choices") and chunk["choices"][0]["delta"].get("content") for chunk in out[:-1])
