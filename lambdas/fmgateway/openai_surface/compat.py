"""OpenAI Chat Completions <-> the gateway's Converse-shaped request and result."""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.config import schemas
from fmgateway.config.catalog import Catalog
from fmgateway.config.gateway_config import TIERS
from fmgateway.core.gateway import OUTPUT_SCHEMA_MISMATCH
from fmgateway.openai_surface import fields as openai_fields
from fmgateway.openai_surface import messages as openai_messages
from fmgateway.openai_surface import output_format as openai_format
from fmgateway.openai_surface import tools as openai_tools
from fmgateway.openai_surface.output_format import OutputFormat
from fmgateway.routing import capabilities
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvalidRequest, InvocationError, ModelError
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


class Translation(NamedTuple):
    """An OpenAI request as the gateway runs it: the Converse-shaped request, plus what the answer's translation needs."""

    request: ChatRequest
    output_format: OutputFormat | None = None
    parallel_tool_calls: bool = True
    strict_tools: dict[str, Any] = {}  # tool name -> parameters schema of the caller's strict tools

    def step(self, inner: Any) -> Any:
        """The invocation step for this request: ``inner`` with each candidate's form of the structured output and of
        strict tools."""
        fmt, strict = self.output_format, bool(self.strict_tools)
        if fmt is None and not strict:
            return inner

        def adapted(candidate: Candidate, body: dict[str, Any], deadline: float) -> Any:
            if fmt is not None:
                body = fmt.body_for(candidate.model, body)
            if strict:
                body = openai_tools.without_strict(candidate.model, body)
            response = inner(candidate, body, deadline)
            if fmt is not None and isinstance(response, dict):  # a whole answer (a stream is checked as it ends)
                try:
                    fmt.answer(response["output"]["message"]["content"], response.get("stopReason", "end_turn"))
                except ModelError as err:  # the next candidate may match: failure isolation decides (README)
                    raise InvocationError("model_error", OUTPUT_SCHEMA_MISMATCH, err.message) from err
            return response

        return adapted


def translate(body: dict[str, Any], catalog: Catalog | None = None, streaming: bool = False) -> Translation:
    """A body that passed ``schemas/openai-chat-request.json`` -> the request to run. Every field is honoured or
    refused here (``fmgateway.openai_surface.fields``). ``streaming``: the caller serves ``stream: true`` (the streaming
    function); elsewhere it is refused. ``catalog``: where ``seed`` learns whether the named model takes one."""
    openai_fields.refusals(body)
    schemas.validate("openai-chat-request", body)
    if not body.get("model"):
        raise InvalidRequest("body.model: required (an alias, a Bedrock model id, a tier name or 'auto')")
    if body.get("stream") and not streaming:
        raise InvalidRequest("body.stream: streaming is served on POST /v1/chat/completions of the streaming function")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise InvalidRequest("body.stream_options: only allowed with stream=true")
    if (body.get("stream_options") or {}).get("include_obfuscation"):
        raise InvalidRequest("body.stream_options.include_obfuscation: not supported (the gateway pads no chunks)")
    system, messages = openai_messages.to_converse(body["messages"])
    tools, no_tools = openai_tools.tool_config(body)
    if no_tools and openai_tools.has_tool_blocks(messages):
        messages = openai_tools.without_tool_blocks(messages)
    fmt = openai_format.output_format(body, tools)
    fields: dict[str, Any] = {}
    if fmt is not None:
        fields["toolConfig"] = fmt.forced_tool_config()
    elif tools is not None:
        fields["toolConfig"] = tools
    if (tier := openai_fields.service_tier(body)) is not None:
        fields["serviceTier"] = tier
    if body.get("seed") is not None:
        fields["additionalModelRequestFields"] = {"seed": _seed(body, catalog)}
    model = body.get("model")
    tier_name = model if model in TIERS else None
    request = ChatRequest(
        messages=messages,
        system=system or None,
        inference=openai_fields.inference_config(body) or None,
        model=None if tier_name else model,
        tier=tier_name,
        fields=fields or None,
        metadata=openai_fields.caller_metadata(body),
    )
    return Translation(request, fmt, body.get("parallel_tool_calls") is not False, openai_tools.strict_schemas(tools))


def _seed(body: dict[str, Any], catalog: Catalog | None) -> int:
    """``seed`` goes to a model whose catalog capabilities include ``seed``, named in ``model`` (a tier or ``auto`` may
    answer with any of several models, and a seed means the same model every time)."""
    found = catalog.find(body["model"]) if catalog is not None else None
    if found is None or capabilities.SEED not in found.capabilities:
        able = sorted(m.alias for m in (catalog.models.values() if catalog else ()) if capabilities.SEED in m.capabilities)
        raise InvalidRequest(
            f"body.seed: '{body['model']}' does not take a seed; only a model named in 'model' whose catalog capabilities "
            f"include 'seed' does ({', '.join(able) or 'none in this catalog'})"
        )
    return int(body["seed"])


def to_chat_request(body: dict[str, Any], streaming: bool = False) -> ChatRequest:
    return translate(body, streaming=streaming).request


def answer_message(result: ChatResult, translation: Translation | None = None) -> tuple[dict[str, Any], str]:
    """The OpenAI ``message`` and ``finish_reason`` of a Converse answer: text, ``tool_calls``, or the structured
    output (checked against the response format: ``ModelError`` when it does not match)."""
    translation = translation or Translation(ChatRequest(messages=[]))
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
    calls = openai_tools.tool_calls(blocks, skip=fmt.name if fmt else None, parallel=translation.parallel_tool_calls)
    openai_tools.check_strict_calls(calls, translation.strict_tools)
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return message, finish_reason


def to_response(result: ChatResult, request_id: str, created: int, translation: Translation | None = None) -> dict[str, Any]:
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
