"""Tools a conversation already used, declared for Converse when the request lists none.

OpenAI's API takes a conversation that carries tool calls and tool results without ``tools`` (litellm's documented tool
loop sends its second call that way); Converse refuses ``toolUse`` / ``toolResult`` blocks without a ``toolConfig``
("The toolConfig field must be defined when using toolUse and toolResult content blocks"). So the gateway declares
the tools named in the conversation, each with an open input schema, and lets the model choose (``auto``).
"""

from __future__ import annotations

from typing import Any

DESCRIPTION = "A tool this conversation already used (declared by the gateway: the request listed no tools)."


def used_tools(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A ``toolConfig`` for the tools named by the conversation's ``toolUse`` blocks, or None when it has none."""
    names: list[str] = []
    for message in messages:
        for block in message.get("content") or ():
            name = (block.get("toolUse") or {}).get("name") if isinstance(block, dict) else None
            if name and name not in names:
                names.append(name)
    if not names:
        return None
    open_schema = {"json": {"type": "object"}}
    specs = [{"toolSpec": {"name": name, "description": DESCRIPTION, "inputSchema": open_schema}} for name in names]
    return {"tools": specs, "toolChoice": {"auto": {}}}
