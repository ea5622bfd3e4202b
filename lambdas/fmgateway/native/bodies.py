"""What every family's translation shares: field checks, text and token helpers, ``Untranslatable``."""

from __future__ import annotations

from typing import Any

from fmgateway.values.errors import InvalidRequest


class Untranslatable(Exception):
    """A Converse request the target family's native body cannot express (the message says what)."""


def text_of(content: list[dict]) -> str:
    return "".join(block.get("text", "") for block in content if "text" in block)


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens}


def header_tokens(headers: dict[str, str] | None, name: str) -> int:
    """A token count from Bedrock's ``x-amzn-bedrock-*-token-count`` response headers (0 when absent)."""
    for key, value in (headers or {}).items():
        if key.lower() == f"x-amzn-bedrock-{name}-token-count":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def prompt_text(body: dict[str, Any], name: str) -> str:
    """A required non-blank string field (the prompt of the one-string families)."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"body.{name}: a non-blank string is required")
    return value


def check_fields(body: dict[str, Any], allowed: set[str] | frozenset[str], family: str) -> None:
    """Every field honoured or refused: a field the family's body does not have is a 400 that names it."""
    for name in body:
        if name not in allowed:
            raise InvalidRequest(f"body.{name}: not a field of the {family} request body (fields: {', '.join(sorted(allowed))})")


def require(condition: object, where: str, message: str) -> None:
    if not condition:
        raise InvalidRequest(f"{where}: {message}")


def merge_turns(messages: list[dict]) -> list[dict]:
    """Converse wants user and assistant turns to alternate; native prompts may repeat a role."""
    merged: list[dict] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1] = {"role": message["role"], "content": merged[-1]["content"] + message["content"]}
        else:
            merged.append({"role": message["role"], "content": list(message["content"])})
    return merged


def text_only(converse: dict[str, Any], family: str) -> None:
    """Families whose native body is one prompt string: text, nothing else."""
    for index, message in enumerate(converse["messages"]):
        for block in message["content"]:
            if "text" not in block:
                kind = next(iter(block), "?")
                raise Untranslatable(f"{family} takes text only; messages[{index}] has a {kind} block")
    for name in ("toolConfig", "additionalModelRequestFields", "guardrailConfig", "outputConfig"):
        if converse.get(name):
            raise Untranslatable(f"{family} has no equivalent of {name}")


def system_text(converse: dict[str, Any]) -> str:
    return "\n".join(block["text"] for block in converse.get("system") or () if "text" in block)


def capped(body: dict[str, Any], path: tuple[str, ...], limit: int) -> dict[str, Any]:
    """``body`` with the integer at ``path`` (the family's max-tokens field) at most ``limit``, the model's own output
    limit, as ``/v1/chat`` caps ``maxTokens`` per candidate; the caller's body itself is left as it is."""
    *parents, leaf = path
    node: Any = body
    for name in parents:
        node = node.get(name) if isinstance(node, dict) else None
    value = node.get(leaf) if isinstance(node, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value <= limit:
        return body
    copy = dict(body)
    target = copy
    for name in parents:
        target[name] = dict(target[name])
        target = target[name]
    target[leaf] = limit
    return copy


def invocation_metrics(metadata: dict[str, Any]) -> dict[str, int]:
    """The ``amazon-bedrock-invocationMetrics`` of a stream's last chunk, from ConverseStream's ``metadata`` event."""
    tokens = metadata.get("usage") or {}
    latency = int((metadata.get("metrics") or {}).get("latencyMs", 0))
    return {
        "inputTokenCount": int(tokens.get("inputTokens", 0)),
        "outputTokenCount": int(tokens.get("outputTokens", 0)),
        "invocationLatency": latency,
        "firstByteLatency": latency,
    }
