"""Amazon Titan Text bodies (``inputText`` + ``textGenerationConfig``) <-> Converse.

Titan takes one prompt string. A conversation is written in Titan's documented chat convention, ``User: ...`` and
``Bot: ...`` lines ending with ``Bot:``, after the system prompt's lines; such a prompt is read back into the system
prompt and turns, anything else is one user message.
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

FAMILY = "Amazon Titan Text"
MAX_TOKENS = ("textGenerationConfig", "maxTokenCount")  # where the body says how long the answer may be
FIELDS = frozenset({"inputText", "textGenerationConfig"})
CONFIG = {"maxTokenCount": "maxTokens", "temperature": "temperature", "topP": "topP", "stopSequences": "stopSequences"}
COMPLETION = {
    "FINISH": "end_turn",
    "LENGTH": "max_tokens",
    "STOP_CRITERIA_MET": "stop_sequence",
    "CONTENT_FILTERED": "content_filtered",
}
REASONS = {
    "end_turn": "FINISH",
    "max_tokens": "LENGTH",
    "stop_sequence": "STOP_CRITERIA_MET",
    "content_filtered": "CONTENT_FILTERED",
}
_TURN = re.compile(r"^(User|Bot):[ \t]?", re.MULTILINE)


def request_to_converse(body: dict[str, Any]) -> dict[str, Any]:
    check_fields(body, FIELDS, FAMILY)
    text = prompt_text(body, "inputText")
    config = body.get("textGenerationConfig") or {}
    require(isinstance(config, dict), "body.textGenerationConfig", "an object")
    inference: dict[str, Any] = {}
    for name, value in config.items():
        require(name in CONFIG, f"body.textGenerationConfig.{name}", f"not a Titan setting ({', '.join(CONFIG)})")
        inference[CONFIG[name]] = value
    preamble, messages = _turns(text)
    converse: dict[str, Any] = {"messages": messages}
    if preamble:
        converse["system"] = [{"text": preamble}]
    if inference:
        converse["inferenceConfig"] = inference
    return converse


def _turns(text: str) -> tuple[str, list[dict]]:
    """(the lines before the first ``User:``, which the gateway writes from a system prompt; the turns)."""
    marks = list(_TURN.finditer(text))
    if not marks or marks[0].group(1) != "User":
        return "", [{"role": "user", "content": [{"text": text}]}]
    messages = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        part = text[mark.end() : end].strip()
        if part:
            messages.append({"role": "user" if mark.group(1) == "User" else "assistant", "content": [{"text": part}]})
    if not messages:
        return "", [{"role": "user", "content": [{"text": text}]}]
    return text[: marks[0].start()].strip(), merge_turns(messages)


def converse_to_request(converse: dict[str, Any]) -> dict[str, Any]:
    text_only(converse, FAMILY)
    messages = converse["messages"]
    system = system_text(converse)
    if len(messages) == 1 and not system:
        prompt = text_of(messages[0]["content"])
    else:
        lines = [system] if system else []
        lines += [f"{'User' if m['role'] == 'user' else 'Bot'}: {text_of(m['content'])}" for m in messages]
        prompt = "\n".join(lines) + "\nBot:"
    names = {converse_name: native for native, converse_name in CONFIG.items()}
    config = {names[name]: value for name, value in (converse.get("inferenceConfig") or {}).items() if name in names}
    body: dict[str, Any] = {"inputText": prompt}
    if config:
        body["textGenerationConfig"] = config
    return body


def response_to_converse(native: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    results = native.get("results") or [{}]
    first = results[0]
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": first.get("outputText", "")}]}},
        "stopReason": COMPLETION.get(first.get("completionReason") or "FINISH", "end_turn"),
        "usage": usage(int(native.get("inputTextTokenCount", 0)), int(first.get("tokenCount", 0))),
    }


def converse_to_response(converse: dict[str, Any], model_id: str) -> dict[str, Any]:
    tokens = converse.get("usage") or {}
    return {
        "inputTextTokenCount": tokens.get("inputTokens", 0),
        "results": [
            {
                "tokenCount": tokens.get("outputTokens", 0),
                "outputText": text_of(converse["output"]["message"].get("content", [])),
                "completionReason": REASONS.get(converse.get("stopReason", "end_turn"), "FINISH"),
            }
        ],
    }


class StreamRenderer:
    """ConverseStream events -> Titan's chunks: ``outputText`` pieces, the last one with the completion reason."""

    def __init__(self, model_id: str):
        self.model_id, self.sent_tokens, self.stop = model_id, 0, "end_turn"

    def feed(self, name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if name == "contentBlockDelta" and "text" in (data.get("delta") or {}):
            return [
                {
                    "outputText": data["delta"]["text"],
                    "index": 0,
                    "totalOutputTextTokenCount": None,
                    "completionReason": None,
                    "inputTextTokenCount": None,
                }
            ]
        if name == "messageStop":
            self.stop = data.get("stopReason", "end_turn")
        if name == "metadata":
            tokens = data.get("usage") or {}
            metrics = invocation_metrics(data)
            return [
                {
                    "outputText": "",
                    "index": 0,
                    "totalOutputTextTokenCount": tokens.get("outputTokens", 0),
                    "completionReason": REASONS.get(self.stop, "FINISH"),
                    "inputTextTokenCount": tokens.get("inputTokens", 0),
                    "amazon-bedrock-invocationMetrics": metrics,
                }
            ]
        return []
