"""OpenAI Chat Completions <-> the gateway's Converse-shaped request and result."""

from __future__ import annotations

import re
from typing import Any

from fmgateway.config import TIERS
from fmgateway.errors import InvalidRequest
from fmgateway.gateway import ChatRequest, ChatResult
from fmgateway.validation import check_base64

_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,(.+)$", re.DOTALL)
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


def _blocks(content: Any, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    blocks: list[dict] = []
    for index, part in enumerate(content):
        if part.get("type") == "text":
            if not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{where}.content[{index}].text: a text part needs a 'text' string")
            if part["text"].strip():  # Converse refuses blank text blocks; OpenAI ignores them
                blocks.append({"text": part["text"]})
        elif part.get("type") == "image_url":
            url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else ""
            match = _DATA_URL.match(url)
            if not match:
                raise InvalidRequest(f"{where}.content[{index}].image_url.url: only data:image/...;base64 URLs are supported")
            check_base64(match.group(2), f"{where}.content[{index}].image_url.url")
            fmt = "jpeg" if match.group(1) == "jpg" else match.group(1)
            blocks.append({"image": {"format": fmt, "source": {"bytes": match.group(2)}}})
        else:
            raise InvalidRequest(f"{where}.content[{index}].type: unsupported content part '{part.get('type')}'")
    return blocks


def to_chat_request(body: dict[str, Any], streaming: bool = False) -> ChatRequest:
    """``streaming``: the caller serves ``stream: true`` (the streaming function); elsewhere it is refused."""
    if body.get("stream") and not streaming:
        raise InvalidRequest("body.stream: streaming is served on POST /v1/chat/completions of the streaming function")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise InvalidRequest("body.stream_options: only allowed with stream=true")
    if body.get("n") not in (None, 1):  # null is the schema's default: one choice
        raise InvalidRequest("body.n: only n=1 is supported")
    system: list[dict] = []
    messages: list[dict] = []
    for index, message in enumerate(body["messages"]):
        role = message["role"]
        blocks = _blocks(message.get("content") or "", f"body.messages[{index}]")
        if role in ("system", "developer"):
            system.extend(block for block in blocks if "text" in block)
            continue
        if not blocks:
            raise InvalidRequest(f"body.messages[{index}].content: must not be empty")
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)  # Converse wants user/assistant turns to alternate
        else:
            messages.append({"role": role, "content": blocks})
    if not messages or messages[0]["role"] != "user":
        raise InvalidRequest("body.messages: the first non-system message must have role 'user'")

    inference: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens:
        inference["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        inference["temperature"] = min(float(body["temperature"]), 1.0)  # OpenAI allows up to 2
    if body.get("top_p") is not None:
        inference["topP"] = body["top_p"]
    stops = [body["stop"]] if isinstance(body.get("stop"), str) else body.get("stop") or []
    if any(not stop for stop in stops):
        raise InvalidRequest("body.stop: stop sequences must not be empty")
    if stops:
        inference["stopSequences"] = stops

    model = body.get("model")
    tier = model if model in TIERS else None
    return ChatRequest(
        messages=messages,
        system=system or None,
        inference=inference or None,
        model=None if tier else model,
        tier=tier,
    )


def to_response(result: ChatResult, request_id: str, created: int) -> dict[str, Any]:
    text = "".join(block.get("text", "") for block in result.message.get("content", []))
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": result.model.alias,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": FINISH_REASONS.get(result.stop_reason, "stop"),
                "logprobs": None,
            }
        ],
        "usage": usage(result.usage),
        "system_fingerprint": None,
    }


def gateway_headers(result: ChatResult) -> dict[str, str]:
    return {
        "x-gateway-model": result.model.alias,
        "x-gateway-model-id": result.model.invoke_id,
        "x-gateway-route": result.route,
        "x-gateway-attempts": str(len(result.attempts)),
        "x-gateway-degraded": "true" if result.degraded else "false",
        "x-gateway-cost-usd": f"{result.cost_usd:.10f}",
        "x-gateway-overhead-ms": f"{result.overhead_ms:.3f}",
        "x-gateway-input-tokens": str(result.usage["inputTokens"]),
        "x-gateway-output-tokens": str(result.usage["outputTokens"]),
    }


def include_usage(body: dict[str, Any]) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))


def chunk(
    request_id: str, created: int, model: str, delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` makes the usage chunk's empty ``choices``."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        "system_fingerprint": None,
        **extra,
    }


def usage(usage: dict[str, int]) -> dict[str, int]:
    return {
        "prompt_tokens": usage["inputTokens"],
        "completion_tokens": usage["outputTokens"],
        "total_tokens": usage["totalTokens"],
    }
