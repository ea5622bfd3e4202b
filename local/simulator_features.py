"""What the Bedrock simulator answers to the Converse request fields of issue 10 (hooked from ``simulator_converse``;
the behaviour is specified in the README's "Bedrock simulator: request fields"). Deterministic throughout:

* ``toolConfig`` and no ``toolResult`` in the last user message: one ``toolUse`` block (``toolChoice.tool`` names the
  tool, else the first), its input generated from the tool's ``inputSchema.json``; ``stopReason`` ``tool_use``;
* ``toolResult`` blocks in the last user message: a text answer quoting them, ``stopReason`` ``end_turn``;
* ``outputConfig.textFormat``: the text is a JSON document valid against the given schema;
* ``guardrailConfig`` and the word ``BLOCKME`` in any text: ``stopReason`` ``guardrail_intervened``, with a
  ``trace.guardrail`` naming the guardrail and the word when the trace is enabled;
* ``cachePoint`` blocks: the tokens before the first one are the cached prefix: the first request with that prefix
  (per model) reports ``cacheWriteInputTokens`` (and ``cacheDetails`` with the cache point's TTL), later ones
  ``cacheReadInputTokens``;
* every request is recorded: ``GET /_sim/requests`` lists the last 100 (model, operation, requestMetadata, tools).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

TRIGGER = "BLOCKME"
BLOCKED_TEXT = "Sorry, the model cannot answer this question."
TOOL_RESULT_PREFIX = "Tool result received:"
KEPT_REQUESTS = 100


class Refused(Exception):
    """A request Converse would refuse (the simulator answers it as a ValidationException)."""


class Answer(NamedTuple):
    content: list[dict[str, Any]]
    stop_reason: str
    usage: dict[str, int]
    fields: dict[str, Any]  # beside output: trace


def sample(schema: Any, every_property: bool = False) -> Any:
    """A value valid against a (simple) JSON Schema: the listed ``required`` properties (all of them when none are
    listed, or with ``every_property``); an object with no properties at all gets one (``{"answer": "sample"}``, as a
    model writes for OpenAI's json_object); the first enum value or the const; a string "sample" (or the first of a
    few candidates that a ``pattern`` matches, fitted to min/maxLength), a number within its bounds, true, an array of
    ``minItems`` samples. Keywords beyond these (``not``, combinators) are not honoured: a schema built on them gets a
    value that may not match, as a real model's may not."""
    if not isinstance(schema, dict):
        return "sample"
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        properties = schema.get("properties") or {}
        if not properties and not schema.get("required") and schema.get("additionalProperties") is not False:
            return {"answer": "sample"}  # an open object (OpenAI's json_object): what a model writes, never {}
        names = list(properties) if every_property or not schema.get("required") else list(schema["required"])
        return {name: sample(properties.get(name, {}), every_property) for name in names}
    if kind == "array":
        return [sample(schema.get("items", {}), every_property) for _ in range(int(schema.get("minItems", 0)))]
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind in ("boolean", "null"):
        return {"boolean": True, "null": None}[kind]
    return _string(schema)


_PATTERN_CANDIDATES = ("sample", "0000", "1234", "a", "A", "abc", "ABC", "a1", "A1", "sample@example.com", "2026-01-01")


def _string(schema: dict) -> str:
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    fitted = [text for text in _PATTERN_CANDIDATES if len(text) >= low and (high is None or len(text) <= high)]
    fitted = fitted or ["s" * max(low, 1)]
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            return next((text for text in fitted if re.search(pattern, text)), fitted[0])
        except re.error:
            return fitted[0]
    return fitted[0]


def _number(schema: dict, kind: str) -> int | float:
    value: float = 1 if kind == "integer" else 1.5
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
        value = max(value, schema["exclusiveMinimum"] + 1)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    return int(value) if kind == "integer" else value


def _texts(blocks: Any) -> Iterator[str]:
    for block in blocks or ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            yield block["text"]
        for item in (block.get("toolResult") or {}).get("content") or () if isinstance(block.get("toolResult"), dict) else ():
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                yield item["text"]


def _tools(body: dict) -> list[dict]:
    return [tool["toolSpec"] for tool in (body.get("toolConfig") or {}).get("tools") or () if "toolSpec" in tool]


def check(body: dict) -> None:
    """What Converse refuses about these fields (the gateway's validation should have caught it first)."""
    tool_config = body.get("toolConfig")
    uses_tools = any(
        isinstance(block, dict) and ("toolUse" in block or "toolResult" in block)
        for message in body.get("messages") or ()
        for block in message.get("content") or ()
    )
    if uses_tools and not tool_config:
        raise Refused("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    if tool_config is not None:
        if not tool_config.get("tools"):
            raise Refused("toolConfig.tools must contain at least one tool.")
        chosen = ((tool_config.get("toolChoice") or {}).get("tool") or {}).get("name")
        named = {(tool.get("toolSpec") or tool.get("systemTool") or {}).get("name") for tool in tool_config["tools"]}
        if chosen is not None and chosen not in named:
            raise Refused(f"toolConfig.toolChoice.tool.name '{chosen}' does not match any tool in toolConfig.tools.")
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if text_format is not None:
        try:
            json.loads(text_format["structure"]["jsonSchema"]["schema"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Refused("outputConfig.textFormat.structure.jsonSchema.schema must be a JSON schema string.") from exc


class Features:
    """The simulator's memory for these features: cached prompt prefixes per model, and the last requests."""

    def __init__(self, count_tokens: Callable[[str], int]):
        self.count_tokens = count_tokens
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.prefixes: set[tuple[str, str]] = set()
            self.received: deque[dict[str, Any]] = deque(maxlen=KEPT_REQUESTS)

    def record(self, model_id: str, operation: str, body: dict) -> None:
        entry = {
            "modelId": model_id,
            "operation": operation,
            "requestMetadata": body.get("requestMetadata"),
            "toolConfig": "toolConfig" in body,
            "guardrailConfig": "guardrailConfig" in body,
            "outputConfig": "outputConfig" in body,
            "fields": sorted(name for name in body if name != "messages"),  # every other request field received
        }
        with self.lock:
            self.received.append(entry)

    def record_entry(self, entry: dict[str, Any]) -> None:
        """A request of another kind (a SageMaker call: endpoint, inference component, container, stream)."""
        with self.lock:
            self.received.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received)

    def answer(self, model_id: str, body: dict, text: str, usage: dict[str, int], stop_reason: str) -> Answer:
        """The answer for a Converse request given the plain one (``text``, ``usage``, ``stop_reason``)."""
        fields: dict[str, Any] = {}
        content: list[dict[str, Any]] = [{"text": text}]
        last_user = next((m for m in reversed(body.get("messages") or ()) if m.get("role") == "user"), {})
        results = [b["toolResult"] for b in last_user.get("content") or () if isinstance(b, dict) and "toolResult" in b]
        guardrail = body.get("guardrailConfig")
        every_text = [*_texts(body.get("system")), *(t for m in body.get("messages") or () for t in _texts(m.get("content")))]
        text_format = (body.get("outputConfig") or {}).get("textFormat")
        if guardrail is not None and any(TRIGGER in part for part in every_text):
            content, stop_reason = [{"text": BLOCKED_TEXT}], "guardrail_intervened"
            if guardrail.get("trace") in ("enabled", "enabled_full"):
                fields["trace"] = {"guardrail": _guardrail_trace(guardrail)}
        elif results:
            quoted = [_quote(item) for result in results for item in result.get("content") or ()]
            content, stop_reason = [{"text": f"{TOOL_RESULT_PREFIX} " + "; ".join(quoted)}], "end_turn"
        elif body.get("toolConfig"):
            content, stop_reason = [self._tool_use(body)], "tool_use"
        elif text_format is not None:
            schema = json.loads(text_format["structure"]["jsonSchema"]["schema"])
            content, stop_reason = [{"text": json.dumps(sample(schema, every_property=True))}], "end_turn"
        if content[0].get("text") != text or "toolUse" in content[0]:
            out = content[0].get("text") or json.dumps(content[0].get("toolUse", {}).get("input", {}))
            usage = {**usage, "outputTokens": self.count_tokens(out)}
        tool_tokens = sum(self.count_tokens(json.dumps(spec)) for spec in _tools(body))  # tools are prompt too
        usage = {**usage, "inputTokens": sum(self.count_tokens(part) for part in every_text) + tool_tokens}
        usage = self._cache(model_id, body, usage)
        usage["totalTokens"] = sum(v for k, v in usage.items() if k not in ("totalTokens", "cacheDetails"))
        return Answer(content, stop_reason, usage, fields)

    def _tool_use(self, body: dict) -> dict[str, Any]:
        tools = _tools(body)
        chosen = ((body["toolConfig"].get("toolChoice") or {}).get("tool") or {}).get("name")
        spec = next((tool for tool in tools if tool.get("name") == chosen), tools[0] if tools else {"name": "tool"})
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        schema = (spec.get("inputSchema") or {}).get("json") or {}
        return {"toolUse": {"toolUseId": f"tooluse_{digest[:20]}", "name": spec["name"], "input": sample(schema)}}

    def _cache(self, model_id: str, body: dict, usage: dict[str, int]) -> dict[str, int]:
        """Prompt caching: the content before the first cachePoint (tools, then system, then messages)."""
        prefix: list[Any] = []
        tokens = 0
        found: dict[str, Any] | None = None
        sequence = [
            *((body.get("toolConfig") or {}).get("tools") or ()),
            *(body.get("system") or ()),
            *(block for message in body.get("messages") or () for block in message.get("content") or ()),
        ]
        for block in sequence:
            if isinstance(block, dict) and "cachePoint" in block:
                found = block["cachePoint"] if isinstance(block["cachePoint"], dict) else {}
                break
            prefix.append(block)
            if isinstance(block, dict) and "toolSpec" in block:
                tokens += self.count_tokens(json.dumps(block["toolSpec"]))
            else:
                tokens += sum(self.count_tokens(part) for part in _texts([block]))
        if found is None or tokens == 0:
            return dict(usage)
        key = (model_id, hashlib.sha256(json.dumps(prefix, sort_keys=True, default=str).encode()).hexdigest())
        with self.lock:
            seen = key in self.prefixes
            self.prefixes.add(key)
        out: dict[str, Any] = {**usage, "inputTokens": max(0, usage["inputTokens"] - tokens)}
        out["cacheReadInputTokens" if seen else "cacheWriteInputTokens"] = tokens
        if not seen:  # Bedrock breaks the writes down by TTL
            out["cacheDetails"] = [{"ttl": found.get("ttl", "5m"), "inputTokens": tokens}]
        return out


def _guardrail_trace(guardrail: dict) -> dict[str, Any]:
    """Bedrock's GuardrailTraceAssessment: the input assessment of the guardrail, a blocked custom word."""
    identifier = guardrail.get("guardrailIdentifier") or "default"
    assessment = {"wordPolicy": {"customWords": [{"match": TRIGGER, "action": "BLOCKED", "detected": True}]}}
    return {"inputAssessment": {identifier: assessment}, "modelOutput": [], "actionReason": f"Guardrail blocked: {TRIGGER}"}


def _quote(item: Any) -> str:
    if isinstance(item, dict) and "text" in item:
        return str(item["text"])
    if isinstance(item, dict) and "json" in item:
        return json.dumps(item["json"], sort_keys=True)
    return json.dumps(item, sort_keys=True, default=str)


def stream_events(content: list[dict[str, Any]], text_deltas: Callable[[str], list[str]]) -> Iterator[tuple[str, dict, str]]:
    """ConverseStream events for the answer's blocks: (event type, payload, the text the delta costs in tokens)."""
    for index, block in enumerate(content):
        if "toolUse" in block:
            tool_use = block["toolUse"]
            start = {"toolUse": {"toolUseId": tool_use["toolUseId"], "name": tool_use["name"]}}
            yield "contentBlockStart", {"start": start, "contentBlockIndex": index}, ""
            document = json.dumps(tool_use["input"])
            half = len(document) // 2
            for piece in (document[:half], document[half:]):
                yield "contentBlockDelta", {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": index}, piece
        else:
            for delta in text_deltas(block.get("text", "")):
                yield "contentBlockDelta", {"delta": {"text": delta}, "contentBlockIndex": index}, delta
        yield "contentBlockStop", {"contentBlockIndex": index}, ""
