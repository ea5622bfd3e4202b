"""Models side by side on an evaluation set (issue 22): latency, time to first token, output tokens per second,
errors, cost, and quality, per model. ``fmgw models compare`` runs it through the gateway over HTTP (each model
pinned: ``x-gateway-pin``); the customization workflow runs it in-process against a ``Candidate`` that is not in the
live catalog (``direct``), with the same figures.

Each model must really be the one that answered: an answer from another model, or a degraded (cached) one, is
counted as an error, never as a result.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from fmgateway.lifecycle.evaluation import Ask, Case, judged, score
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvocationError
from fmgateway.values.ports import ModelInvoker


class Observation(NamedTuple):
    """One answer as the caller saw it."""

    answer: str
    latency_ms: float
    ttft_ms: float | None
    output_tokens: int
    cost_usd: float
    model: str | None  # the model that answered (the gateway block's), None when unknown
    degraded: bool = False
    error: str | None = None


Invoke = Callable[[str, Case], Observation]  # (model, case) -> what came back


class Row(NamedTuple):
    model: str
    case: int  # the case's line in the evaluation set
    repeat: int
    observation: Observation
    score: float | None
    judge_reason: str
    judge_cost_usd: float
    unparseable: bool
    error: str | None
    unjudged: bool = False  # a judge case with no judge: measured, not scored


def row_to_json(row: Row) -> dict[str, Any]:
    """A row as JSON (``row_from_json`` reads it back): how the customization workflow's batches travel through S3."""
    return {**row._asdict(), "observation": row.observation._asdict()}


def row_from_json(data: dict[str, Any]) -> Row:
    return Row(**{**data, "observation": Observation(**data["observation"])})


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` 0.5 for p50), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


class Report(NamedTuple):
    """One model's figures (``to_json`` has the names of ``--out results.json``)."""

    model: str
    rows: list[Row]
    hourly_usd: float | None = None  # capacity paid by the hour (a backend's hourlyUsd)
    seconds: float = 0.0  # how long the comparison ran: the hours that capacity was paid for

    def _amortised_per_1k(self, answered: int) -> float | None:
        if self.hourly_usd is None or not answered:
            return None
        return round(self.hourly_usd * self.seconds / 3600 / answered * 1000, 5)

    def to_json(self) -> dict[str, Any]:
        good = [row for row in self.rows if row.error is None]
        latencies = [row.observation.latency_ms for row in good]
        ttfts = [row.observation.ttft_ms for row in good if row.observation.ttft_ms is not None]
        generating = sum(
            (row.observation.latency_ms - (row.observation.ttft_ms or 0)) / 1000 for row in good if row.observation.output_tokens
        )
        tokens = sum(row.observation.output_tokens for row in good)
        cost = sum(row.observation.cost_usd for row in good) / len(good) if good else None
        scored = [row.score for row in good if row.score is not None]
        return {
            "model": self.model,
            "requests": len(self.rows),
            "errors": len(self.rows) - len(good),
            "p50Ms": _rounded(percentile(latencies, 0.5)),
            "p99Ms": _rounded(percentile(latencies, 0.99)),
            "ttftP50Ms": _rounded(percentile(ttfts, 0.5)),
            "ttftP99Ms": _rounded(percentile(ttfts, 0.99)),
            "outputTokensPerSecond": _rounded(tokens / generating if generating > 0 else None),
            "costPerRequestUsd": None if cost is None else round(cost, 8),
            "costPer1kRequestsUsd": None if cost is None else round(cost * 1000, 5),
            "quality": None if not scored else round(sum(scored) / len(scored), 4),
            "scored": len(scored),
            "unparseableVerdicts": sum(1 for row in good if row.unparseable),
            "unjudged": sum(1 for row in good if row.unjudged),
            "judgeCostUsd": round(sum(row.judge_cost_usd for row in self.rows), 8),
            "errorSamples": sorted({row.error for row in self.rows if row.error})[:5],
            # the hour's price over the requests served in the run (capacity paid by the hour answers at 0 per call)
            "amortisedCostPer1kRequestsUsd": (
                round(self.hourly_usd * self.seconds / 3600 / len(good) * 1000, 5)
                if self.hourly_usd is not None and good
                else None
            ),
        }


def _row(model: str, case: Case, repeat: int, observation: Observation, judge: Ask | None, rubric: str) -> Row:
    error = observation.error
    if error is None and observation.degraded:
        error = "a degraded (cached) answer"
    elif error is None and observation.model is not None and observation.model != model:
        error = f"answered by {observation.model}"
    value, reason, judge_cost, unparseable = None, "", 0.0, False
    if error is None:
        if case.scorer == "judge" and judge is not None:
            verdict = judged(case, observation.answer, rubric, judge)
            value, reason, judge_cost, unparseable = verdict.score, verdict.reason, verdict.cost_usd, verdict.score is None
        else:
            value = score(case, observation.answer)
    unjudged = error is None and case.scorer == "judge" and judge is None
    return Row(model, case.number, repeat, observation, value, reason, judge_cost, unparseable, error, unjudged)


def compare(
    models: list[str],
    cases: list[Case],
    invoke: Invoke,
    *,
    judge: Ask | None = None,
    rubric: str = "",
    concurrency: int = 4,
    repeat: int = 1,
    on_row: Callable[[Row], None] | None = None,
    hourly_usd: dict[str, float] | None = None,
) -> list[Report]:
    """Every case ``repeat`` times against every model, ``concurrency`` at a time; one report per model, in order.
    ``hourly_usd``: the models paid by the hour, and the hour's price (their amortised cost over this run)."""
    work = [(model, case, k) for k in range(repeat) for case in cases for model in models]

    def run(item: tuple[str, Case, int]) -> Row:
        model, case, k = item
        try:
            observation = invoke(model, case)
        except Exception as exc:  # a transport failure is this model's error row, not the end of the comparison
            observation = Observation("", 0.0, None, 0, 0.0, None, error=f"{type(exc).__name__}: {exc}")
        row = _row(model, case, k, observation, judge, rubric)
        if on_row is not None:
            on_row(row)
        return row

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        rows = list(pool.map(run, work))
    seconds, prices = time.perf_counter() - started, hourly_usd or {}
    return [Report(model, [row for row in rows if row.model == model], prices.get(model), seconds) for model in models]


# ---- in-process: a Candidate through the Bedrock invoker -------------------------------------------------------------


def direct(invoker: ModelInvoker, candidates: dict[str, Candidate], max_tokens: int | None = None) -> Invoke:
    """Each model named in ``candidates`` (any ``Candidate``, in the catalog or built on the fly) called through
    ConverseStream, timed as the stream route times it; its cost from the candidate's prices."""

    def invoke(name: str, case: Case) -> Observation:
        candidate = candidates[name]
        started = time.perf_counter()
        first: float | None = None
        texts: list[str] = []
        usage: dict[str, Any] = {}
        try:
            for event in invoker.converse_stream(candidate.invoke_id, case.request(max_tokens)):
                delta = (event.get("contentBlockDelta") or {}).get("delta") or {}
                if "text" in delta:
                    first = time.perf_counter() if first is None else first
                    texts.append(delta["text"])
                usage = (event.get("metadata") or {}).get("usage") or usage
        except InvocationError as exc:
            return Observation("", (time.perf_counter() - started) * 1000, None, 0, 0.0, name, error=f"{exc.code}: {exc}")
        latency = (time.perf_counter() - started) * 1000
        ttft = None if first is None else (first - started) * 1000
        cost = candidate.model.usage_cost(usage) if usage else 0.0
        return Observation("".join(texts), latency, ttft, int(usage.get("outputTokens", 0)), cost, name)

    return invoke


# ---- records and the routing configuration ----------------------------------------------------------------------------

CSV_COLUMNS = (
    "model", "requests", "errors", "p50Ms", "p99Ms", "ttftP50Ms", "ttftP99Ms", "outputTokensPerSecond",
    "costPerRequestUsd", "costPer1kRequestsUsd", "amortisedCostPer1kRequestsUsd", "quality", "scored",
    "unparseableVerdicts", "judgeCostUsd",
)  # fmt: skip


def as_csv(reports: Iterable[Report]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for report in reports:
        writer.writerow(report.to_json())
    return out.getvalue()


def with_quality(config: dict[str, Any], scores: dict[str, float]) -> tuple[dict[str, Any], list[str]]:
    """``config`` with ``tierStrategies.<tier>.quality.<alias>`` set to each measured score, for every tier that lists
    the model (what the ``cost`` strategy reads), and the changes in words; the input is left as it was. A tier with
    no strategy entry gets one that keeps its routing (``ordered``): choosing ``cost`` is the reviewer's call."""
    changed = copy.deepcopy(config)
    notes = []
    for alias, value in scores.items():
        tiers = [tier for tier, chain in changed.get("tiers", {}).items() if alias in chain]
        if not tiers:
            notes.append(f"{alias}: in no tier, nothing to write")
        for tier in tiers:
            strategies = changed.setdefault("tierStrategies", {})
            if tier not in strategies:  # routing unchanged until a person chooses the cost strategy for the tier
                strategies[tier] = {"strategy": "ordered"}
                notes.append(f"tierStrategies.{tier}: added as ordered (set strategy cost for the scores to route)")
            quality = strategies[tier].setdefault("quality", {})
            before = quality.get(alias)
            quality[alias] = round(value, 4)
            notes.append(f"tierStrategies.{tier}.quality.{alias}: {before} -> {quality[alias]}")
    return changed, notes
