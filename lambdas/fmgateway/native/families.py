"""Which native body family a catalog model or a request body belongs to, and each chat family's translation module."""

from __future__ import annotations

from typing import Any

from fmgateway.native import anthropic, llama, mistral, nova, titan
from fmgateway.values.model import Model


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
    modules = {"anthropic": anthropic, "nova": nova, "titan-text": titan, "llama": llama, "mistral": mistral}
    return modules[family]


CHAT_FAMILIES = ("anthropic", "nova", "titan-text", "llama", "mistral")
EMBEDDING_FAMILIES = ("titan-embed", "cohere-embed")
