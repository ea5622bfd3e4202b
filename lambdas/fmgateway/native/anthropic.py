"""Anthropic Messages bodies on Bedrock (``anthropic_version: bedrock-2023-05-31``) <-> Converse."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fmgateway.native.bodies import Untranslatable, check_fields, invocation_metrics, merge_turns, require, system_text, usage

FAMILY = "Anthropic Messages"
VERSION = "bedrock-2023-05-31"
MAX_TOKENS = ("max_tokens",)  # where the body says how long the answer may be
FIELDS = frozenset(
    {
        "anthropic_version",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "anthropic_beta",
        "thinking",
    }
)
EXTRA_FIELDS = ("top_k", "anthropic_beta", "thinking")  # no Converse equivalent: additionalModelRequestFields
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use"}


# ---- request ------------------------------------------------------------------------------------------------------


def request_to_converse(body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, FIELDS, FAMILY)
    require(isinstance(body.get("messages"), list) and body["messages"], "body.messages", "a non-empty list is required")
    max_tokens = body.get("max_tokens")
    require(
        isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 1,
        "body.max_tokens",
        "required, an integer >= 1",
    )
    messages = []
    for index, message in enumerate(body["messages"]):
        where = f"body.messages[{index}]"
        require(
            isinstance(message, dict) and message.get("role") in ("user", "assistant"),
            f"{where}.role",
            "must be 'user' or 'assistant'",
        )
        unknown = set(message) - {"role", "content"}
        require(not unknown, f"{where}.{next(iter(unknown), '')}", "not a field of a message")
        messages.append({"role": message["role"], "content": _content(message.get("content"), f"{where}.content")})
    converse: dict[str, Any] = {"messages": merge_turns(messages)}
    system = body.get("system")
    if system:
        if isinstance(system, str):
            converse["system"] = [{"text": system}]
        else:
            require(isinstance(system, list), "body.system", "a string or a list of text blocks")
            converse["system"] = [{"text": _text_block(block, f"body.system[{i}]")} for i, block in enumerate(system)]
    inference: dict[str, Any] = {"maxTokens": max_tokens}
    for native, name in (("temperature", "temperature"), ("top_p", "topP"), ("stop_sequences", "stopSequences")):
        if body.get(native) is not None:
            inference[name] = body[native]
    converse["inferenceConfig"] = inference
    if body.get("tools"):
        converse["toolConfig"] = _tool_config(body["tools"], body.get("tool_choice"))
    extra = {name: body[name] for name in EXTRA_FIELDS if body.get(name) is not None}
    if extra:
        converse["additionalModelRequestFields"] = extra
    return converse


def _text_block(block: Any, where: str) -> str:
    require(
        isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str),
        where,
        "a text block {'type': 'text', 'text': ...}",
    )
    return block["text"]


def _content(content: Any, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}]
    require(isinstance(content, list) and content, where, "a string or a non-empty list of content blocks")
    blocks: list[dict] = []
    for index, block in enumerate(content):
        at = f"{where}[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            blocks.append({"text": _text_block(block, at)})
        elif kind == "image":
            source = block.get("source") or {}
            require(
                source.get("type") == "base64" and source.get("media_type") in IMAGE_FORMATS,
                f"{at}.source",
                f"a base64 image of type {', '.join(IMAGE_FORMATS)}",
            )
            blocks.append({"image": {"format": IMAGE_FORMATS[source["media_type"]], "source": {"bytes": source.get("data")}}})
        elif kind == "tool_use":
            require(isinstance(block.get("id"), str) and isinstance(block.get("name"), str), at, "tool_use needs id and name")
            blocks.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block.get("input", {})}})
        elif kind == "tool_result":
            result = block.get("content", "")
            texts = [{"text": result}] if isinstance(result, str) else [{"text": _text_block(b, f"{at}.content")} for b in result]
            tool_result: dict[str, Any] = {"toolUseId": block.get("tool_use_id"), "content": texts}
            if block.get("is_error"):
                tool_result["status"] = "error"
            blocks.append({"toolResult": tool_result})
        else:
            raise_unsupported(at, kind)
    return blocks


def raise_unsupported(where: str, kind: Any) -> None:
    require(False, f"{where}.type", f"unsupported content block type {kind!r} (text, image, tool_use, tool_result)")


def _tool_config(tools: Any, choice: Any) -> dict[str, Any]:
    require(isinstance(tools, list), "body.tools", "a list of tools")
    specs = []
    for index, tool in enumerate(tools):
        require(isinstance(tool, dict) and isinstance(tool.get("name"), str), f"body.tools[{index}].name", "required")
        spec: dict[str, Any] = {"name": tool["name"], "inputSchema": {"json": tool.get("input_schema", {"type": "object"})}}
        if tool.get("description"):
            spec["description"] = tool["description"]
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice:
        kind = choice.get("type") if isinstance(choice, dict) else None
        require(kind in ("auto", "any", "tool"), "body.tool_choice.type", "one of auto, any, tool")
        config["toolChoice"] = {"tool": {"name": choice.get("name")}} if kind == "tool" else {kind: {}}
    return config


def converse_to_request(converse: dict[str, Any]) -> dict[str, Any]:
    extra = converse.get("additionalModelRequestFields") or {}
    unknown = [name for name in extra if name not in EXTRA_FIELDS]
    if unknown:
        raise Untranslatable(f"Anthropic has no field {unknown[0]} (additionalModelRequestFields)")
    for name in ("guardrailConfig", "outputConfig", "promptVariables"):
        if converse.get(name):
            raise Untranslatable(f"an Anthropic body has no equivalent of {name}")
    inference = converse.get("inferenceConfig") or {}
    body: dict[str, Any] = {"anthropic_version": VERSION, "max_tokens": inference.get("maxTokens", 1024)}
    if system := system_text(converse):
        body["system"] = system
    body["messages"] = [
        {"role": m["role"], "content": [_native_block(b, i) for b in m["content"]]} for i, m in enumerate(converse["messages"])
    ]
    for name, native in (("temperature", "temperature"), ("topP", "top_p"), ("stopSequences", "stop_sequences")):
        if inference.get(name) is not None:
            body[native] = inference[name]
    tools = converse.get("toolConfig")
    if tools:
        body["tools"] = [_native_tool(tool) for tool in tools.get("tools", [])]
        choice = tools.get("toolChoice")
        if choice:
            ((kind, value),) = choice.items()
            body["tool_choice"] = {"type": "tool", "name": value["name"]} if kind == "tool" else {"type": kind}
    body.update(extra)
    return body


def _native_block(block: dict, index: int) -> dict:
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    if "image" in block and "bytes" in block["image"].get("source", {}):
        media = next(media for media, fmt in IMAGE_FORMATS.items() if fmt == block["image"]["format"])
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": block["image"]["source"]["bytes"]}}
    if "toolUse" in block:
        use = block["toolUse"]
        return {"type": "tool_use", "id": use["toolUseId"], "name": use["name"], "input": use.get("input", {})}
    if "toolResult" in block:
        result = block["toolResult"]
        texts = [
            {"type": "text", "text": part["text"]} if "text" in part else {"type": "text", "text": json.dumps(part.get("json"))}
            for part in result.get("content", [])
        ]
        native = {"type": "tool_result", "tool_use_id": result["toolUseId"], "content": texts}
        if result.get("status") == "error":
            native["is_error"] = True
        return native
    raise Untranslatable(f"an Anthropic body cannot carry messages[{index}]'s {next(iter(block), '?')} block")


def _native_tool(tool: dict) -> dict:
    spec = tool.get("toolSpec")
    if spec is None:
        raise Untranslatable("Anthropic tools are tool specs only (no cachePoint or system tools)")
    native = {"name": spec["name"], "input_schema": spec.get("inputSchema", {}).get("json", {"type": "object"})}
    if spec.get("description"):
        native["description"] = spec["description"]
    return native


# ---- response -----------------------------------------------------------------------------------------------------


def response_to_converse(native: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    content = []
    for block in native.get("content") or []:
        if block.get("type") == "text":
            content.append({"text": block.get("text", "")})
        elif block.get("type") == "tool_use":
            content.append({"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block.get("input", {})}})
    tokens = native.get("usage") or {}
    stop = native.get("stop_reason") or "end_turn"
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop if stop in STOP_REASONS else "end_turn",
        "usage": usage(int(tokens.get("input_tokens", 0)), int(tokens.get("output_tokens", 0))),
    }


def converse_to_response(converse: dict[str, Any], model_id: str) -> dict[str, Any]:
    message = converse["output"]["message"]
    content = [_native_block(block, 0) for block in message.get("content", []) if "text" in block or "toolUse" in block]
    stop = converse.get("stopReason", "end_turn")
    tokens = converse.get("usage") or {}
    return {
        "id": message_id(model_id, content),
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": content,
        "stop_reason": stop if stop in STOP_REASONS else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens.get("inputTokens", 0), "output_tokens": tokens.get("outputTokens", 0)},
    }


def message_id(model_id: str, content: Any) -> str:
    digest = hashlib.sha256(json.dumps([model_id, content], sort_keys=True).encode("utf-8", "surrogatepass")).hexdigest()
    return f"msg_bdrk_{digest[:24]}"


# ---- stream -------------------------------------------------------------------------------------------------------


class StreamRenderer:
    """ConverseStream events -> Anthropic's streaming events (message_start ... message_stop)."""

    def __init__(self, model_id: str):
        self.model_id = model_id
        self.open_blocks: set[int] = set()
        self.stop_reason = "end_turn"

    def feed(self, name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if name == "messageStart":
            message: dict[str, Any] = {
                "id": message_id(self.model_id, []),
                "type": "message",
                "role": "assistant",
                "model": self.model_id,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            return [{"type": "message_start", "message": message}]
        if name == "contentBlockStart":
            index = data.get("contentBlockIndex", 0)
            use = (data.get("start") or {}).get("toolUse") or {}
            self.open_blocks.add(index)
            block: dict[str, Any] = {"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"), "input": {}}
            return [{"type": "content_block_start", "index": index, "content_block": block}]
        if name == "contentBlockDelta":
            index, delta = data.get("contentBlockIndex", 0), data.get("delta") or {}
            out = []
            if index not in self.open_blocks:
                self.open_blocks.add(index)
                out.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            if "toolUse" in delta:
                out.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": delta["toolUse"].get("input", "")},
                    }
                )
            else:
                out.append(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": delta.get("text", "")},
                    }
                )
            return out
        if name == "contentBlockStop":
            return [{"type": "content_block_stop", "index": data.get("contentBlockIndex", 0)}]
        if name == "messageStop":
            stop = data.get("stopReason", "end_turn")
            self.stop_reason = stop if stop in STOP_REASONS else "end_turn"
            return []
        if name == "metadata":
            tokens = data.get("usage") or {}
            metrics = invocation_metrics(data)
            return [
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": tokens.get("outputTokens", 0)},
                },
                {"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics},
            ]
        return []
