"""AWS event-stream binary framing (``application/vnd.amazon.eventstream``), the encoding side.

What boto3's ``bedrock-runtime`` stream operations (ConverseStream, InvokeModelWithResponseStream) parse: each message
is a prelude (total length, headers length, CRC32 of those 8 bytes), the headers, the payload and a CRC32 of everything
before it. Headers here are strings (type 7), which is all Bedrock sends: ``:message-type`` (``event`` or
``exception``), ``:event-type`` / ``:exception-type`` and ``:content-type``.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from typing import Any

CONTENT_TYPE = "application/vnd.amazon.eventstream"
STRING_HEADER = 7  # the header value type for a UTF-8 string with a 2-byte length


def encode(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    raw_headers = bytearray()
    for name, value in headers.items():
        key, text = name.encode("utf-8"), value.encode("utf-8")
        raw_headers += bytes([len(key)]) + key + bytes([STRING_HEADER]) + struct.pack(">H", len(text)) + text
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    message = prelude + struct.pack(">I", crc32(prelude) & 0xFFFFFFFF) + bytes(raw_headers) + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event(event_type: str, body: Any) -> bytes:
    """An event message with a JSON payload (``messageStart``, ``chunk`` ...)."""
    return encode({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, _json(body))


def exception(exception_type: str, body: Any) -> bytes:
    """An exception message (``modelStreamErrorException`` ...), which botocore raises as ``EventStreamError``."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode(headers, _json(body))


def decode(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The messages of a whole buffer (tests and tools; clients use botocore's own parser). Checks both CRCs."""
    messages: list[tuple[dict[str, str], bytes]] = []
    offset = 0
    while offset < len(data):
        total, headers_length = struct.unpack_from(">II", data, offset)
        (prelude_crc,) = struct.unpack_from(">I", data, offset + 8)
        if crc32(data[offset : offset + 8]) & 0xFFFFFFFF != prelude_crc:
            raise ValueError(f"event stream: prelude CRC mismatch at byte {offset}")
        (message_crc,) = struct.unpack_from(">I", data, offset + total - 4)
        if crc32(data[offset : offset + total - 4]) & 0xFFFFFFFF != message_crc:
            raise ValueError(f"event stream: message CRC mismatch at byte {offset}")
        position, end = offset + 12, offset + 12 + headers_length
        headers: dict[str, str] = {}
        while position < end:
            size = data[position]
            name = data[position + 1 : position + 1 + size].decode("utf-8")
            position += 1 + size
            if data[position] != STRING_HEADER:
                raise ValueError(f"event stream: header {name} is not a string")
            (length,) = struct.unpack_from(">H", data, position + 1)
            headers[name] = data[position + 3 : position + 3 + length].decode("utf-8")
            position += 3 + length
        messages.append((headers, data[end : offset + total - 4]))
        offset += total
    return messages
