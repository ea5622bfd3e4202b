"""InvokeModel bodies of each model family, translated to and from Converse (issue 11).

Each family module translates four ways: a native request body to a Converse request (``request_to_converse``), a
Converse request to a native body (``converse_to_request``), a native response to a Converse response
(``response_to_converse``) and back (``converse_to_response``), plus ``StreamRenderer``, which turns ConverseStream
events into the family's InvokeModelWithResponseStream chunks. So a request sent in one family's shape can be answered
by another family's model and still come back in the shape the caller sent.

A Converse request here is the dict ``/v1/chat`` takes (``messages``, ``system``, ``inferenceConfig``, ``toolConfig``,
``additionalModelRequestFields``); a Converse response is ``{"output": {"message"}, "stopReason", "usage"}``.
A native field with no Converse equivalent goes to ``additionalModelRequestFields``, which only the same family can
take: ``converse_to_request`` raises ``Untranslatable`` for what the target family cannot express, and the caller drops
that candidate (or answers 400 when it was the one asked for).
"""

from __future__ import annotations

from typing import Any

from fmgateway.values.errors import InvalidRequest
from fmgateway.values.model import Model


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


# ---- which family a model or a body belongs to -------------------------------------------------------------------


def family_of_model(model: Model) -> str | None:
    """The native body family of a catalog model, or None when the gateway has no translation for it."""
    model_id = model.model_id
    if model.provider == "anthropic":
        return "anthropic"
    if model_id.startswith("amazon.nova"):
        return "nova"
    if model_id.startswith("amazon.titan-text"):
        return "titan-text"
    if model_id.startswith("amazon.titan-embed-text"):
        return "titan-embed"
    if model_id.startswith("cohere.embed"):
        return "cohere-embed"
    if model.provider == "meta":
        return "llama"
    if model.provider == "mistral":
        return "mistral"
    return None


def family_of_body(body: dict[str, Any]) -> str | None:
    """The family a body is written for, when the model id does not say (a tier or ``auto``)."""
    prompt = body.get("prompt")
    if "anthropic_version" in body:
        return "anthropic"
    if body.get("schemaVersion") == "messages-v1" or ("messages" in body and "inferenceConfig" in body):
        return "nova"
    if "texts" in body and "input_type" in body:
        return "cohere-embed"
    if "inputText" in body:
        text = not ({"dimensions", "normalize", "embeddingTypes"} & set(body)) or "textGenerationConfig" in body
        return "titan-text" if text else "titan-embed"
    if "max_gen_len" in body or (isinstance(prompt, str) and "<|start_header_id|>" in prompt):
        return "llama"
    if isinstance(prompt, str):
        return "mistral"
    if "messages" in body and "max_tokens" in body:
        return "anthropic"
    return None


def module(family: str) -> Any:
    """The translation module of a chat family (embedding bodies live in fmgateway.embeddings.invocation)."""
    from fmgateway.native import anthropic, llama, mistral, nova, titan

    modules = {"anthropic": anthropic, "nova": nova, "titan-text": titan, "llama": llama, "mistral": mistral}
    return modules[family]


CHAT_FAMILIES = ("anthropic", "nova", "titan-text", "llama", "mistral")
EMBEDDING_FAMILIES = ("titan-embed", "cohere-embed")


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
