"""One logged invocation as a text conversation: system prompt, the turns that led to the answer, the answer.

Converse and ConverseStream records hold Converse bodies; an InvokeModel record holds its family's native body,
translated to Converse by the same modules the gateway's InvokeModel route uses (``fmgateway.native``), so a dataset
reads every operation alike. Training data here is text: a record with images, documents, tool calls or reasoning
blocks is left out with that reason, as are embeddings and streamed InvokeModel records (the gateway itself never
calls InvokeModelWithResponseStream: both its stream paths call ConverseStream).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.lifecycle.invocation_logs import LogRecord
from fmgateway.native import families
from fmgateway.native.bodies import Untranslatable
from fmgateway.values.errors import InvalidRequest

CONVERSE_OPERATIONS = ("Converse", "ConverseStream")


class Turn(NamedTuple):
    role: str  # user | assistant
    text: str


class Exchange(NamedTuple):
    """A text conversation and its answer: what a dataset record is made of."""

    system: str
    turns: list[Turn]  # the conversation up to the answer, starting and ending with the user
    answer: str
    stop_reason: str | None


class NotText(Exception):
    """The record cannot become a text conversation (the message is the reason a summary counts)."""


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise NotText(f"{where}: no content")
    texts = []
    for block in content:
        if not isinstance(block, dict) or set(block) - {"text", "cachePoint"}:
            kinds = sorted(set(block) - {"text", "cachePoint"}) if isinstance(block, dict) else ["?"]
            raise NotText(f"not text only ({', '.join(kinds)})")
        if "text" in block:
            texts.append(str(block["text"]))
    return "".join(texts)


def _converse_bodies(record: LogRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Converse request, Converse answer) of a record."""
    request, answer = record.input_body, record.output_body
    if record.operation in CONVERSE_OPERATIONS:
        if isinstance(answer, list):  # a stream logged as its events (not what Bedrock writes for ConverseStream)
            answer = assembled(answer)
        if not isinstance(request, dict) or not isinstance(answer, dict):
            raise NotText("bodies are not Converse objects")
        return request, answer
    if record.operation != "InvokeModel":
        raise NotText(f"operation {record.operation} is not read")
    if not isinstance(request, dict) or not isinstance(answer, dict):
        raise NotText("bodies are not JSON objects")
    family = families.family_of_body(request)
    if family is None:
        raise NotText("a body of no known family")
    if family in families.EMBEDDING_FAMILIES:
        raise NotText("embeddings")
    module = families.module(family)
    try:
        return module.request_to_converse(request), module.response_to_converse(answer)
    except (InvalidRequest, Untranslatable, KeyError, TypeError, ValueError) as exc:
        raise NotText(f"untranslatable {family} body: {exc}") from None


def assembled(events: list[Any]) -> dict[str, Any]:
    """A Converse answer from ConverseStream events (text deltas and the stop reason)."""
    text, stop = [], None
    for event in events:
        if not isinstance(event, dict):
            continue
        delta = (event.get("contentBlockDelta") or {}).get("delta") or {}
        if "text" in delta:
            text.append(delta["text"])
        elif delta:
            raise NotText(f"not text only ({', '.join(sorted(delta))})")
        if "messageStop" in event:
            stop = event["messageStop"].get("stopReason")
    return {"output": {"message": {"role": "assistant", "content": [{"text": "".join(text)}]}}, "stopReason": stop}


def exchange_of(record: LogRecord) -> Exchange:
    """The record's conversation; ``NotText`` says why there is none."""
    request, answer = _converse_bodies(record)
    system = "\n".join(_text(block.get("text", ""), "system") for block in request.get("system") or [] if "text" in block)
    if any(set(block) - {"text", "cachePoint"} for block in request.get("system") or [] if isinstance(block, dict)):
        raise NotText("not text only (system)")
    turns = []
    for index, message in enumerate(request.get("messages") or []):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise NotText(f"messages[{index}]: role {role!r}")
        turns.append(Turn(role, _text(message.get("content"), f"messages[{index}]")))
    if not turns or turns[-1].role != "user":
        raise NotText("the conversation does not end with the user")
    message = (answer.get("output") or {}).get("message") or {}
    reply = _text(message.get("content"), "answer")
    return Exchange(system, turns, reply, answer.get("stopReason"))
