"""Tool use on Anthropic Messages bodies sent to InvokeModel, answered as the simulator answers it on Converse
(``local.simulator_features``): a body with ``tools`` whose last user message holds no ``tool_result`` is answered with
a ``tool_use`` block for the chosen tool (``tool_choice`` ``tool``, else the first), its input a sample of the tool's
``input_schema``; ``tool_choice: none`` answers text."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from local.simulator_features import sample


def anthropic_tool_use(body: dict) -> dict[str, Any] | None:
    tools = [tool for tool in body.get("tools") or () if isinstance(tool, dict) and tool.get("name")]
    choice = body.get("tool_choice") or {}
    if not tools or choice.get("type") == "none":
        return None
    last_user = next((m for m in reversed(body.get("messages") or ()) if isinstance(m, dict) and m.get("role") == "user"), {})
    content = last_user.get("content")
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        return None
    chosen = choice.get("name") if choice.get("type") == "tool" else None
    spec = next((tool for tool in tools if tool["name"] == chosen), tools[0])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return {
        "type": "tool_use",
        "id": f"toolu_sim_{digest[:20]}",
        "name": spec["name"],
        "input": sample(spec.get("input_schema") or {}),
    }


def with_tool_use(answer: dict, use: dict[str, Any]) -> dict:
    """An Anthropic answer whose content is the tool call."""
    return {**answer, "content": [use], "stop_reason": "tool_use"}


def tool_use_chunks(chunks: list[dict], use: dict[str, Any]) -> list[dict]:
    """An Anthropic stream's chunks with the text block replaced by the tool call (its input as one JSON delta)."""
    start, *_, delta, stop = chunks
    block = {"type": "tool_use", "id": use["id"], "name": use["name"], "input": {}}
    arguments = json.dumps(use["input"])
    return [
        start,
        {"type": "content_block_start", "index": 0, "content_block": block},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": arguments},
        },
        {"type": "content_block_stop", "index": 0},
        {**delta, "delta": {**delta["delta"], "stop_reason": "tool_use"}},
        stop,
    ]
