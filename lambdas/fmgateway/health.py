"""Live model health (issue 14): what the candidate loop, the breaker and the routing strategies read.

``HealthFigures`` is the merged recent window of one candidate's ``health_key`` (every sandbox's statistics,
summed from the shared store). The strategies (``fmgateway.strategies``) and ``GET /v1/models`` read it through a
``HealthView``; the recorder and the shared store that fill it live beside it here.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class HealthFigures(NamedTuple):
    calls: int = 0  # calls that finished in the window, successes and failures
    failures: int = 0  # transient failures that count toward the breaker (throttles included)
    throttles: int = 0
    slow_calls: int = 0  # calls slower than the breaker's slow-call threshold
    p50_ms: float | None = None  # call latency
    p99_ms: float | None = None
    ttft_p50_ms: float | None = None  # time to first token (streams)
    output_tokens_per_second: float | None = None
    window_seconds: float = 60.0

    @property
    def error_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    @property
    def throttle_rate(self) -> float:
        return self.throttles / self.calls if self.calls else 0.0

    @property
    def slow_rate(self) -> float:
        return self.slow_calls / self.calls if self.calls else 0.0


class HealthView(Protocol):
    def figures(self, health_key: str) -> HealthFigures | None:
        """The merged recent window for one candidate, from a cached read; ``None`` when nothing is known."""
        ...


class NoHealth:
    """A view that knows nothing: every strategy falls back to the configured order."""

    def figures(self, health_key: str) -> HealthFigures | None:
        return None
