"""The evaluation: the held-out evaluation set (part 2's format, ``fmgateway.lifecycle.evaluation``) read from S3 and
cut into batches at validation, so that each Map iteration of the state machine runs one batch, far from Lambda's
15-minute limit. A batch runs part 2's comparison in-process (``comparison.compare`` over ``comparison.direct``)
against two candidates: the baseline (the tier's first candidate after lifecycle remaps, fixed when the run was
validated) and the custom model, a ``Candidate`` built on the fly with the evaluation capacity as its backend. Its rows
go to S3 as JSON (a state machine's state holds at most 256 KiB); the step returns where they are."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fmgateway.lifecycle import comparison, evaluation
from fmgateway.lifecycle.customization.errors import EvaluationFailed, InvalidDataset
from fmgateway.lifecycle.customization.ports import Buckets, Settings, read, write
from fmgateway.values.backends import Backend
from fmgateway.values.candidates import Candidate
from fmgateway.values.model import Model
from fmgateway.values.ports import ModelInvoker

InvokerFor = Callable[[Candidate], ModelInvoker]  # which invoker answers a candidate (fmgateway.core.invokers)
CONCURRENCY = 4
# a new deployment may throttle or warm up: such a case is asked again (after 1 s, then 2 s) before it counts as failed
TRANSIENT = ("ThrottlingException", "ServiceUnavailableException", "InternalServerException", "ModelNotReadyException",
             "TooManyRequestsException", "ServiceQuotaExceededException")  # fmt: skip
ATTEMPTS = 3


def patient(invoke: comparison.Invoke, sleep: Callable[[float], None] = time.sleep) -> comparison.Invoke:
    """``invoke`` asked again after a transient failure (Bedrock's own retry advice); a lasting failure is the row's."""

    def call(name: str, case: evaluation.Case) -> comparison.Observation:
        for attempt in range(ATTEMPTS):
            observation = invoke(name, case)
            if not (observation.error or "").startswith(TRANSIENT) or attempt == ATTEMPTS - 1:
                return observation
            sleep(float(2**attempt))
        raise AssertionError("unreachable")

    return call


def load_cases(buckets: Buckets, uri: str) -> list[evaluation.Case]:
    try:
        text = read(buckets, uri).decode("utf-8")
        return evaluation.load_cases(text.splitlines())
    except evaluation.CaseError as exc:
        raise InvalidDataset(f"evaluation set {uri}: {exc}") from None
    except Exception as exc:  # missing object, not UTF-8, access denied
        raise InvalidDataset(f"evaluation set {uri}: cannot be read ({type(exc).__name__}: {exc})") from None


def batches(count: int, size: int) -> list[dict[str, int]]:
    """The Map's items: ``first`` and ``count`` of each batch of the evaluation set's cases."""
    return [{"index": i, "first": first, "count": min(size, count - first)} for i, first in enumerate(range(0, count, size))]


def custom_candidate(run: dict[str, Any], capacity: dict[str, Any]) -> Candidate:
    """The custom model as a candidate: the base model's entry, invoked through the evaluation capacity."""
    entry = {key: value for key, value in run["baseEntry"].items() if key not in ("customization", "capacityPrices")}
    entry["lifecycle"] = "active"
    entry.pop("successor", None)
    model = Model.from_config(run["candidateAlias"], entry)
    backend = Backend(kind=capacity["kind"], arn=capacity["arn"], hourly_usd=capacity["hourlyUsd"])
    return Candidate(model._replace(backend=backend))


def candidates(run: dict[str, Any], capacity: dict[str, Any]) -> dict[str, Candidate]:
    baseline = Candidate.from_json(run["baseline"])
    return {baseline.alias: baseline, run["candidateAlias"]: custom_candidate(run, capacity)}


def rows_uri(settings: Settings, run: dict[str, Any], index: int) -> str:
    return f"s3://{settings.bucket}/reports/{run['name']}/batches/{run['suffix']}-{index:04d}.json"


def evaluate_batch(
    buckets: Buckets, invoker_for: InvokerFor, settings: Settings, run: dict[str, Any], capacity: dict[str, Any],
    batch: dict[str, int], sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:  # fmt: skip
    """One batch against both candidates; the rows written to S3."""
    cases = load_cases(buckets, run["spec"]["evaluation"]["s3Uri"])[batch["first"] : batch["first"] + batch["count"]]
    if not cases:
        raise EvaluationFailed(f"batch {batch['index']}: no case at {batch['first']} (the evaluation set changed?)")
    chosen = candidates(run, capacity)
    max_tokens = run["spec"]["evaluation"]["maxTokens"]
    calls = {
        name: patient(comparison.direct(invoker_for(candidate), {name: candidate}, max_tokens), sleep)
        for name, candidate in chosen.items()
    }
    started = time.perf_counter()
    reports = comparison.compare(list(chosen), cases, lambda name, case: calls[name](name, case), concurrency=CONCURRENCY)
    seconds = round(time.perf_counter() - started, 3)
    rows = [comparison.row_to_json(row) for report in reports for row in report.rows]
    uri = rows_uri(settings, run, batch["index"])
    write(buckets, uri, json.dumps({"batch": batch, "seconds": seconds, "rows": rows}).encode("utf-8"))
    errors = {report.model: sum(1 for row in report.rows if row.error) for report in reports}
    return {"index": batch["index"], "rowsUri": uri, "rows": len(rows), "errors": errors, "seconds": seconds}


def read_rows(buckets: Buckets, results: list[dict[str, Any]]) -> list[comparison.Row]:
    """Every batch's rows, in batch order; EvaluationFailed when one cannot be read."""
    rows = []
    for result in sorted(results, key=lambda item: item["index"]):
        try:
            rows += [comparison.row_from_json(row) for row in json.loads(read(buckets, result["rowsUri"]))["rows"]]
        except Exception as exc:
            raise EvaluationFailed(f"batch {result.get('index')}: rows unreadable at {result.get('rowsUri')} ({exc})") from None
    return rows
