"""The decision: the batches' rows aggregated into one part 2 report per model (``comparison.Report``), each model's
quality and cost per 1,000 requests, and the rule.

- **Quality** is the mean score over every case that was scored or failed: a failed answer scores 0 (a model cannot look
  better by failing the hard cases). Cases without a scorer are measured, not scored.
- **Cost per 1,000 requests**: token prices (the answers' own cost) for a model paid per token; for capacity paid by
  the hour, the hour's price amortised over the expected traffic: ``hourlyUsd / expectedRequestsPerHour * 1000``.
- **Promote** iff ``candidate quality >= baseline quality - margin`` and ``candidate cost < baseline cost``; the reason
  says which figures decided, either way. The decision never changes live routing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from fmgateway.lifecycle.comparison import Report, Row
from fmgateway.lifecycle.customization.errors import EvaluationFailed
from fmgateway.values.model import Model

EPSILON = 1e-9  # float noise in "quality >= baseline - margin" never decides


class Figures(NamedTuple):
    model: str
    quality: float | None
    cost_per_1k: float | None
    basis: str  # how the cost was reached, in words
    measured: dict[str, Any]  # comparison.Report.to_json()

    def to_json(self, role: str) -> dict[str, Any]:
        return {
            "model": self.model,
            "role": role,
            "quality": self.quality,
            "costPer1kRequestsUsd": self.cost_per_1k,
            "costBasis": self.basis,
            "p50Ms": self.measured.get("p50Ms"),
            "p99Ms": self.measured.get("p99Ms"),
            "errors": self.measured.get("errors"),
            "measured": self.measured,
        }


def quality(rows: Iterable[Row]) -> float | None:
    """Mean score, a failed answer counting 0; None when nothing was scored or failed."""
    values = [0.0 if row.error else row.score for row in rows if row.error or row.score is not None]
    return None if not values else round(sum(v for v in values if v is not None) / len(values), 4)


def figures(model: Model, rows: list[Row], expected_per_hour: float) -> Figures:
    measured = Report(model.alias, rows).to_json()
    hourly = model.backend.hourly_usd
    if model.backend.paid_by_the_hour and hourly is not None:
        cost: float | None = round(hourly / expected_per_hour * 1000, 6)
        basis = f"${hourly:g} an hour amortised over {expected_per_hour:g} requests an hour"
    else:
        cost, basis = measured["costPer1kRequestsUsd"], "token prices of the answers"
    return Figures(model.alias, quality(rows), cost, basis, measured)


def rule(baseline: Figures, candidate: Figures, margin: float) -> tuple[bool, str]:
    """(promote, the reason in words)."""
    assert baseline.quality is not None and candidate.quality is not None
    assert baseline.cost_per_1k is not None and candidate.cost_per_1k is not None
    good = candidate.quality + EPSILON >= baseline.quality - margin
    cheaper = candidate.cost_per_1k < baseline.cost_per_1k
    said_quality = (
        f"quality {candidate.quality:.4f} {'is within' if good else 'falls more than'} {margin:g} "
        f"{'of' if good else 'below'} {baseline.model}'s {baseline.quality:.4f}"
    )
    said_cost = f"1,000 requests cost ${candidate.cost_per_1k:.6g} against {baseline.model}'s ${baseline.cost_per_1k:.6g}" + (
        "" if cheaper else " (not cheaper)"
    )
    if good and cheaper:
        return True, f"promote {candidate.model}: {said_quality}, and {said_cost}"
    reasons = [said for said, failed in ((said_quality, not good), (said_cost, not cheaper)) if failed]
    return False, f"reject {candidate.model}: " + "; ".join(reasons)


def decide(rows: list[Row], baseline: Model, candidate: Model, margin: float, expected_per_hour: float) -> dict[str, Any]:
    """The decision over every batch's rows."""
    measured = {}
    for role, model in (("baseline", baseline), ("candidate", candidate)):
        own = [row for row in rows if row.model == model.alias]
        if not own:
            raise EvaluationFailed(f"no answer of {model.alias} was recorded")
        found = figures(model, own, expected_per_hour)
        if found.quality is None:
            raise EvaluationFailed(
                f"{model.alias}: no case could be scored (give the evaluation set's cases an expected answer and a scorer)"
            )
        if found.cost_per_1k is None:
            raise EvaluationFailed(f"{model.alias}: every request failed, so no cost could be measured")
        measured[role] = found
    promote, reason = rule(measured["baseline"], measured["candidate"], margin)
    return {
        "decision": "promote" if promote else "reject",
        "reason": reason,
        "margin": margin,
        "expectedRequestsPerHour": expected_per_hour,
        "models": [found.to_json(role) for role, found in measured.items()],
    }
