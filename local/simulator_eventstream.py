"""The simulator's streamed answers in AWS event-stream framing: ``EventStream`` (the events a ConverseStream or
InvokeModelWithResponseStream call answers with, each with the latency before it) and ``stream_messages``, which turns
it into the encoded messages, injecting the model's ``failAfterEvents`` fault as an exception message."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from fmgateway.native import eventstream
from local.simulator_state import SimulatorState


class EventStream(NamedTuple):
    """A streamed answer: its events and what the stream's fault injection and last event need."""

    events: list[tuple[str, dict, float]]  # (event type, payload, milliseconds to wait before it)
    usage: dict  # the call's token counts, filled into the ``metadata`` event
    faults: dict  # the model's fault entry: failAfterEvents, streamErrorType
    logged: Any = None  # what the invocation log records as the output: the assembled answer, or the chunks


def fails_after(stream: EventStream) -> int | None:
    """The index of the event replaced by the injected stream error, or None when the stream runs to its end."""
    fail_after = stream.faults["failAfterEvents"]
    return int(fail_after) if fail_after is not None and fail_after < len(stream.events) else None


def encode_event(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (string headers only): the gateway's own encoder, one implementation."""
    return eventstream.encode(headers, payload)


def event_message(event_type: str, body: dict) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_event(headers, json.dumps(body).encode())


def exception_message(exception_type: str, body: dict) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_event(headers, json.dumps(body).encode())


def stream_messages(state: SimulatorState, model_id: str, stream: EventStream, started: float) -> Iterator[bytes]:
    """The stream's messages, each after its latency; counts the call's success, or the injected stream error."""
    fail_after = fails_after(stream)
    for index, (event_type, payload, delay_ms) in enumerate(stream.events):
        if index == fail_after:
            kind = stream.faults["streamErrorType"]
            body: dict[str, Any] = {"message": f"Injected {kind} after {index} events (simulated)."}
            if kind == "modelStreamErrorException":
                body.update(originalStatusCode=500, originalMessage="simulated model stream failure")
            yield exception_message(kind, body)
            state.record(model_id, error=kind)
            return
        state.sleep_ms(delay_ms)
        if event_type == "metadata":
            payload = {"usage": stream.usage, "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)}, **payload}
        yield event_message(event_type, payload)
    state.record(model_id, success=True)
