"""In-memory fakes for the core's ports."""

from __future__ import annotations

from fmgateway.values.errors import InvocationError


def answer(text: str = "ok", input_tokens: int = 10, output_tokens: int = 5, stop: str = "end_turn") -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
    }


class StaticSource:
    """A ``ConfigSource`` that always answers the same parsed configuration."""

    def __init__(self, config):
        self.config = config

    def get(self):
        return self.config


class FakeInvoker:
    """Answers per model alias fragment; ``fail[fragment] = (kind, code)`` makes that model fail."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.fail: dict[str, tuple[str, str]] = {}
        self.responses: dict[str, dict] = {}

    def configure(self, settings: dict) -> None:
        self.settings = settings

    def converse(self, invoke_id: str, request: dict, deadline: float | None = None) -> dict:
        self.calls.append((invoke_id, request))
        for fragment, (kind, code) in self.fail.items():
            if fragment in invoke_id:
                raise InvocationError(kind, code, f"simulated {code}")
        for fragment, response in self.responses.items():
            if fragment in invoke_id:
                return response
        return answer(f"answer from {invoke_id}")

    @property
    def models_called(self) -> list[str]:
        return [invoke_id for invoke_id, _ in self.calls]


def stream_events(text: str, input_tokens: int = 10, output_tokens: int = 5, stop: str = "end_turn") -> list[dict]:
    """ConverseStream's events for ``text``, one delta per word."""
    words = text.split(" ")
    deltas = [
        {"contentBlockDelta": {"delta": {"text": (" " if i else "") + w}, "contentBlockIndex": 0}} for i, w in enumerate(words)
    ]
    usage = {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens}
    return [
        {"messageStart": {"role": "assistant"}},
        *deltas,
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": stop}},
        {"metadata": {"usage": usage, "metrics": {"latencyMs": 1}}},
    ]


class FakeStream:
    """An open ConverseStream: its events, failing with ``error`` after ``fail_after`` of them; records ``close``."""

    def __init__(self, events: list[dict], fail_after: int | None = None, error: InvocationError | None = None):
        self.events, self.fail_after, self.error = events, fail_after, error
        self.sent = 0
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self.closed:
            raise InvocationError("unavailable", "ConnectionClosed", "read on a closed stream")
        if self.fail_after is not None and self.sent == self.fail_after:
            raise self.error or InvocationError("model_error", "ModelStreamErrorException", "simulated stream failure")
        if self.sent >= len(self.events):
            raise StopIteration
        self.sent += 1
        return self.events[self.sent - 1]

    def close(self) -> None:
        self.closed = True


class FakeStreamingInvoker(FakeInvoker):
    """``FakeInvoker`` plus ConverseStream; ``stream_fail[fragment] = n`` makes that model's stream fail after n events."""

    def __init__(self):
        super().__init__()
        self.stream_fail: dict[str, int] = {}
        self.streams: list[FakeStream] = []

    def converse_stream(self, invoke_id: str, request: dict, deadline: float | None = None) -> FakeStream:
        response = self.converse(invoke_id, request, deadline)  # the same failures and answers as converse
        text = response["output"]["message"]["content"][0]["text"]
        usage = response["usage"]
        fail_after = next((n for fragment, n in self.stream_fail.items() if fragment in invoke_id), None)
        stream = FakeStream(stream_events(text, usage["inputTokens"], usage["outputTokens"]), fail_after)
        self.streams.append(stream)
        return stream
