"""Meta Llama bodies (``prompt`` + ``max_gen_len``) <-> Converse.

The prompt is Llama 3's chat template (``<|start_header_id|>role<|end_header_id|>`` ... ``<|eot_id|>``), read back
into turns; a prompt without it (plain text, or Llama 2's ``[INST]``) is one user message.
"""

from __future__ import annotations

import re
from typing import Any

from fmgateway.native.bodies import (
    check_fields,
    invocation_metrics,
    merge_turns,
    prompt_text,
    require,
    system_text,
    text_of,
    text_only,
    usage,
)

FAMILY = "Meta Llama"
MAX_TOKENS = ("max_gen_len",)  # where the body says how long the answer may be
FIELDS = frozenset({"prompt", "max_gen_len", "temperature", "top_p"})
BEGIN, END = "<|begin_of_text|>", "<|eot_id|>"
_HEADER = re.compile(r"<\|start_header_id\|>(system|user|assistant)<\|end_header_id\|>\n*")
_LLAMA2 = re.compile(r"^\s*(<s>)?\s*\[INST\]\s*(.*?)\s*\[/INST\]\s*$", re.DOTALL)
STOP = {"stop": "end_turn", "length": "max_tokens"}


def request_to_converse(body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, FIELDS, FAMILY)
    prompt = prompt_text(body, "prompt")
    system, messages = _turns(prompt)
    converse: dict[str, Any] = {"messages": messages}
    if system:
        converse["system"] = [{"text": system}]
    inference = {
        name: body[native]
        for native, name in (("max_gen_len", "maxTokens"), ("temperature", "temperature"), ("top_p", "topP"))
        if body.get(native) is not None
    }
    if inference:
        converse["inferenceConfig"] = inference
    return converse


def _turns(prompt: str) -> tuple[str, list[dict]]:
    marks = list(_HEADER.finditer(prompt))
    if not marks:
        old = _LLAMA2.match(prompt)
        return "", [{"role": "user", "content": [{"text": old.group(2) if old else prompt}]}]
    system_parts: list[str] = []
    messages: list[dict] = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(prompt)
        text = prompt[mark.end() : end].replace(END, "").strip()
        if not text:
            continue  # the trailing assistant header that asks for the answer
        if mark.group(1) == "system":
            system_parts.append(text)
        else:
            messages.append({"role": mark.group(1), "content": [{"text": text}]})
    require(bool(messages) and messages[0]["role"] == "user", "body.prompt", "the chat template needs a user turn first")
    return "\n".join(system_parts), merge_turns(messages)


def converse_to_request(converse: dict[str, Any]) -> dict[str, Any]:
    text_only(converse, FAMILY)
    parts = [BEGIN]
    if system := system_text(converse):
        parts.append(f"<|start_header_id|>system<|end_header_id|>\n\n{system}{END}")
    for message in converse["messages"]:
        parts.append(f"<|start_header_id|>{message['role']}<|end_header_id|>\n\n{text_of(message['content'])}{END}")
    parts.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    body: dict[str, Any] = {"prompt": "".join(parts)}
    inference = converse.get("inferenceConfig") or {}
    for name, native in (("maxTokens", "max_gen_len"), ("temperature", "temperature"), ("topP", "top_p")):
        if inference.get(name) is not None:
            body[native] = inference[name]
    return body


def response_to_converse(native: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": native.get("generation", "")}]}},
        "stopReason": STOP.get(native.get("stop_reason") or "stop", "end_turn"),
        "usage": usage(int(native.get("prompt_token_count") or 0), int(native.get("generation_token_count") or 0)),
    }


def converse_to_response(converse: dict[str, Any], model_id: str) -> dict[str, Any]:
    tokens = converse.get("usage") or {}
    return {
        "generation": text_of(converse["output"]["message"].get("content", [])),
        "prompt_token_count": tokens.get("inputTokens", 0),
        "generation_token_count": tokens.get("outputTokens", 0),
        "stop_reason": "length" if converse.get("stopReason") == "max_tokens" else "stop",
    }


class StreamRenderer:
    """ConverseStream events -> Llama's chunks: ``generation`` pieces, the last with ``stop_reason`` and the counts."""

    def __init__(self, model_id: str):
        self.model_id, self.stop = model_id, "stop"

    def feed(self, name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if name == "contentBlockDelta" and "text" in (data.get("delta") or {}):
            return [
                {
                    "generation": data["delta"]["text"],
                    "prompt_token_count": None,
                    "generation_token_count": None,
                    "stop_reason": None,
                }
            ]
        if name == "messageStop":
            self.stop = "length" if data.get("stopReason") == "max_tokens" else "stop"
        if name == "metadata":
            tokens = data.get("usage") or {}
            return [
                {
                    "generation": "",
                    "prompt_token_count": tokens.get("inputTokens", 0),
                    "generation_token_count": tokens.get("outputTokens", 0),
                    "stop_reason": self.stop,
                    "amazon-bedrock-invocationMetrics": invocation_metrics(data),
                }
            ]
        return []
