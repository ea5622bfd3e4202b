"""The chat schemas of the two SageMaker inference containers the simulator plays (``local.simulator_sagemaker`` serves
them): what each takes and what it answers, whole or streamed.

``tgi-messages``, Hugging Face TGI's OpenAI-compatible Messages API (checked against text-generation-inference's
``router/src/lib.rs``, ``chat.rs`` and ``server.rs`` at commit db931fc, January 2026): request ``messages`` (``role``
system/user/assistant/tool, ``content`` a string or ``[{"type": "text", "text": ...}]``), ``max_tokens``, ``stop``,
``stream``, ``stream_options.include_usage``, ``temperature``, ``top_p``...; answer ``{"object": "chat.completion", "id":
"", "created", "model", "system_fingerprint", "choices": [{"index": 0, "message": {"role": "assistant", "content"},
"logprobs": null, "finish_reason"}], "usage"}``; finish reasons ``stop`` (end of sequence), ``length``, ``stop_sequence``.
Streamed: server-sent events ``data: <chat.completion.chunk>\\n\\n``, each chunk's delta ``{"role": "assistant",
"content": <piece>}``, the last content chunk with the finish reason; with ``stream_options.include_usage`` one more chunk
with ``"choices": []`` and the usage (else no usage at all); then ``data: [DONE]\\n\\n``. A bad request: HTTP 422
``{"error": ..., "error_type": "validation"}``.

``lmi-chat``, the LMI (DJL Serving) container's chat completions schema (docs.djl.ai ``chat_input_output_schema``; the
current vLLM-based handler, djl-serving ``lmi_vllm`` at commit d21927c, June 2026, passes vLLM's OpenAI chunks through):
same request; answer ``{"id": "chatcmpl-...", "object": "chat.completion", "created", "model", "choices": [{"index": 0,
"message": {"role": "assistant", "content", "tool_calls": []}, "logprobs": null, "finish_reason", "stop_reason": null}],
"usage"}`` with finish reasons ``stop`` / ``length``. Streamed: JSON lines (``application/jsonlines``, one
``chat.completion.chunk`` per ``\\n``-terminated line, no ``data:`` prefix, no ``[DONE]``): a first chunk with ``delta
{"role": "assistant", "content": ""}``, then ``delta {"content": <piece>}``, the last with the finish reason; the usage
chunk (``"choices": []``) only with ``stream_options.include_usage``. A bad request: HTTP 400 with vLLM's error object.

Either way the text is the simulator's reply, cut at the first ``stop`` string (not included) and at ``max_tokens``."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, NamedTuple

from local.simulator_text import count_tokens, texts_of, truncate_tokens

TGI, LMI = "tgi-messages", "lmi-chat"
TGI_FINGERPRINT = "3.3.6-simulated"
ROLES = ("system", "user", "assistant", "tool", "developer")


class ContainerError(Exception):
    """The container refused the request (SageMaker answers it as a ModelError naming the container's status)."""

    def __init__(self, status: int, body: dict):
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


class ChatRequest(NamedTuple):
    texts: list[str]  # every input text (the prompt tokens)
    prompt: str  # the last user message: what the reply is derived from
    max_tokens: int
    stop: list[str]
    stream: bool
    include_usage: bool


def refuse(container: str, message: str) -> ContainerError:
    if container == TGI:
        return ContainerError(422, {"error": f"Input validation error: {message}", "error_type": "validation"})
    return ContainerError(400, {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400})


def parse(container: str, body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise refuse(container, "the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise refuse(container, "`messages` must be a non-empty list")
    texts, prompt = [], ""
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise refuse(container, f"messages[{index}].role must be one of {', '.join(ROLES)}")
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise refuse(container, f"messages[{index}].content must be a string or a list of content parts")
        parts = content if isinstance(content, str) else [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        texts += texts_of(parts)
        if message["role"] == "user":
            prompt = "\n".join(texts_of(parts))
    max_tokens = body.get("max_tokens", 4096)
    if max_tokens is None:
        max_tokens = 4096
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise refuse(container, "`max_tokens` must be a positive integer")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise refuse(container, "`stop` must be a string or a list of strings")
    stream = body.get("stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise refuse(container, "`stream` must be a boolean and `stream_options` an object")
    return ChatRequest(texts, prompt, max_tokens, stop, stream, bool(options.get("include_usage")))


def cut(container: str, reply: str, request: ChatRequest) -> tuple[str, str]:
    """(text, finish reason): the reply up to the first stop string, then cut to ``max_tokens``."""
    reason = "stop"
    found = [reply.index(s) for s in request.stop if s in reply]
    if found:
        reply, reason = reply[: min(found)], "stop_sequence" if container == TGI else "stop"
    text, truncated = truncate_tokens(reply, request.max_tokens)
    return text, "length" if truncated else reason


def usage(request: ChatRequest, text: str) -> dict[str, int]:
    prompt, completion = sum(count_tokens(t) for t in request.texts), count_tokens(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def content_type(container: str, stream: bool) -> str:
    if not stream:
        return "application/json"
    return "text/event-stream" if container == TGI else "application/jsonlines"


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _completion_id(model: str, text: str) -> str:
    return "chatcmpl-" + hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()[:32]


def answer(container: str, model: str, text: str, reason: str, counts: dict[str, int]) -> bytes:
    """The whole chat.completion the container answers."""
    created = int(time.time())
    if container == TGI:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": reason}
        head = {"object": "chat.completion", "id": "", "created": created, "model": model, "system_fingerprint": TGI_FINGERPRINT}
        return _dump({**head, "choices": [choice], "usage": counts})
    message = {"role": "assistant", "content": text, "tool_calls": []}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason, "stop_reason": None}
    head = {"id": _completion_id(model, text), "object": "chat.completion", "created": created, "model": model}
    return _dump({**head, "choices": [choice], "usage": counts})


def pieces(text: str) -> list[str]:
    """The streamed deltas: three words each (the first without a leading space)."""
    words = text.split(" ")
    return [(" " if i else "") + " ".join(words[i : i + 3]) for i in range(0, len(words), 3)]


def stream(
    container: str, model: str, text: str, reason: str, counts: dict[str, int], include_usage: bool
) -> list[tuple[bytes, str]]:
    """The container's streamed messages, each with the text it carries (what its per-token latency counts)."""
    created, deltas = int(time.time()), pieces(text)
    if container == TGI:
        head = {
            "object": "chat.completion.chunk",
            "id": "",
            "created": created,
            "model": model,
            "system_fingerprint": TGI_FINGERPRINT,
        }
        events: list[tuple[Any, str]] = []
        for index, piece in enumerate(deltas):
            finish = reason if index == len(deltas) - 1 else None
            choice = {"index": 0, "delta": {"role": "assistant", "content": piece}, "logprobs": None, "finish_reason": finish}
            events.append(({**head, "choices": [choice], "usage": None}, piece))
        if include_usage:
            events.append(({**head, "choices": [], "usage": counts}, ""))
        framed = [(b"data: " + _dump(event) + b"\n\n", piece) for event, piece in events]
        return [*framed, (b"data: [DONE]\n\n", "")]
    head = {"id": _completion_id(model, text), "object": "chat.completion.chunk", "created": created, "model": model}
    first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
    lines: list[tuple[Any, str]] = [({**head, "choices": [first]}, "")]
    for index, piece in enumerate(deltas):
        finish = reason if index == len(deltas) - 1 else None
        lines.append(
            ({**head, "choices": [{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": finish}]}, piece)
        )
    if include_usage:
        lines.append(({**head, "choices": [], "usage": counts}, ""))
    return [(_dump(line) + b"\n", piece) for line, piece in lines]
