"""The Converse request fields the gateway forwards (``exchange.FORWARDED_FIELDS``) and what comes back with them.

Requests: ``schemas/chat-request.json`` (also API Gateway's model) checks their shapes as botocore's bedrock-runtime
model defines them; ``check`` adds what draft-04 cannot say and Converse would refuse: a ``toolChoice.tool`` naming no
tool, duplicate tool names, tool blocks without ``toolConfig``, a tool use in a user message, a structured-output
schema that is not a JSON object, and the ``requestMetadata`` rules (``fmgateway.converse.request_metadata``).

Responses: the usage with prompt-cache token counts, and the fields Converse returns beside the message (guardrail
``trace``, ``additionalModelResponseFields``...), passed through unchanged; ``Assembler`` rebuilds the message of a
ConverseStream (text and ``toolUse`` blocks) and ``replay`` streams a finished message again (the degraded cache).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from fmgateway.converse import request_metadata
from fmgateway.values.errors import InvalidRequest

# Converse response members passed through beside output, stopReason and usage
RESPONSE_FIELDS = ("additionalModelResponseFields", "trace", "performanceConfig", "serviceTier")
CACHE_USAGE = ("cacheReadInputTokens", "cacheWriteInputTokens")


def check(body: Mapping[str, Any], root: str = "body") -> None:
    """Converse's own rules for the forwarded fields, once the schema has accepted their shapes."""
    tool_config = body.get("toolConfig")
    names: list[str] = []
    if tool_config is not None:
        for index, tool in enumerate(tool_config["tools"]):
            name = (tool.get("toolSpec") or tool.get("systemTool") or {}).get("name")
            if name is None:
                continue
            if name in names:
                member = "toolSpec" if "toolSpec" in tool else "systemTool"
                raise InvalidRequest(f"{root}.toolConfig.tools[{index}].{member}.name: duplicate tool name '{name}'")
            names.append(name)
        chosen = ((tool_config.get("toolChoice") or {}).get("tool") or {}).get("name")
        if chosen is not None and chosen not in names:
            raise InvalidRequest(
                f"{root}.toolConfig.toolChoice.tool.name: '{chosen}' is not one of the tools ({', '.join(names) or 'none'})"
            )
    for index, message in enumerate(body.get("messages") or ()):
        for position, block in enumerate(message.get("content") or ()):
            kind = next((k for k in ("toolUse", "toolResult") if k in block), None)
            if kind is None:
                continue
            where = f"{root}.messages[{index}].content[{position}].{kind}"
            if tool_config is None:
                raise InvalidRequest(f"{where}: tool blocks need {root}.toolConfig (Converse refuses them without it)")
            if kind == "toolUse" and message.get("role") != "assistant":
                raise InvalidRequest(f"{where}: only an assistant message can hold a toolUse")
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if text_format is not None:
        where = f"{root}.outputConfig.textFormat.structure.jsonSchema.schema"
        try:
            schema = json.loads(text_format["structure"]["jsonSchema"]["schema"])
        except ValueError:
            raise InvalidRequest(f"{where}: must be a JSON Schema serialized as a JSON string") from None
        if not isinstance(schema, dict):
            raise InvalidRequest(f"{where}: must be a JSON Schema object serialized as a JSON string")
    if "requestMetadata" in body:
        request_metadata.check(body["requestMetadata"], f"{root}.requestMetadata")


def usage(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Converse ``usage`` as the gateway reports it: cache token counts kept when the model reports them; the total
    counts every input token, cached or not, as Bedrock's does."""
    out: dict[str, Any] = {"inputTokens": int(raw.get("inputTokens", 0)), "outputTokens": int(raw.get("outputTokens", 0))}
    for name in CACHE_USAGE:
        if name in raw:
            out[name] = int(raw[name])
    out["totalTokens"] = sum(out.values())
    if raw.get("cacheDetails"):  # the cache writes by TTL, as Bedrock reports them
        out["cacheDetails"] = [{"ttl": d.get("ttl"), "inputTokens": int(d.get("inputTokens", 0))} for d in raw["cacheDetails"]]
    return out


def response_fields(response: Mapping[str, Any]) -> dict[str, Any] | None:
    """What Converse returned beside the message that the caller may have asked for (``RESPONSE_FIELDS``)."""
    return {name: response[name] for name in RESPONSE_FIELDS if response.get(name) is not None} or None


class Assembler:
    """The message a ConverseStream's events spell out: text and ``toolUse`` blocks in index order, plus the response
    fields the ``metadata`` and ``messageStop`` events carry."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.inputs: dict[int, list[str]] = {}
        self.fields: dict[str, Any] = {}

    def feed(self, name: str, data: Mapping[str, Any]) -> None:
        index = int(data.get("contentBlockIndex", 0))
        if name == "contentBlockStart":
            tool_use = (data.get("start") or {}).get("toolUse")
            if tool_use is not None:
                self.blocks[index] = {"toolUse": {**tool_use, "input": {}}}
                self.inputs[index] = []
        elif name == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta:
                block = self.blocks.setdefault(index, {"text": ""})
                block["text"] = block.get("text", "") + delta["text"]
            elif "toolUse" in delta:
                self.inputs.setdefault(index, []).append((delta["toolUse"] or {}).get("input", ""))
        elif name == "contentBlockStop" and index in self.inputs and index in self.blocks:
            text = "".join(self.inputs[index])
            try:
                self.blocks[index]["toolUse"]["input"] = json.loads(text) if text else {}
            except ValueError:
                self.blocks[index]["toolUse"]["input"] = {"_raw": text}  # what the model sent, unparsed
        elif name == "messageStop" and data.get("additionalModelResponseFields") is not None:
            self.fields["additionalModelResponseFields"] = data["additionalModelResponseFields"]
        elif name == "metadata":
            for field in ("trace", "performanceConfig", "serviceTier"):
                if data.get(field) is not None:
                    self.fields[field] = data[field]

    def message(self) -> dict[str, Any]:
        content = [self.blocks[index] for index in sorted(self.blocks)] or [{"text": ""}]
        return {"role": "assistant", "content": content}


def replay(message: Mapping[str, Any], stop_reason: str, usage: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A finished message as ConverseStream events: each text block as one delta, each toolUse block as start, its
    input as one delta, stop."""
    yield "messageStart", {"role": "assistant"}
    for index, block in enumerate(message.get("content") or ()):
        if "toolUse" in block:
            tool_use = block["toolUse"]
            start = {"toolUseId": tool_use["toolUseId"], "name": tool_use["name"]}
            yield "contentBlockStart", {"start": {"toolUse": start}, "contentBlockIndex": index}
            delta = {"toolUse": {"input": json.dumps(tool_use.get("input", {}))}}
            yield "contentBlockDelta", {"delta": delta, "contentBlockIndex": index}
        else:
            yield "contentBlockDelta", {"delta": {"text": block.get("text", "")}, "contentBlockIndex": index}
        yield "contentBlockStop", {"contentBlockIndex": index}
    yield "messageStop", {"stopReason": stop_reason}
    yield "metadata", {"usage": dict(usage), "metrics": {"latencyMs": 0}}
