"""What the candidate loop tells the breakers (``fmgateway.health``): admission, successes, failures, and the
isolation of failures that follow the request rather than the model (README "Failure isolation").

``Gateway`` inherits these; the state machine's Lambda tasks, streams and the classifier call them on the gateway,
so every path counts outcomes the same way.
"""

from __future__ import annotations

from typing import Any

from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.health.breaker import PROBE, CircuitBreaker
from fmgateway.health.monitor import HealthMonitor
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import REQUEST_SHAPED_ERRORS, InvocationError, ModelError
from fmgateway.values.exchange import Deferred


class BreakerOutcomes:
    breaker: CircuitBreaker

    def admit(self, candidate: Candidate, config: GatewayConfig, now: float | None = None) -> str:
        return self.breaker.admit(candidate.breaker_key, config.breaker, now=now)

    @property
    def health(self) -> HealthMonitor:
        """The live health picture (``HealthView``): what the breaker's rate rule and the routing strategies read."""
        return self.breaker.health

    def record_failure(
        self,
        candidate: Candidate,
        config: GatewayConfig,
        now: float | None = None,
        kind: str = "unavailable",
        caller: str | None = None,
    ) -> None:
        self.breaker.record_failure(candidate.breaker_key, config.breaker, now=now, kind=kind, caller=caller)

    def record_success(self, candidate: Candidate, config: GatewayConfig, now: float | None = None, **figures: Any) -> None:
        """``figures``: ``latency_ms``, ``ttft_ms``, ``output_tokens``, ``generation_ms`` for the health window, and
        ``caller`` (the API key id: whether other keys' calls succeed decides the per-key cap)."""
        self.breaker.record_success(candidate.breaker_key, config.breaker, now=now, **figures)

    def after_failure(
        self,
        config: GatewayConfig,
        candidate: Candidate,
        decision: str,
        err: InvocationError,
        deferred: Deferred | None,
        now: float | None = None,
        caller: str | None = None,
    ) -> Deferred | None:
        """Count a transient failure on the breakers, isolating failures that follow the request: a 424 is deferred
        until the next model's outcome; a second 424 in a row means the request is the cause, so neither counts and
        the caller gets a 502 quoting both models (``ModelError``). Returns what is deferred now."""
        if err.code in REQUEST_SHAPED_ERRORS:
            if deferred is None:
                return Deferred(candidate.alias, decision, err.message, caller, candidate.describe())
            self.settle(config, deferred, counts=False)
            if decision == PROBE:
                self.breaker.release(candidate.breaker_key, config.breaker)
            raise ModelError(
                f"{deferred.alias} and {candidate.alias} both failed this request with {err.code}: "
                f"{deferred.message!r}; {err.message!r}. The request itself is the likely cause (not counted against the "
                "models); change it or choose another model."
            )
        self.settle(config, deferred, counts=True, now=now)
        self.record_failure(candidate, config, now=now, kind=err.kind, caller=caller)
        return None

    def settle(self, config: GatewayConfig, deferred: Deferred | None, counts: bool, now: float | None = None) -> None:
        """The next model's outcome is known: count a deferred 424 against its model, or give back its probe slot."""
        if deferred is None:
            return
        if deferred.candidate is not None:
            candidate = Candidate.from_json(deferred.candidate)
        else:  # a deferral recorded before candidates travelled whole (an execution in flight across a deploy)
            candidate = Candidate(config.catalog.models[deferred.alias])
        if counts:
            self.record_failure(candidate, config, now=now, kind="model_error", caller=deferred.caller)
        elif deferred.decision == PROBE:
            self.breaker.release(candidate.breaker_key, config.breaker)
