"""What the live health picture says of one candidate (``HealthFigures``), the view that answers it (``HealthView``),
and what the monitor and the breaker tell the outside (``HealthEvents``)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from fmgateway.health.stats import Stats


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
    ttft_p99_ms: float | None = None
    failures_by_kind: dict[str, int] | None = None  # throttled, unavailable, timeout, model_error, other

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


class HealthEvents:
    """What the monitor and the breaker tell the outside (EMF metrics in Lambda; ``fmgateway.aws.health_metrics``)."""

    def flushed(self, key: str, stats: Stats) -> None:
        """The statistics of one key just written (one flush interval of this sandbox's calls)."""

    def transition(self, key: str, old_state: str, new_state: str) -> None:
        """A breaker changed state (this sandbox made the conditional write)."""

    def no_healthy_candidate(self, route: str) -> None:
        """A request found every candidate of its plan behind an open breaker."""

    def abandoned_hedge(self, key: str, cost_usd: float) -> None:
        """A hedged request's abandoned Converse answer arrived: what it cost (``fmgateway.core.hedging``)."""


NoEvents = HealthEvents
