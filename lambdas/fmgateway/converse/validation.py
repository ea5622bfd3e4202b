"""Request validation shared by every Converse-shaped route (/v1/chat, the task routes, /v1/jobs) and by
the OpenAI route after translation: what Bedrock would refuse is refused here first, before any work,
with a 400 that names the field and the message index.

The JSON Schema (``schemas/chat-request.json``, also API Gateway's model) checks types, ranges, enums
and closed objects; this module adds what draft-04 cannot say: role order as Converse checks it, blank
text, strict standard base64, and S3 references (``source.s3Location``) only to buckets the
configuration allows (``limits.s3InputBuckets``; the functions that call Bedrock may read exactly those).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection
from typing import Any

from fmgateway.config import schemas
from fmgateway.converse import fields as converse_fields
from fmgateway.converse import request_metadata
from fmgateway.values.errors import InvalidRequest

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def is_strict_base64(text: str) -> bool:
    """Standard alphabet, padded, canonical (no stray bits in the last quantum), ASCII only."""
    if not text or len(text) % 4 or not text.isascii() or not _BASE64.fullmatch(text):
        return False
    tail = text[-4:]  # only the last quantum can hold padding or non-zero unused bits
    try:
        return base64.b64encode(base64.b64decode(tail, validate=True)).decode("ascii") == tail
    except ValueError:
        return False


def check_base64(text: Any, where: str) -> None:
    if not isinstance(text, str) or not is_strict_base64(text):
        raise InvalidRequest(f"{where}: must be standard base64 (A-Z a-z 0-9 + /, '=' padded to a multiple of 4)")


def chat_body(body: dict[str, Any], s3_buckets: Collection[str] = ()) -> dict[str, Any]:
    """Validate a /v1/chat, task-route or job body; returns it. ``s3_buckets``: the buckets an ``s3Location`` may name."""
    if "requestMetadata" in body:  # before the schema: these messages say which pair and why
        request_metadata.check(body["requestMetadata"])
    schemas.validate("chat-request", body)  # draft-04: 10.0 is not an integer, so boto3 never sees a float maxTokens
    conversation(body["messages"], body.get("system"), s3_buckets=s3_buckets)
    converse_fields.check(body)
    return body


def conversation(
    messages: list[dict], system: list[dict] | None = None, root: str = "body", s3_buckets: Collection[str] = ()
) -> None:
    """Converse's own rules: the first message is the user's, roles alternate, text is not blank, binary
    content is strict base64, a tool result answers a tool use of the message before it."""
    for index, block in enumerate(system or ()):
        if "text" in block and not block["text"].strip():
            raise InvalidRequest(f"{root}.system[{index}].text: must not be blank")
    if not messages:
        raise InvalidRequest(f"{root}.messages: at least one message is required")
    previous: dict | None = None
    for index, message in enumerate(messages):
        where = f"{root}.messages[{index}]"
        role = message.get("role")
        if previous is None and role != "user":
            raise InvalidRequest(f"{where}.role: the first message must be from 'user'")
        if previous is not None and role == previous.get("role"):
            raise InvalidRequest(f"{where}.role: roles must alternate between 'user' and 'assistant'; two '{role}' in a row")
        content = message.get("content") or []
        if not content:
            raise InvalidRequest(f"{where}.content: must not be empty")
        for position, block in enumerate(content):
            _block(block, f"{where}.content[{position}]", role, previous, s3_buckets)
        previous = message


def check_s3_location(location: Any, where: str, s3_buckets: Collection[str]) -> None:
    """An ``s3Location`` must name a bucket of ``limits.s3InputBuckets``: the 400 names the bucket."""
    uri = (location or {}).get("uri") if isinstance(location, dict) else None
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise InvalidRequest(f"{where}.uri: must be s3://<bucket>/<key>")
    bucket = uri[5:].split("/", 1)[0]
    if bucket not in s3_buckets:
        allowed = ", ".join(sorted(s3_buckets)) or "none is configured (limits.s3InputBuckets)"
        raise InvalidRequest(f"{where}.uri: bucket '{bucket}' is not allowed for inputs; allowed buckets: {allowed}")


def _block(block: dict, where: str, role: Any, previous: dict | None, s3_buckets: Collection[str] = ()) -> None:
    if "text" in block and not block["text"].strip():
        raise InvalidRequest(f"{where}.text: must not be blank")
    _sources(block, where, s3_buckets)
    for index, inner in enumerate((block.get("toolResult") or {}).get("content") or () if "toolResult" in block else ()):
        if isinstance(inner, dict):
            _sources(inner, f"{where}.toolResult.content[{index}]", s3_buckets)
    if "toolResult" in block:
        tool_use_id = (block["toolResult"] or {}).get("toolUseId")
        asked = {
            (item.get("toolUse") or {}).get("toolUseId")
            for item in (previous or {}).get("content", [])
            if isinstance(item, dict) and "toolUse" in item
        }
        if role != "user" or tool_use_id not in asked:
            raise InvalidRequest(f"{where}.toolResult: must answer a toolUse of the assistant message just before it")


def _sources(block: dict, where: str, s3_buckets: Collection[str]) -> None:
    """Image, document and video sources: strict base64 bytes, or an allowed bucket."""
    for kind in ("image", "document", "video"):
        source = (block.get(kind) or {}).get("source") if kind in block else None
        if isinstance(source, dict) and "bytes" in source:
            check_base64(source["bytes"], f"{where}.{kind}.source.bytes")
        if isinstance(source, dict) and "s3Location" in source:
            check_s3_location(source["s3Location"], f"{where}.{kind}.source.s3Location", s3_buckets)
