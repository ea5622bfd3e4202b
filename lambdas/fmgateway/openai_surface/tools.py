"""OpenAI tool calling <-> Converse tool use: ``tools`` / ``tool_choice`` -> ``toolConfig``, and the answer's
``toolUse`` blocks -> ``tool_calls`` (whole, or as streamed deltas)."""

from __future__ import annotations

import json
from typing import Any

from fmgateway.openai_surface import json_schema_check
from fmgateway.routing.capabilities import STRUCTURED_OUTPUT
from fmgateway.values.errors import InvalidRequest, ModelError
from fmgateway.values.model import Model

EMPTY_SCHEMA = {"type": "object", "properties": {}}


def tool_specs(tools: list[dict]) -> list[dict]:
    specs, names = [], set()
    for index, tool in enumerate(tools):
        where = f"body.tools[{index}]"
        if tool.get("type") != "function":
            raise InvalidRequest(f"{where}.type: only 'function' tools are supported (Bedrock has no custom tools)")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise InvalidRequest(f"{where}.function: a function tool needs its 'function' (name, description, parameters)")
        name = function["name"]
        if name in names:
            raise InvalidRequest(f"{where}.function.name: '{name}' is defined twice")
        names.add(name)
        spec: dict[str, Any] = {"name": name, "inputSchema": {"json": function.get("parameters") or EMPTY_SCHEMA}}
        if function.get("description"):
            spec["description"] = function["description"]
        if function.get("strict"):
            spec["strict"] = True  # Bedrock's strict tool use where the model has it (without_strict), checked anyway
            where_schema = f"{where}.function.parameters"
            if problem := json_schema_check.unsupported(spec["inputSchema"]["json"], where_schema):
                raise InvalidRequest(problem)
        specs.append({"toolSpec": spec})
    return specs


def tool_config(body: dict[str, Any]) -> tuple[dict | None, bool]:
    """(the Converse ``toolConfig`` or None, whether tool use is switched off: ``tool_choice: "none"``)."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not tools:
        if choice not in (None, "none"):
            raise InvalidRequest("body.tool_choice: needs tools")
        return None, choice == "none"
    specs = tool_specs(tools)
    names = [spec["toolSpec"]["name"] for spec in specs]
    if choice in (None, "auto"):
        return {"tools": specs, "toolChoice": {"auto": {}}}, False
    if choice == "required":
        return {"tools": specs, "toolChoice": {"any": {}}}, False
    if choice == "none":
        return None, True
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise InvalidRequest(f"body.tool_choice.function.name: '{name}' is not one of the tools")
        return {"tools": specs, "toolChoice": {"tool": {"name": name}}}, False
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        wanted = [(tool.get("function") or {}).get("name") for tool in allowed.get("tools") or []]
        for position, name in enumerate(wanted):
            if name not in names:
                raise InvalidRequest(f"body.tool_choice.allowed_tools.tools[{position}]: '{name}' is not one of the tools")
        mode = allowed.get("mode")
        if mode not in ("auto", "required") or not wanted:
            raise InvalidRequest("body.tool_choice.allowed_tools: needs mode 'auto' or 'required' and at least one tool")
        kept = [spec for spec in specs if spec["toolSpec"]["name"] in wanted]
        return {"tools": kept, "toolChoice": {"auto": {}} if mode == "auto" else {"any": {}}}, False
    raise InvalidRequest("body.tool_choice: must be none, auto, required, a function or allowed_tools (no custom tools)")


def strict_schemas(tool_config: dict | None) -> dict[str, Any]:
    """Tool name -> input schema of the caller's ``strict`` tools: their calls are checked before they are returned."""
    specs = (tool_config or {}).get("tools") or []
    return {spec["toolSpec"]["name"]: spec["toolSpec"]["inputSchema"]["json"] for spec in specs if spec["toolSpec"].get("strict")}


def without_strict(model: Model, body: dict[str, Any]) -> dict[str, Any]:
    """Bedrock's strict tool use comes with its structured outputs: a model without them gets the tools without
    ``strict`` (Bedrock would refuse the request), and its calls are checked by the gateway instead."""
    config = body.get("toolConfig")
    if (
        STRUCTURED_OUTPUT in model.capabilities
        or not config
        or not any(t.get("toolSpec", {}).get("strict") for t in config["tools"])
    ):
        return body
    tools = [
        {"toolSpec": {k: v for k, v in t["toolSpec"].items() if k != "strict"}} if "toolSpec" in t else t for t in config["tools"]
    ]
    return {**body, "toolConfig": {**config, "tools": tools}}


def check_strict_calls(calls: list[dict], schemas: dict[str, Any]) -> None:
    """A call of a strict tool whose arguments miss the tool's schema is a 502, never passed on as if valid."""
    for call in calls:
        schema = schemas.get(call["function"]["name"])
        if schema is None:
            continue
        problems = json_schema_check.errors(json.loads(call["function"]["arguments"]), schema)
        if problems:
            raise ModelError(
                f"the model called strict tool '{call['function']['name']}' with arguments that miss its parameters "
                f"schema: {'; '.join(problems[:3])}"
            )


def without_tool_blocks(messages: list[dict]) -> list[dict]:
    """``tool_choice: "none"`` with tool calls in the history: Bedrock refuses toolUse / toolResult blocks without a
    ``toolConfig``, and a ``toolConfig`` would let the model call tools, so the history's tool blocks become text."""
    rewritten = []
    for message in messages:
        content = []
        for block in message["content"]:
            if "toolUse" in block:
                use = block["toolUse"]
                content.append({"text": f"[called tool {use['name']} ({use['toolUseId']}) with {json.dumps(use['input'])}]"})
            elif "toolResult" in block:
                result = block["toolResult"]
                text = " ".join(part.get("text", "") for part in result["content"])
                content.append({"text": f"[result of tool call {result['toolUseId']}: {text}]"})
            else:
                content.append(block)
        rewritten.append({**message, "content": content})
    return rewritten


def has_tool_blocks(messages: list[dict]) -> bool:
    return any("toolUse" in block or "toolResult" in block for message in messages for block in message["content"])


def tool_calls(blocks: list[dict], skip: str | None = None, parallel: bool = True) -> list[dict]:
    """The answer's ``toolUse`` blocks as OpenAI ``tool_calls`` (``skip``: the structured-output tool; ``parallel``
    false: only the first call, as ``parallel_tool_calls: false`` asks)."""
    calls = [
        {
            "id": block["toolUse"]["toolUseId"],
            "type": "function",
            "function": {"name": block["toolUse"]["name"], "arguments": json.dumps(block["toolUse"].get("input", {}))},
        }
        for block in blocks
        if "toolUse" in block and block["toolUse"]["name"] != skip
    ]
    return calls if parallel else calls[:1]


class ToolCallDeltas:
    """ConverseStream tool-use events -> OpenAI ``delta.tool_calls`` entries: the first names the call (index, id,
    type, function name, empty arguments), the next ones carry pieces of the arguments."""

    def __init__(self, skip: str | None = None, parallel: bool = True):
        self.skip, self.parallel = skip, parallel
        self.calls: dict[int, int] = {}  # content block index -> tool call index
        self.format_blocks: set[int] = set()  # blocks of the structured-output tool: their input is the content
        self.dropped: set[int] = set()  # calls past the first with parallel_tool_calls false

    def start(self, data: dict) -> dict | None:
        use = (data.get("start") or {}).get("toolUse")
        if not use:
            return None
        block = data.get("contentBlockIndex", 0)
        if use["name"] == self.skip:
            self.format_blocks.add(block)
            return None
        if not self.parallel and self.calls:
            self.dropped.add(block)
            return None
        index = self.calls[block] = len(self.calls)
        return {"index": index, "id": use["toolUseId"], "type": "function", "function": {"name": use["name"], "arguments": ""}}

    def delta(self, data: dict) -> dict | None:
        piece = (data.get("delta") or {}).get("toolUse")
        block = data.get("contentBlockIndex", 0)
        if piece is None or block not in self.calls:
            return None
        return {"index": self.calls[block], "function": {"arguments": piece.get("input", "")}}

    def is_format_block(self, data: dict) -> bool:
        """A delta of the structured-output tool (its input is the answer's content)."""
        return data.get("contentBlockIndex", 0) in self.format_blocks
