"""Mistral text-completion bodies (``prompt`` in ``<s>[INST] ... [/INST]`` form + ``max_tokens``) <-> Converse.

Mistral has no system role: a system prompt goes in front of the first user turn. Its responses carry no token counts;
Bedrock sends them in the ``x-amzn-bedrock-*-token-count`` headers, which is where they are read from.
"""

from __future__ import annotations

import re
from typing import Any

from fmgateway.native.bodies import (
    Untranslatable,
    check_fields,
    header_tokens,
    invocation_metrics,
    merge_turns,
    prompt_text,
    system_text,
    text_of,
    text_only,
    usage,
)

FAMILY = "Mistral"
MAX_TOKENS = ("max_tokens",)  # where the body says how long the answer may be
FIELDS = frozenset({"prompt", "max_tokens", "temperature", "top_p", "top_k", "stop"})
_TURN = re.compile(r"\[INST\](.*?)\[/INST\]([^\[]*)", re.DOTALL)
STOP = {"stop": "end_turn", "length": "max_tokens"}


def request_to_converse(body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, FIELDS, FAMILY)
    prompt = prompt_text(body, "prompt")
    converse: dict[str, Any] = {"messages": _turns(prompt)}
    inference = {
        name: body[native]
        for native, name in (
            ("max_tokens", "maxTokens"),
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("stop", "stopSequences"),
        )
        if body.get(native) is not None
    }
    if inference:
        converse["inferenceConfig"] = inference
    if body.get("top_k") is not None:
        converse["additionalModelRequestFields"] = {"top_k": body["top_k"]}
    return converse


def _turns(prompt: str) -> list[dict]:
    messages: list[dict] = []
    for match in _TURN.finditer(prompt):
        user, answer = match.group(1).strip(), match.group(2).replace("</s>", "").replace("<s>", "").strip()
        if user:
            messages.append({"role": "user", "content": [{"text": user}]})
        if answer:
            messages.append({"role": "assistant", "content": [{"text": answer}]})
    if not messages or messages[0]["role"] != "user":
        return [{"role": "user", "content": [{"text": prompt.replace("<s>", "").strip()}]}]
    return merge_turns(messages)


def converse_to_request(converse: dict[str, Any]) -> dict[str, Any]:
    extra = converse.get("additionalModelRequestFields") or {}
    text_only({**converse, "additionalModelRequestFields": None}, FAMILY)
    if set(extra) - {"top_k"}:
        raise Untranslatable(f"Mistral has no equivalent of additionalModelRequestFields {sorted(extra)}")
    system = system_text(converse)
    prompt = "<s>"
    for index, message in enumerate(converse["messages"]):
        text = text_of(message["content"])
        if message["role"] == "user":
            prompt += f"[INST] {system + chr(10) + chr(10) if system and index == 0 else ''}{text} [/INST]"
        else:
            prompt += f" {text}</s>"
    body: dict[str, Any] = {"prompt": prompt}
    inference = converse.get("inferenceConfig") or {}
    for name, native in (
        ("maxTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("stopSequences", "stop"),
    ):
        if inference.get(name) is not None:
            body[native] = inference[name]
    if "top_k" in extra:
        body["top_k"] = extra["top_k"]
    return body


def response_to_converse(native: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    first = (native.get("outputs") or [{}])[0]
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": first.get("text", "")}]}},
        "stopReason": STOP.get(first.get("stop_reason") or "stop", "end_turn"),
        "usage": usage(header_tokens(headers, "input"), header_tokens(headers, "output")),
    }


def converse_to_response(converse: dict[str, Any], model_id: str) -> dict[str, Any]:
    stop = "length" if converse.get("stopReason") == "max_tokens" else "stop"
    return {"outputs": [{"text": text_of(converse["output"]["message"].get("content", [])), "stop_reason": stop}]}


class StreamRenderer:
    """ConverseStream events -> Mistral's chunks: ``outputs[0].text`` pieces, the last with ``stop_reason``."""

    def __init__(self, model_id: str):
        self.model_id, self.stop = model_id, "stop"

    def feed(self, name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if name == "contentBlockDelta" and "text" in (data.get("delta") or {}):
            return [{"outputs": [{"text": data["delta"]["text"], "stop_reason": None}]}]
        if name == "messageStop":
            self.stop = "length" if data.get("stopReason") == "max_tokens" else "stop"
        if name == "metadata":
            return [
                {
                    "outputs": [{"text": "", "stop_reason": self.stop}],
                    "amazon-bedrock-invocationMetrics": invocation_metrics(data),
                }
            ]
        return []
