"""The gateway's event-stream encoder, read back by botocore's own parser (what boto3's bedrock-runtime uses)."""

from __future__ import annotations

import base64
import json

import botocore.session
import pytest
from botocore.eventstream import EventStream, EventStreamBuffer
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser

from fmgateway.native import eventstream

MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")


class _Raw:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self):
        yield self.data


def parse(data: bytes, operation: str) -> list[dict]:
    shape = MODEL.operation_model(operation).output_shape
    member = "stream" if operation == "ConverseStream" else "body"
    return list(EventStream(_Raw(data), shape.members[member], EventStreamJSONParser(), operation))


def test_botocore_parses_converse_stream_events():
    data = eventstream.event("messageStart", {"role": "assistant"}) + eventstream.event(
        "contentBlockDelta", {"delta": {"text": "héllo"}, "contentBlockIndex": 0}
    )
    assert parse(data, "ConverseStream") == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "héllo"}, "contentBlockIndex": 0}},
    ]


def test_botocore_parses_invoke_chunks_and_decodes_their_bytes():
    chunk = {"type": "content_block_delta", "delta": {"text": "hi"}}
    data = eventstream.event("chunk", {"bytes": base64.b64encode(json.dumps(chunk).encode()).decode()})
    (event,) = parse(data, "InvokeModelWithResponseStream")
    assert json.loads(event["chunk"]["bytes"]) == chunk


def test_an_exception_event_is_raised_by_botocore_with_its_code():
    data = eventstream.event("messageStart", {"role": "assistant"}) + eventstream.exception(
        "modelStreamErrorException", {"message": "broke", "originalStatusCode": 502}
    )
    with pytest.raises(EventStreamError) as caught:
        parse(data, "ConverseStream")
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "broke" in caught.value.response["Error"]["Message"]


def test_decode_checks_both_crcs_and_matches_botocore():
    data = eventstream.event("messageStop", {"stopReason": "end_turn"})
    ((headers, payload),) = eventstream.decode(data)
    assert headers[":event-type"] == "messageStop" and json.loads(payload) == {"stopReason": "end_turn"}
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    (message,) = list(buffer)
    assert message.payload == payload
    corrupted = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(ValueError, match="CRC"):
        eventstream.decode(corrupted)
