"""Every top-level field of an OpenAI Chat Completions request, and what the gateway does with it (README
"OpenAI fields"): honoured, or refused with a 400 that names it. Nothing is dropped without a word.

``FIELDS`` is the table (a test compares it with the pinned ``openai`` SDK's ``CompletionCreateParams`` and with the
README's table). ``refusals``, the first step of ``request.translate``, checks a body against it: a body of another
API (Anthropic Messages, Converse) is told which endpoint takes it, a field no SDK knows is refused, and a field
Bedrock Converse cannot honour is refused unless its value asks for nothing (``logprobs: false``,
``frequency_penalty: 0``, ``null``). The honoured fields are translated in ``request``.
"""

from __future__ import annotations

from typing import Any

from fmgateway.values.errors import InvalidRequest

# field -> what happens to it (the README table says the same, in more words)
FIELDS: dict[str, str] = {
    "messages": "honoured",
    "model": "honoured",
    "audio": "refused",
    "frequency_penalty": "refused unless 0 or null",
    "function_call": "refused: use tool_choice",
    "functions": "refused: use tools",
    "logit_bias": "refused unless {} or null",
    "logprobs": "refused unless false or null",
    "max_completion_tokens": "honoured",
    "max_tokens": "honoured",
    "metadata": "honoured: requestMetadata",
    "modalities": 'honoured for ["text"], refused otherwise',
    "moderation": "refused unless null",
    "n": "honoured for 1, refused otherwise",
    "parallel_tool_calls": "honoured",
    "prediction": "refused unless null",
    "presence_penalty": "refused unless 0 or null",
    "prompt_cache_key": "refused unless null",
    "prompt_cache_options": "refused unless null",
    "prompt_cache_retention": "refused unless null",
    "reasoning_effort": "refused unless null",
    "response_format": "honoured",
    "safety_identifier": "honoured: requestMetadata",
    "seed": "honoured where the model supports it, refused otherwise",
    "service_tier": "honoured: serviceTier (scale and fast refused)",
    "stop": "honoured",
    "store": "refused unless false or null",
    "stream": "honoured",
    "stream_options": "honoured",
    "temperature": "honoured (0 to 1)",
    "tool_choice": "honoured",
    "tools": "honoured",
    "top_logprobs": "refused unless null",
    "top_p": "honoured",
    "user": "honoured: requestMetadata",
    "verbosity": "refused unless null",
    "web_search_options": "refused unless null",
}

# refused field -> (values that ask for nothing, why it is refused)
REFUSED: dict[str, tuple[tuple[Any, ...], str]] = {
    "audio": ((None,), "audio output is not available through Bedrock Converse"),
    "frequency_penalty": ((None, 0), "Bedrock Converse has no frequency penalty"),
    "function_call": ((), "the deprecated function_call is not supported; use tool_choice"),
    "functions": ((), "the deprecated functions are not supported; use tools"),
    "logit_bias": ((None, {}), "Bedrock Converse has no logit bias"),
    "logprobs": ((None, False), "Bedrock Converse returns no log probabilities"),
    "moderation": ((None,), "moderation is not available; use a Bedrock guardrail on POST /v1/chat (guardrailConfig)"),
    "prediction": ((None,), "predicted outputs are not available through Bedrock Converse"),
    "presence_penalty": ((None, 0), "Bedrock Converse has no presence penalty"),
    "prompt_cache_key": ((None,), "Bedrock caches prompts at cache points, not by key; use cachePoint blocks on POST /v1/chat"),
    "prompt_cache_options": ((None,), "Bedrock caches prompts at cache points; use cachePoint blocks on POST /v1/chat"),
    "prompt_cache_retention": ((None,), "Bedrock caches prompts at cache points; use cachePoint blocks on POST /v1/chat"),
    "reasoning_effort": ((None,), "reasoning effort is not translated; send it as outputConfig.effort on POST /v1/chat"),
    "store": ((None, False), "the gateway stores no completions"),
    "top_logprobs": ((None,), "Bedrock Converse returns no log probabilities"),
    "verbosity": ((None,), "Bedrock Converse has no verbosity setting"),
    "web_search_options": ((None,), "web search is not available through Bedrock Converse"),
}

# service_tier -> Bedrock's serviceTier type (auto: none sent; scale and fast are refused)
SERVICE_TIERS = {"auto": None, "default": "default", "flex": "flex", "priority": "priority"}

# Top-level fields of the Converse API that OpenAI does not have: a Converse body sent to the wrong route
CONVERSE_FIELDS = (
    "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
    "additionalModelResponseFieldPaths", "requestMetadata", "promptVariables", "performanceConfig", "serviceTier",
    "outputConfig", "tier",
)  # fmt: skip
# Top-level fields of the Anthropic Messages API (InvokeModel body) that OpenAI does not have
ANTHROPIC_FIELDS = ("anthropic_version", "anthropic_beta", "stop_sequences", "top_k", "thinking")
CONVERSE_BLOCKS = frozenset(
    {"text", "image", "document", "video", "toolUse", "toolResult", "cachePoint", "guardContent", "reasoningContent"}
)
ANTHROPIC_PARTS = frozenset({"image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"})
TO_CONVERSE = "this is a Converse body: send it to POST /v1/chat"
TO_ANTHROPIC = (
    "this is an Anthropic Messages body: send it to POST /model/{modelId}/invoke (the Bedrock-native endpoint), "
    "or in Converse shape to POST /v1/chat"
)


def refusals(body: dict[str, Any]) -> None:
    """Raise the 400 for a body of another API, an unknown field or a field that cannot be honoured."""
    foreign_shape(body)
    for name in body:
        if name not in FIELDS:
            raise InvalidRequest(f"body.{name}: not a field of OpenAI Chat Completions; nothing unknown is forwarded")
    for name, (harmless, why) in REFUSED.items():
        if name in body and not any(_asks_nothing(body[name], value) for value in harmless):
            raise InvalidRequest(f"body.{name}: not supported: {why}")
    if body.get("n") not in (None, 1):  # null is the default: one choice
        raise InvalidRequest("body.n: only n=1 is supported (Bedrock Converse returns one answer)")
    if body.get("modalities") not in (None, ["text"]):
        raise InvalidRequest('body.modalities: only ["text"] is supported (no audio output through Bedrock Converse)')
    if body.get("service_tier") not in (None, *SERVICE_TIERS, "scale", "fast"):
        raise InvalidRequest(f"body.service_tier: must be one of {', '.join(SERVICE_TIERS)}")
    if body.get("service_tier") in ("scale", "fast"):
        raise InvalidRequest(f"body.service_tier: '{body['service_tier']}' has no Bedrock counterpart; use auto, default, "
                             "flex or priority")  # fmt: skip


def _asks_nothing(value: Any, harmless: Any) -> bool:
    """``value`` is the harmless value (JSON's sense: false is not 0, 0.0 is 0)."""
    if harmless is None or isinstance(harmless, bool):
        return value is harmless
    if isinstance(value, bool) or type(value) not in (int, float, dict):
        return False
    return isinstance(value, dict) == isinstance(harmless, dict) and value == harmless


def foreign_shape(body: dict[str, Any]) -> None:
    """A body of another API gets a 400 that says which endpoint takes it."""
    for name in CONVERSE_FIELDS:
        if name in body:
            raise InvalidRequest(f"body.{name}: not an OpenAI field; {TO_CONVERSE}")
    for name in ANTHROPIC_FIELDS:
        if name in body:
            raise InvalidRequest(f"body.{name}: not an OpenAI field; {TO_ANTHROPIC}")
    if "system" in body:
        system = body["system"]
        converse = isinstance(system, list) and all(isinstance(b, dict) and "type" not in b for b in system)
        raise InvalidRequest(f"body.system: OpenAI takes system prompts as messages; {TO_CONVERSE if converse else TO_ANTHROPIC}")
    messages = body.get("messages")
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        for position, part in enumerate(content if isinstance(content, list) else []):
            if not isinstance(part, dict):
                continue
            where = f"body.messages[{index}].content[{position}]"
            if "type" not in part and CONVERSE_BLOCKS.intersection(part):
                raise InvalidRequest(f"{where}: a Converse content block, not an OpenAI content part; {TO_CONVERSE}")
            if part.get("type") in ANTHROPIC_PARTS:
                raise InvalidRequest(f"{where}.type: '{part['type']}' is an Anthropic content block; {TO_ANTHROPIC}")


# Message fields accepted but not used (Converse has no place for them), named in the x-gateway-unused-fields header so
# nothing is dropped without a word: OpenAI's participant ``name`` (clients send it on tool messages too), and the
# provider fields litellm echoes back on replayed assistant messages. Any other unknown key is refused by name.
UNUSED_MESSAGE_FIELDS = ("name", "provider_specific_fields")
UNUSED_HEADER = "x-gateway-unused-fields"


def unused_fields(body: dict[str, Any]) -> list[str]:
    """The accepted-but-unused fields of a valid body, as ``messages[2].name``."""
    return [
        f"messages[{index}].{field}"
        for index, message in enumerate(body.get("messages") or [])
        for field in UNUSED_MESSAGE_FIELDS
        if isinstance(message, dict) and message.get(field) is not None
    ]
