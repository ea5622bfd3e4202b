"""How a run is printed: the report at the end (decision, reason, the models side by side, the report's URI), the
named error and cause of a failed run, where a running one is, and the table of ``fmgw customize list``."""

from __future__ import annotations

from typing import Any

from fmgw.customize.runs import Run

EXIT_DECIDED, EXIT_FAILED = 0, 1


def duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour."""
    whole = int(seconds)
    hours, minutes, rest = whole // 3600, whole % 3600 // 60, whole % 60
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def _figure(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def model_rows(output: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-model figures of the workflow's output: candidate first, then the baseline."""
    rows = output.get("models")
    if isinstance(rows, list):
        return [row for row in rows if isinstance(row, dict)]
    return [output[role] | {"role": role} for role in ("candidate", "baseline") if isinstance(output.get(role), dict)]


def models_table(rows: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for column, justify in (("model", "left"), ("role", "left"), ("quality", "right"), ("p50 ms", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("cost / 1k requests", justify="right")
    for row in rows:
        cost = row.get("costPer1kRequestsUsd")
        table.add_row(
            str(row.get("model", "?")),
            str(row.get("role", "")),
            _figure(row.get("quality"), ".3f"),
            _figure(row.get("p50Ms"), ".0f"),
            "-" if cost is None else f"${cost:,.4f}",
        )
    return table


def render(run: Run, console: Any, report: dict[str, Any] | None = None) -> int:
    """Print the run's end (or where it is); the exit code: 0 decided or still running, 1 failed, timed out or stopped."""
    took = duration(run.elapsed())
    if run.status == "RUNNING":
        console.print(f"{run.name}: RUNNING for {took}: {run.progress()}")
        return EXIT_DECIDED
    if run.status != "SUCCEEDED":
        console.print(f"{run.name}: {run.status} after {took} in {run.step or run.state or 'its first state'}")
        if run.error or run.cause:
            console.print(f"  {run.error or 'error'}: {run.error_message}".rstrip(": "))
        cleanup = run.cleanup or {}
        for label, key in (("cleaned up", "cleaned"), ("NOT cleaned up", "notCleaned"), ("kept", "kept")):
            for item in cleanup.get(key) or []:
                console.print(f"  {label}: {item}")
        if run.status in ("ABORTED", "TIMED_OUT"):
            console.print(
                f"  the workflow's cleanup did not run: fmgw customize stop {run.name} stops its job and deletes its "
                "evaluation capacity"
            )
        return EXIT_FAILED
    output = run.output or {}
    decision = str(output.get("decision", "?"))
    console.print(f"{run.name}: {decision.upper()} after {took}")
    if output.get("reason"):
        console.print(f"  {output['reason']}")
    rows = model_rows(output)
    if rows:
        console.print(models_table(rows))
    notes = (report or {}).get("notes")
    if isinstance(notes, list):
        for note in notes:
            console.print(f"  {note}")
    else:  # the report could not be read: what the output says
        capacity = output.get("capacity") or {}
        if capacity.get("arn"):
            console.print(f"  evaluation capacity {capacity['arn']}: {capacity.get('afterRun', '?')}")
        model = output.get("customModelArn")
        if model and decision == "reject":
            console.print(f"  custom model kept: {model} (delete it: aws bedrock delete-custom-model --model-identifier {model})")
    if report and isinstance(report.get("proposedCatalogEntry"), dict):
        console.print(f"  proposed catalog entry: models.{report['proposedCatalogEntry'].get('alias')} (in the report)")
    if output.get("reportUri"):
        console.print(f"report: {output['reportUri']}")
    return EXIT_DECIDED


def run_summary(run: Run) -> dict[str, Any]:
    """``fmgw customize list --json``: one object per run."""
    return {
        "name": run.name,
        "executionArn": run.arn,
        "status": run.status,
        "started": run.started.isoformat(),
        "stopped": run.stopped.isoformat() if run.stopped else None,
        "seconds": round(run.elapsed(), 1),
        "decision": run.decision,
        "error": run.error,
        "reportUri": (run.output or {}).get("reportUri"),
    }


def runs_table(runs: list[Run]):
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for column in ("name", "status", "started", "took", "decision"):
        table.add_column(column)
    for run in runs:
        outcome = run.decision or run.error or ""
        started = run.started.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(run.name, run.status, started, duration(run.elapsed()), outcome)
    return table
