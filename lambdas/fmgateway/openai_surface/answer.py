"""The answer direction of the OpenAI surface: a Converse answer (``ChatResult``) or a ConverseStream
(``ChatStream``) in; out, OpenAI's ``chat.completion`` (``to_response``) or its ``chat.completion.chunk`` server-sent
events (``openai_frames``), with the usage and the gateway's headers. What the request asked of the answer comes with
its ``Translation`` (``request``); the structured output and strict tools' calls are checked by ``structured_output``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fmgateway.core.streaming import ChatStream, sse
from fmgateway.openai_surface.request import Translation
from fmgateway.openai_surface.structured_output import check_strict_calls
from fmgateway.routing import planner as routing
from fmgateway.values.errors import GatewayError
from fmgateway.values.exchange import ChatRequest, ChatResult

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}

PLAIN = Translation(ChatRequest(messages=[]))  # a request without response_format or strict tools: nothing to check


# ---- the whole answer: chat.completion ---------------------------------------------------------------------------


def to_response(result: ChatResult, request_id: str, created: int, translation: Translation | None = None) -> dict[str, Any]:
    """A whole Converse answer as OpenAI's ``chat.completion``."""
    message, finish_reason = answer_message(result, translation)
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": result.model.alias,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage(result.usage),
        "system_fingerprint": None,
    }


def answer_message(result: ChatResult, translation: Translation | None = None) -> tuple[dict[str, Any], str]:
    """The OpenAI ``message`` and ``finish_reason`` of a Converse answer: text, ``tool_calls``, or the structured
    output (checked against the response format: ``ModelError`` when it does not match)."""
    translation = translation or PLAIN
    blocks = result.message.get("content", [])
    fmt = translation.output_format
    finish_reason = FINISH_REASONS.get(result.stop_reason, "stop")
    text = "".join(block.get("text", "") for block in blocks)
    if fmt is not None and finish_reason == "content_filter":  # a guardrail's message is no JSON: OpenAI's refusal
        return {"role": "assistant", "content": None, "refusal": text}, finish_reason
    if fmt is not None and (content := fmt.answer(blocks, result.stop_reason)) is not None:
        return {
            "role": "assistant",
            "content": content,
            "refusal": None,
        }, "stop" if finish_reason == "tool_calls" else finish_reason
    calls = tool_calls(blocks, skip=fmt.name if fmt else None, parallel=translation.parallel_tool_calls)
    check_strict_calls(calls, translation.strict_tools)
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return message, finish_reason


def tool_calls(blocks: list[dict], skip: str | None = None, parallel: bool = True) -> list[dict]:
    """The answer's ``toolUse`` blocks as OpenAI ``tool_calls`` (``skip``: the structured-output tool; ``parallel``
    false: only the first call, as ``parallel_tool_calls: false`` asks)."""
    calls = [
        {
            "id": block["toolUse"]["toolUseId"],
            "type": "function",
            "function": {"name": block["toolUse"]["name"], "arguments": json.dumps(block["toolUse"].get("input", {}))},
        }
        for block in blocks
        if "toolUse" in block and block["toolUse"]["name"] != skip
    ]
    return calls if parallel else calls[:1]


def usage(usage: dict[str, int]) -> dict[str, int]:
    return {
        "prompt_tokens": usage["inputTokens"],
        "completion_tokens": usage["outputTokens"],
        "total_tokens": usage["totalTokens"],
    }


def gateway_headers(result: ChatResult) -> dict[str, str]:
    """The gateway's ``x-gateway-*`` headers of an answer (the Bedrock-native routes send them too), and
    ``x-gateway-deprecation`` when the model asked for is retired (its successor answered) or deprecated."""
    lifecycle = routing.lifecycle_notes(result.notes or [])
    return {
        **({"x-gateway-deprecation": "; ".join(lifecycle)} if lifecycle else {}),
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


# ---- the streamed answer: chat.completion.chunk events -----------------------------------------------------------


def openai_frames(
    stream: ChatStream, request_id: str, include_usage: bool, translation: Translation | None = None
) -> Iterator[bytes]:
    """OpenAI ``chat.completion.chunk`` events: text as ``content`` deltas, tool calls as ``tool_calls`` deltas (the
    call's index, id, type and name first, then pieces of its arguments). A structured output (response_format) is
    held back and sent as one content delta once it is checked against its format; an answer that fails the check
    (or a strict tool's call whose arguments miss its schema) ends the stream with an error event instead."""
    translation = translation or PLAIN
    fmt = translation.output_format
    created = int(time.time())
    model = stream.model.alias if stream.model else ""
    calls = ToolCallDeltas(skip=fmt.name if fmt else None, parallel=translation.parallel_tool_calls)

    def frame(delta: dict | None, finish_reason: str | None = None, **extra: Any) -> bytes:
        return sse(chunk(request_id, created, model, delta, finish_reason, **extra))

    def error(data: dict) -> bytes:  # the openai SDK raises APIError on it; no [DONE]: the answer is incomplete
        return sse({"error": {**data, "requestId": request_id}})

    finish_reason = "stop"
    for name, data in stream.events():
        if name == "messageStart":
            yield frame({"role": "assistant", "content": ""})
        elif name == "contentBlockStart" and (call := calls.start(data)):
            yield frame({"tool_calls": [call]})
        elif name == "contentBlockDelta":
            delta = data.get("delta", {})
            if delta.get("text") and fmt is None:
                yield frame({"content": delta["text"]})
            elif "toolUse" in delta and (call := calls.delta(data)):
                yield frame({"tool_calls": [call]})
        elif name == "messageStop":
            finish_reason = FINISH_REASONS.get(data.get("stopReason", ""), "stop")
        elif name == "error":
            yield error(data)
            return
    if (fmt is not None or translation.strict_tools) and stream.result is not None:
        try:  # the structured output, and the calls of strict tools, checked against their schemas
            message, finish_reason = answer_message(stream.result, translation)
        except GatewayError as err:
            yield error(err.fields())
            return
        if fmt is not None and message["content"] is not None:
            yield frame({"content": message["content"]})
        elif fmt is not None and message["refusal"]:
            yield frame({"refusal": message["refusal"]})
    yield frame({}, finish_reason, gateway=stream.gateway_block())
    if include_usage and stream.result is not None:
        yield frame(None, usage=usage(stream.result.usage))
    yield sse("[DONE]")


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


class ToolCallDeltas:
    """ConverseStream tool-use events -> OpenAI ``delta.tool_calls`` entries: the first names the call (index, id,
    type, function name, empty arguments), the next ones carry pieces of the arguments."""

    def __init__(self, skip: str | None = None, parallel: bool = True):
        self.skip, self.parallel = skip, parallel
        self.calls: dict[int, int] = {}  # content block index -> tool call index
        self.format_blocks: set[int] = set()  # blocks of the structured-output tool: their input is the content
        self.dropped: set[int] = set()  # calls past the first with parallel_tool_calls false

    def start(self, data: dict) -> dict | None:
        use = (data.get("start") or {}).get("toolUse")
        if not use:
            return None
        block = data.get("contentBlockIndex", 0)
        if use["name"] == self.skip:
            self.format_blocks.add(block)
            return None
        if not self.parallel and self.calls:
            self.dropped.add(block)
            return None
        index = self.calls[block] = len(self.calls)
        return {"index": index, "id": use["toolUseId"], "type": "function", "function": {"name": use["name"], "arguments": ""}}

    def delta(self, data: dict) -> dict | None:
        piece = (data.get("delta") or {}).get("toolUse")
        block = data.get("contentBlockIndex", 0)
        if piece is None or block not in self.calls:
            return None
        return {"index": self.calls[block], "function": {"arguments": piece.get("input", "")}}

    def is_format_block(self, data: dict) -> bool:
        """A delta of the structured-output tool (its input is the answer's content)."""
        return data.get("contentBlockIndex", 0) in self.format_blocks
