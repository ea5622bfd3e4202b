"""In-memory fakes for the core's ports."""

from __future__ import annotations

from fmgateway.bedrock import InvocationError


def answer(text: str = "ok", input_tokens: int = 10, output_tokens: int = 5, stop: str = "end_turn") -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
    }


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
