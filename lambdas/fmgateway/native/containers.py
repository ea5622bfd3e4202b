"""SageMaker AI container formats <-> Converse (issue 23): the chat APIs a real-time endpoint serves, both
OpenAI-compatible, which differ in how they stream.

- ``tgi-messages``: Hugging Face TGI's Messages API. Streamed as server-sent events, ``data: {chunk}`` per event and
  ``data: [DONE]`` at the end.
- ``lmi-chat``: the LMI (DJL Serving) container's chat completions schema
  (https://docs.djl.ai/docs/serving/serving/docs/lmi/user_guides/chat_input_output_schema.html): a request with
  ``messages`` is answered in the chat completions shape; streamed as JSON lines, one chunk object per line.

SageMaker's response stream delivers ``PayloadPart`` byte strings that may cut a JSON object or an SSE line anywhere
(``Reassembler`` joins them). Limits: text only (images, documents, tool use, guardrails and other Converse fields are
refused, so the capability filter should keep such requests away: a SageMaker entry lists no capabilities), one
choice, and token counts only where the container reports ``usage`` (else zero: the cost of capacity paid by the hour
does not depend on them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from fmgateway.native.bodies import Untranslatable, usage

FRAMING = {"tgi-messages": "sse", "lmi-chat": "jsonlines"}
FINISH = {"stop": "end_turn", "eos_token": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence"}
INFERENCE = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p", "stopSequences": "stop"}
TEXT_ONLY_FIELDS = frozenset({"messages", "system", "inferenceConfig", "requestMetadata"})


def _text(content: Any, where: str) -> str:
    texts = []
    for block in content or []:
        if set(block) - {"text", "cachePoint"}:
            raise Untranslatable(f"{where}: a SageMaker chat container takes text only, not {', '.join(sorted(block))}")
        texts.append(block.get("text", ""))
    return "".join(texts)


def to_chat(converse: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    """The chat completions body of a Converse request (Untranslatable names what the container cannot take)."""
    extra = sorted(set(converse) - TEXT_ONLY_FIELDS)
    if extra:
        raise Untranslatable(f"a SageMaker chat container takes no {', '.join(extra)}")
    messages: list[dict[str, str]] = []
    system = "\n".join(_text([block], "system") for block in converse.get("system") or [])
    if system:
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(converse.get("messages") or []):
        messages.append({"role": message["role"], "content": _text(message.get("content"), f"messages[{index}]")})
    body: dict[str, Any] = {"messages": messages}
    inference = converse.get("inferenceConfig") or {}
    for name, native in (
        ("maxTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("stopSequences", "stop"),
    ):
        if inference.get(name) is not None:
            body[native] = inference[name]
    if stream:  # both containers report a stream's usage only when asked, in a last chunk with no choice
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def from_chat(answer: dict[str, Any]) -> dict[str, Any]:
    """A Converse answer from a chat completions answer."""
    choices = answer.get("choices") or []
    if not choices:
        raise ValueError("the container answered no choice")
    message = choices[0].get("message") or {}
    counted = answer.get("usage") or {}
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": message.get("content") or ""}]}},
        "stopReason": FINISH.get(choices[0].get("finish_reason") or "stop", "end_turn"),
        "usage": usage(int(counted.get("prompt_tokens") or 0), int(counted.get("completion_tokens") or 0)),
    }


class Reassembler:
    """Complete frames from a stream of byte parts cut anywhere: JSON lines, or SSE ``data:`` events."""

    def __init__(self, framing: str):
        self.framing = framing
        self.buffer = b""
        self.done = False

    def feed(self, part: bytes) -> Iterator[dict[str, Any]]:
        """The chunk objects completed by ``part``."""
        self.buffer += part
        while b"\n" in self.buffer and not self.done:
            line, self.buffer = self.buffer.split(b"\n", 1)
            chunk = self._parse(line.strip())
            if chunk is not None:
                yield chunk

    def close(self) -> Iterator[dict[str, Any]]:
        """What is left once the stream ends (a last line without its newline)."""
        line, self.buffer = self.buffer.strip(), b""
        chunk = self._parse(line) if line and not self.done else None
        if chunk is not None:
            yield chunk

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        if not line:
            return None
        if self.framing == "sse":
            if not line.startswith(b"data:"):
                return None  # event:, id:, comments
            line = line[5:].strip()
            if line == b"[DONE]":
                self.done = True
                return None
        return json.loads(line)


def stream_events(chunks: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """ConverseStream's events from chat completion chunks: messageStart, a text block's deltas, messageStop,
    metadata (usage when the container reported it)."""
    started = stopped = False
    stop = "end_turn"
    counted: dict[str, Any] = {}
    for chunk in chunks:
        if chunk.get("usage"):
            counted = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not started:
                yield {"messageStart": {"role": "assistant"}}
                started = True
            text = (choice.get("delta") or {}).get("content")
            if text:
                yield {"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}}
            if choice.get("finish_reason"):
                stop, stopped = FINISH.get(choice["finish_reason"], "end_turn"), True
    if not started:
        yield {"messageStart": {"role": "assistant"}}
    if not stopped and not started:
        raise ValueError("the container's stream ended before any choice")
    yield {"contentBlockStop": {"contentBlockIndex": 0}}
    yield {"messageStop": {"stopReason": stop}}
    tokens = usage(int(counted.get("prompt_tokens") or 0), int(counted.get("completion_tokens") or 0))
    yield {"metadata": {"usage": tokens, "metrics": {"latencyMs": 0}}}
