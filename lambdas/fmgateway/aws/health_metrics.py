"""EMF metrics per model (issue 14): what each sandbox wrote to the health window, and every breaker transition.

One EMF record per model per flush interval (not per request): ``ModelCalls``, ``ModelFailures``, failures by kind
(``ModelThrottles``, ``ModelUnavailable``, ``ModelTimeouts``, ``ModelErrors``), ``ModelSlowCalls``, and up to 100
``ModelLatencyMs`` / ``ModelTtftMs`` values drawn from the interval's histogram (CloudWatch computes percentiles from
them); ``BreakerOpened`` / ``BreakerHalfOpened`` / ``BreakerClosed`` when this sandbox made the transition; and
``NoHealthyCandidate`` (dimension ``Tier``) when a request found every candidate behind an open breaker, which the
per-tier alarm watches. Dimensions: ``Model`` (the health key) and ``service``, so the dashboard can draw one line per
candidate. Powertools' ``EphemeralMetrics`` keeps these apart from the handler's own metric set (they are written from
the health worker thread).
"""

from __future__ import annotations

from collections.abc import Callable

from fmgateway.health import stats as health_stats
from fmgateway.health.figures import HealthEvents
from fmgateway.health.stats import Stats

COUNTS = {
    "c": "ModelCalls",
    "f": "ModelFailures",
    "ft": "ModelThrottles",
    "fu": "ModelUnavailable",
    "fo": "ModelTimeouts",
    "fm": "ModelErrors",
    "s": "ModelSlowCalls",
}
TRANSITIONS = {"OPEN": "BreakerOpened", "HALF_OPEN": "BreakerHalfOpened", "CLOSED": "BreakerClosed"}


class EmfHealthEvents(HealthEvents):
    """``printer`` receives each EMF record (default: stdout, where Lambda hands it to CloudWatch Logs)."""

    def __init__(self, printer: Callable[[str], None] | None = None):
        self.printer = printer

    def _metrics(self, dimension: str, value: str):
        from aws_lambda_powertools.metrics import EphemeralMetrics  # imported on the first flush, not at cold start

        metrics = EphemeralMetrics()
        metrics.add_dimension(name=dimension, value=value)
        return metrics

    def _emit(self, metrics) -> None:
        if self.printer is None:
            metrics.flush_metrics()
            return
        import json

        self.printer(json.dumps(metrics.serialize_metric_set()))
        metrics.clear_metrics()

    def flushed(self, key: str, stats: Stats) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics = self._metrics("Model", key)
        for name, metric in COUNTS.items():
            if name in ("c", "f") or stats.get(name):
                metrics.add_metric(name=metric, unit=MetricUnit.Count, value=stats.get(name, 0))
        for prefix, metric in (("l", "ModelLatencyMs"), ("t", "ModelTtftMs")):
            for value in health_stats.histogram_sample(stats, prefix):
                metrics.add_metric(name=metric, unit=MetricUnit.Milliseconds, value=value)
        self._emit(metrics)

    def transition(self, key: str, old_state: str, new_state: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics = self._metrics("Model", key)
        metrics.add_metric(name=TRANSITIONS.get(new_state, "BreakerTransition"), unit=MetricUnit.Count, value=1)
        self._emit(metrics)

    def no_healthy_candidate(self, route: str) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics = self._metrics("Tier", route)
        metrics.add_metric(name="NoHealthyCandidate", unit=MetricUnit.Count, value=1)
        self._emit(metrics)

    def abandoned_hedge(self, key: str, cost_usd: float) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics = self._metrics("Model", key)
        metrics.add_metric(name="HedgeAbandonedCalls", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="HedgeAbandonedCostMicroUsd", unit=MetricUnit.Count, value=round(cost_usd * 1e6))
        self._emit(metrics)
