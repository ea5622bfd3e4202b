"""The request direction of the OpenAI surface, in one pass (``translate``): an OpenAI Chat Completions body in; out,
the gateway's Converse-shaped ``ChatRequest`` with what the answer needs (a ``Translation``). The sections follow the
pass: messages, tools, then ``service_tier``, ``seed``, ``inferenceConfig`` and ``requestMetadata``. Refusals use the
field table (``fields``); ``response_format`` and ``strict`` tools, which the answer needs too, are ``structured_output``.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from fmgateway.config import schemas
from fmgateway.config.catalog import Catalog
from fmgateway.config.gateway_config import TIERS
from fmgateway.converse import request_metadata
from fmgateway.converse.validation import check_base64
from fmgateway.openai_surface import json_schema, structured_output, tool_history
from fmgateway.openai_surface.fields import SERVICE_TIERS, refusals
from fmgateway.openai_surface.structured_output import OutputFormat
from fmgateway.routing import capabilities
from fmgateway.values.errors import InvalidRequest
from fmgateway.values.exchange import ChatRequest


class Translation(NamedTuple):
    """An OpenAI request as the gateway runs it: the Converse-shaped request, plus what the answer's translation needs."""

    request: ChatRequest
    output_format: OutputFormat | None = None
    parallel_tool_calls: bool = True
    strict_tools: dict[str, Any] = {}  # tool name -> parameters schema of the caller's strict tools

    def step(self, inner: Any) -> Any:
        """The invocation step for this request: ``inner`` with each candidate's form of the structured output and of
        strict tools."""
        return structured_output.candidate_step(inner, self.output_format, bool(self.strict_tools))


def translate(body: dict[str, Any], catalog: Catalog | None = None, streaming: bool = False) -> Translation:
    """A body that passed ``schemas/openai-chat-request.json`` -> the request to run. Every field is honoured or
    refused here (``fields.FIELDS``). ``streaming``: the caller serves ``stream: true`` (the streaming function);
    elsewhere it is refused. ``catalog``: where ``seed`` learns whether the named model takes one."""
    refusals(body)
    schemas.validate("openai-chat-request", body)
    if not body.get("model"):
        raise InvalidRequest("body.model: required (an alias, a Bedrock model id, a tier name or 'auto')")
    if body.get("stream") and not streaming:
        raise InvalidRequest("body.stream: streaming is served on POST /v1/chat/completions of the streaming function")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise InvalidRequest("body.stream_options: only allowed with stream=true")
    if (body.get("stream_options") or {}).get("include_obfuscation"):
        raise InvalidRequest("body.stream_options.include_obfuscation: not supported (the gateway pads no chunks)")
    system, messages = to_converse(body["messages"])
    tools, no_tools = tool_config(body)
    if no_tools:
        messages = without_tool_blocks(messages)
    fmt = structured_output.output_format(body, tools)
    fields: dict[str, Any] = {}
    if fmt is not None:
        fields["toolConfig"] = fmt.forced_tool_config()
    elif tools is not None:
        fields["toolConfig"] = tools
    elif not no_tools and (used := tool_history.used_tools(messages)):  # Converse needs the tools its blocks name
        fields["toolConfig"] = used
    if (tier := service_tier(body)) is not None:
        fields["serviceTier"] = tier
    if body.get("seed") is not None:
        fields["additionalModelRequestFields"] = {"seed": _seed(body, catalog)}
    model = body.get("model")
    tier_name = model if model in TIERS else None
    request = ChatRequest(
        messages=messages,
        system=system or None,
        inference=inference_config(body) or None,
        model=None if tier_name else model,
        tier=tier_name,
        fields=fields or None,
        metadata=caller_metadata(body),
    )
    return Translation(request, fmt, body.get("parallel_tool_calls") is not False, structured_output.strict_schemas(tools))


def to_chat_request(body: dict[str, Any], streaming: bool = False) -> ChatRequest:
    return translate(body, streaming=streaming).request


def include_usage(body: dict[str, Any]) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))


# ---- messages -> system and Converse turns -----------------------------------------------------------------------


_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,(.+)$", re.DOTALL)
_DATA = re.compile(r"^data:([\w.+/-]+);base64,(.+)$", re.DOTALL)
# OpenAI file parts (inline file_data) -> Converse document formats
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_NAME_REFUSED = re.compile(r"[^A-Za-z0-9\s()\[\]-]+")
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "user"}


def content_blocks(content: Any, where: str, parts: tuple[str, ...] = ("text", "image_url", "file")) -> list[dict]:
    """A message's ``content`` (a string or a list of parts) as Converse blocks; blank text is left out, as Converse
    refuses blank text blocks and OpenAI ignores them."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    blocks: list[dict] = []
    for index, part in enumerate(content):
        kind = part.get("type")
        at = f"{where}.content[{index}]"
        if kind not in parts:
            raise InvalidRequest(f"{at}.type: content part '{kind}' is not supported here (supported: {', '.join(parts)})")
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                raise InvalidRequest(f"{at}.{kind}: a {kind} part needs a '{kind}' string")
            if text.strip():
                blocks.append({"text": text})
        elif kind == "image_url":
            url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else ""
            match = _DATA_URL.match(url if isinstance(url, str) else "")
            if not match:
                raise InvalidRequest(f"{at}.image_url.url: only data:image/...;base64 URLs are supported")
            check_base64(match.group(2), f"{at}.image_url.url")
            if (part["image_url"].get("detail") or "auto") != "auto":
                raise InvalidRequest(f"{at}.image_url.detail: only 'auto' (Bedrock has no image detail setting)")
            fmt = "jpeg" if match.group(1) == "jpg" else match.group(1)
            blocks.append({"image": {"format": fmt, "source": {"bytes": match.group(2)}}})
        elif kind == "file":
            blocks.append(document_block(part.get("file"), f"{at}.file"))
    return blocks


def document_block(file: Any, where: str) -> dict:
    """An OpenAI file part with inline ``file_data`` (a data URL) as a Converse document block. Bedrock's document
    name allows letters, digits, single spaces, hyphens, parentheses and brackets: the file name's stem, with any
    other run of characters as one hyphen."""
    if not isinstance(file, dict) or file.get("file_id") is not None:
        raise InvalidRequest(f"{where}.file_id: uploaded files are not supported; send the file inline as file_data")
    match = _DATA.match(file.get("file_data") or "") if isinstance(file.get("file_data"), str) else None
    if not match:
        raise InvalidRequest(f"{where}.file_data: must be a data URL (data:<media type>;base64,<content>)")
    fmt = DOCUMENT_FORMATS.get(match.group(1))
    if fmt is None:
        raise InvalidRequest(f"{where}.file_data: media type '{match.group(1)}' is not a document Bedrock reads "
                             f"(supported: {', '.join(DOCUMENT_FORMATS)})")  # fmt: skip
    check_base64(match.group(2), f"{where}.file_data")
    stem = str(file.get("filename") or "document").rsplit(".", 1)[0]
    name = " ".join(_NAME_REFUSED.sub("-", stem).split())[:200] or "document"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": match.group(2)}}}


def tool_use_blocks(message: dict, where: str) -> list[dict]:
    blocks = []
    for index, call in enumerate(message.get("tool_calls") or []):
        at = f"{where}.tool_calls[{index}]"
        if call.get("type") != "function":
            raise InvalidRequest(f"{at}.type: only 'function' tool calls are supported")
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            arguments = None
        if not isinstance(arguments, dict):
            raise InvalidRequest(f"{at}.function.arguments: must be a JSON object in a string (the tool's input)")
        blocks.append({"toolUse": {"toolUseId": call["id"], "name": function["name"], "input": arguments}})
    return blocks


def tool_result_block(message: dict, where: str) -> dict:
    if not isinstance(message.get("tool_call_id"), str) or not message["tool_call_id"]:
        raise InvalidRequest(f"{where}.tool_call_id: a tool message needs the id of the tool call it answers")
    texts = content_blocks(message.get("content"), where, parts=("text",))
    return {"toolResult": {"toolUseId": message["tool_call_id"], "content": texts or [{"text": "(empty)"}]}}


def to_converse(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(system blocks, Converse messages). Every tool call must be answered by a tool message of the next turn, and
    every tool message must answer a tool call of the assistant message before it, as Bedrock requires."""
    system: list[dict] = []
    turns: list[dict] = []
    pending: dict[str, int] = {}  # tool call ids of the last assistant turn not answered yet -> its message index
    for index, message in enumerate(messages):
        where = f"body.messages[{index}]"
        role = message["role"]
        if role == "function":
            raise InvalidRequest(f"{where}.role: the deprecated 'function' role is not supported; use 'tool'")
        for field in ("audio", "function_call"):
            if message.get(field) is not None:
                raise InvalidRequest(f"{where}.{field}: not supported (Bedrock Converse has no counterpart)")
        if role in ("system", "developer"):
            system.extend(content_blocks(message.get("content"), where, parts=("text",)))
            continue
        if role == "assistant":
            blocks = content_blocks(message.get("content"), where, parts=("text", "refusal"))
            if message.get("refusal"):
                blocks.append({"text": message["refusal"]})
            calls = tool_use_blocks(message, where)
            blocks += calls
        elif role == "tool":
            block = tool_result_block(message, where)
            if block["toolResult"]["toolUseId"] not in pending:
                raise InvalidRequest(f"{where}.tool_call_id: answers no tool call of the assistant message before it")
            del pending[block["toolResult"]["toolUseId"]]
            blocks, calls = [block], []
        else:
            blocks, calls = content_blocks(message.get("content"), where), []
        if not blocks:
            raise InvalidRequest(f"{where}.content: must not be empty")
        side = ROLES[role]
        if role != "tool":  # the answers to tool calls come first, right after the assistant message
            _unanswered(pending)
        if turns and turns[-1]["role"] == side:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": side, "content": blocks})
        if calls:
            pending.update({call["toolUse"]["toolUseId"]: index for call in calls})
    if not turns or turns[0]["role"] != "user":
        raise InvalidRequest("body.messages: the first non-system message must have role 'user'")
    _unanswered(pending)
    return system, turns


def _unanswered(pending: dict[str, int]) -> None:
    """Tool calls still unanswered when another message (or the end) comes."""
    if pending:
        call, index = next(iter(pending.items()))
        raise InvalidRequest(
            f"body.messages[{index}].tool_calls: tool call '{call}' has no answer; every tool call needs a 'tool' message "
            "with its tool_call_id right after the assistant message"
        )


# ---- tools and tool_choice -> toolConfig -------------------------------------------------------------------------


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
            if problem := json_schema.unsupported(spec["inputSchema"]["json"], where_schema):
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


# ---- service_tier, seed, inferenceConfig and requestMetadata -----------------------------------------------------


def service_tier(body: dict[str, Any]) -> dict[str, Any] | None:
    tier = SERVICE_TIERS.get(body.get("service_tier") or "auto")
    return {"type": tier} if tier else None


def _seed(body: dict[str, Any], catalog: Catalog | None) -> int:
    """``seed`` goes to a model whose catalog capabilities include ``seed``, named in ``model`` (a tier or ``auto`` may
    answer with any of several models, and a seed means the same model every time)."""
    found = catalog.find(body["model"]) if catalog is not None else None
    if found is None or capabilities.SEED not in found.capabilities:
        able = sorted(m.alias for m in (catalog.models.values() if catalog else ()) if capabilities.SEED in m.capabilities)
        raise InvalidRequest(
            f"body.seed: '{body['model']}' does not take a seed; only a model named in 'model' whose catalog capabilities "
            f"include 'seed' does ({', '.join(able) or 'none in this catalog'})"
        )
    return int(body["seed"])


def inference_config(body: dict[str, Any]) -> dict[str, Any]:
    inference: dict[str, Any] = {}
    max_tokens, max_completion = body.get("max_tokens"), body.get("max_completion_tokens")
    if max_tokens is not None and max_completion is not None and max_tokens != max_completion:
        raise InvalidRequest(
            "body.max_completion_tokens: conflicts with max_tokens; send one of them (max_tokens is the deprecated name)"
        )
    if (limit := max_completion if max_completion is not None else max_tokens) is not None:
        inference["maxTokens"] = limit
    if body.get("temperature") is not None:
        inference["temperature"] = body["temperature"]  # the schema holds it to Bedrock's 0-1: a 400, never a clamp
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    stops = [body["stop"]] if isinstance(body.get("stop"), str) else body.get("stop") or []
    if any(not stop for stop in stops):
        raise InvalidRequest("body.stop: stop sequences must not be empty")
    if stops:
        inference["stopSequences"] = stops
    return inference


USER_KEY, SAFETY_KEY = "openai-user", "openai-safety-identifier"


def caller_metadata(body: dict[str, Any]) -> dict[str, str] | None:
    """``metadata`` pairs plus ``user`` and ``safety_identifier`` under their documented keys, held to the
    requestMetadata convention (fmgateway.converse.request_metadata: at most 11 pairs in all, Bedrock's characters, no
    ``fmgw-`` key)."""
    pairs = dict(request_metadata.check(body["metadata"], root="body.metadata")) if body.get("metadata") else {}
    for field, key in (("user", USER_KEY), ("safety_identifier", SAFETY_KEY)):
        if key in pairs:
            raise InvalidRequest(f"body.metadata[{key!r}]: reserved for the request's own field {field}")
        if body.get(field) is not None:
            request_metadata.check({key: body[field]}, root=f"body.{field}")
            pairs[key] = body[field]
    if len(pairs) > request_metadata.MAX_CALLER_PAIRS:
        raise InvalidRequest(
            f"body.metadata: at most {request_metadata.MAX_CALLER_PAIRS} pairs with user and safety_identifier "
            f"(each takes one; the gateway adds its own {len(request_metadata.GATEWAY_KEYS)}), got {len(pairs)}"
        )
    return pairs or None
