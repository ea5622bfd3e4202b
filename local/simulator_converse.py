"""The simulator's Converse and ConverseStream calls: the request body's checks (messages, media sources, maxTokens),
then the answer: the deterministic reply cut to ``maxTokens``, with tools, structured output, guardrails and cache
points answered by ``local.simulator_features``, as Converse's JSON body or as ConverseStream's events."""

from __future__ import annotations

import re
import time

from local import simulator_features
from local.simulator_errors import SimError
from local.simulator_eventstream import EventStream
from local.simulator_state import CallPlan, SimulatorState
from local.simulator_text import count_tokens, reply_text, texts_of, truncate_tokens, usage_of

_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")


def media_sources(messages: list) -> list[str]:
    """Converse's image/document/video sources: exactly one of ``bytes`` or ``s3Location`` (``uri`` s3://bucket/key,
    optional 12-digit ``bucketOwner``), as Bedrock checks them; returns the S3 URIs (the simulator reads no object)."""
    uris = []
    for i, message in enumerate(messages):
        for j, block in enumerate(message.get("content") or [] if isinstance(message, dict) else []):
            for kind in ("image", "document", "video"):
                if not isinstance(block, dict) or kind not in block:
                    continue
                source = (block[kind] or {}).get("source") if isinstance(block[kind], dict) else None
                where = f"messages.{i}.content.{j}.{kind}.source"
                if not isinstance(source, dict) or len(source) != 1 or not ({"bytes", "s3Location"} & set(source)):
                    raise SimError("ValidationException", f"{where} must contain exactly one of bytes, s3Location.")
                if "s3Location" in source:
                    location = source["s3Location"]
                    uri = location.get("uri") if isinstance(location, dict) else None
                    if not isinstance(uri, str) or not _S3_URI.match(uri):
                        raise SimError("ValidationException", f"{where}.s3Location.uri must be an s3://bucket/key URI.")
                    owner = location.get("bucketOwner")
                    if owner is not None and not (isinstance(owner, str) and re.fullmatch(r"[0-9]{12}", owner)):
                        raise SimError("ValidationException", f"{where}.s3Location.bucketOwner must be a 12-digit account id.")
                    uris.append(uri)
    return uris


def parse_request(body: dict) -> tuple[list[str], str, int]:
    """Converse bodies (InvokeModel's are ``local.simulator_native``'s): (all input texts, last user message text, max
    tokens); raises ValidationException."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimError("ValidationException", "messages must contain at least one message.")
    texts = texts_of(body.get("system"))
    last_user = ""
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise SimError("ValidationException", f"messages.{i}.role must be 'user' or 'assistant'.")
        content = message.get("content")
        if not content or not isinstance(content, list):
            raise SimError("ValidationException", f"messages.{i}.content must not be empty.")
        texts += texts_of(content)
        if message["role"] == "user":
            last_user = "\n".join(texts_of(content))
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens", 4096)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise SimError("ValidationException", "maxTokens must be an integer >= 1.")
    return texts, last_user, max_tokens


def converse(
    state: SimulatorState, model_id: str, operation: str, body: dict, plan: CallPlan, started: float
) -> tuple[dict, dict[str, str]] | EventStream:
    """Converse's JSON body (and no extra headers), or ConverseStream's events (``operation`` ``converse-stream``)."""
    try:
        texts, last_user, max_tokens = parse_request(body)
        s3_inputs = media_sources(body["messages"])
        # tools, guardrails, cache points... (local/simulator_features.py)
        state.features.record(model_id, operation, body)
        try:
            simulator_features.check(body)
        except simulator_features.Refused as exc:
            raise SimError("ValidationException", str(exc)) from exc
        state.apply_faults(plan)
    except SimError as exc:
        state.record(model_id, error=exc.code)
        raise
    text, truncated = truncate_tokens(state.reply_for(model_id, last_user) or reply_text(model_id, last_user), max_tokens)
    stop_reason = "max_tokens" if truncated else "end_turn"
    answer = state.features.answer(model_id, body, text, usage_of(texts, text), stop_reason)
    if operation == "converse-stream":
        # the invocation log records a stream's answer assembled, as Bedrock does (its latency is the stream's)
        logged = {
            "output": {"message": {"role": "assistant", "content": answer.content}},
            "stopReason": answer.stop_reason,
            "metrics": {"latencyMs": 0},
            "usage": answer.usage,
            **answer.fields,
        }
        return EventStream(stream_events(answer, plan.latency), answer.usage, plan.faults, logged)
    latency = plan.latency
    state.sleep_ms(latency["fixedMs"] + latency["perTokenMs"] * answer.usage["outputTokens"])
    latency_ms = int((time.monotonic() - started) * 1000)
    state.record(model_id, success=True, s3_inputs=s3_inputs)
    body = {
        "output": {"message": {"role": "assistant", "content": answer.content}},
        "stopReason": answer.stop_reason,
        "usage": answer.usage,
        "metrics": {"latencyMs": latency_ms},
        **answer.fields,
    }
    return body, {}


def _text_deltas(text: str) -> list[str]:
    words = text.split(" ")
    deltas = [" ".join(words[i : i + 3]) for i in range(0, len(words), 3)]
    return [d if i == 0 else " " + d for i, d in enumerate(deltas)]


def stream_events(answer: simulator_features.Answer, latency: dict) -> list[tuple[str, dict, float]]:
    """ConverseStream's events for an answer: messageStart, the content blocks' events, messageStop, metadata."""
    per_token = latency["perTokenMs"]
    events: list[tuple[str, dict, float]] = [("messageStart", {"role": "assistant"}, latency["fixedMs"])]
    for name, payload, piece in simulator_features.stream_events(answer.content, _text_deltas):
        events.append((name, payload, per_token * count_tokens(piece) if piece else 0))
    events += [
        ("messageStop", {"stopReason": answer.stop_reason}, 0),
        ("metadata", dict(answer.fields or {}), 0),
    ]
    return events
