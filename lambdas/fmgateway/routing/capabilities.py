"""What a request needs from a model, derived from its Converse fields and content blocks (issue 10).

The catalog lists each model's ``capabilities`` (``Model.capabilities``: the listed Converse features plus image and
document input); ``routing.unfit_reason`` drops every candidate that lacks one the request needs, so a tool-using
request never falls back to a model that cannot call tools, and a request no candidate can serve is a 400 naming
the missing capability.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

TOOL_USE = "toolUse"  # toolConfig, or toolUse / toolResult blocks in the conversation
TOOL_CHOICE = "toolChoice"  # toolChoice any or tool (auto is what every tool-using model does by default)
STRUCTURED_OUTPUT = "structuredOutput"  # outputConfig.textFormat (Bedrock's native structured output)
PROMPT_CACHING = "promptCaching"  # a cachePoint block in system, messages or tools
GUARDRAILS = "guardrails"  # guardrailConfig
SEED = "seed"  # a sampling seed in additionalModelRequestFields (the OpenAI route's `seed`, for a model named in `model`)
IMAGE = "image"
DOCUMENT = "document"
FEATURES = (TOOL_USE, TOOL_CHOICE, STRUCTURED_OUTPUT, PROMPT_CACHING, GUARDRAILS, SEED)  # what the catalog lists
ALL = (*FEATURES, IMAGE, DOCUMENT)

_BLOCK_NEEDS = {"toolUse": TOOL_USE, "toolResult": TOOL_USE, "cachePoint": PROMPT_CACHING, "image": IMAGE, "document": DOCUMENT}


def required(
    messages: Iterable[Mapping[str, Any]], system: Iterable[Mapping[str, Any]] | None, fields: Mapping[str, Any] | None
) -> frozenset[str]:
    """The capabilities a request needs: from its forwarded fields, then from every content block."""
    fields = fields or {}
    needed: set[str] = set()
    tool_config = fields.get("toolConfig")
    if isinstance(tool_config, Mapping):
        needed.add(TOOL_USE)
        choice = tool_config.get("toolChoice") or {}
        if "any" in choice or "tool" in choice:
            needed.add(TOOL_CHOICE)
        if any(isinstance(tool, Mapping) and "cachePoint" in tool for tool in tool_config.get("tools") or ()):
            needed.add(PROMPT_CACHING)
    output = fields.get("outputConfig")
    if isinstance(output, Mapping) and output.get("textFormat"):
        needed.add(STRUCTURED_OUTPUT)
    if fields.get("guardrailConfig") is not None:
        needed.add(GUARDRAILS)
    for block in system or ():
        if "cachePoint" in block:
            needed.add(PROMPT_CACHING)
    for message in messages:
        for block in message.get("content") or ():
            for kind, capability in _BLOCK_NEEDS.items():
                if kind in block:
                    needed.add(capability)
            for inner in (block.get("toolResult") or {}).get("content") or () if "toolResult" in block else ():
                for kind in (IMAGE, DOCUMENT):
                    if isinstance(inner, Mapping) and kind in inner:
                        needed.add(kind)
    return frozenset(needed)


def missing(needed: frozenset[str], offered: frozenset[str]) -> list[str]:
    """The needed capabilities a model does not offer, in a stable order."""
    return [name for name in ALL if name in needed and name not in offered]
