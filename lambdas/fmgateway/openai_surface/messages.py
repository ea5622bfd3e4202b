"""OpenAI chat messages -> Converse ``system`` and ``messages``: text and image parts, assistant ``tool_calls`` as
``toolUse`` blocks and ``tool`` messages as ``toolResult`` blocks of the next user turn (Converse wants user and
assistant turns to alternate, so consecutive messages of one side are merged into one turn)."""

from __future__ import annotations

import json
import re
from typing import Any

from fmgateway.converse.validation import check_base64
from fmgateway.values.errors import InvalidRequest

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
        for field in ("name", "audio", "function_call"):
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
