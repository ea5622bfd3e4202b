"""A run as the user follows it, read from Step Functions alone: its status, the state it is in (the execution
history's latest state entered), the customization job's status when a state's data shows it, the evaluation's batches
done, the elapsed time, and at the end the workflow's output (the report's summary) or its named error and cause.

Step Functions returns the history oldest first unless asked otherwise (moto always does); the latest events are
taken by event id, whichever order the answer came in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FINISHED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
RECENT_EVENTS = 200  # enough for the latest state, the job's status and a Map's progress
# the states a failed run goes through after the step that failed (statemachines/model-customization.asl.json)
AFTER_FAILURE = ("Cleanup", "CleanupFailed", "NotifyFailure", "Failed")
MAX_PARSED_CHARS = 64_000  # state data larger than this is not parsed for a job status


@dataclass
class Run:
    name: str
    arn: str
    status: str
    started: datetime
    stopped: datetime | None = None
    state: str | None = None  # the latest state entered
    job_status: str | None = None
    batches: tuple[int, int] | None = None  # (done, total) while or after the evaluation's Map ran
    step: str | None = None  # the latest state entered before a failure's cleanup (the step that failed)
    cleanup: dict[str, Any] | None = None  # the Cleanup task's answer (cleaned, notCleaned, kept)
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def elapsed(self, now: datetime | None = None) -> float:
        end = self.stopped or now or datetime.now(UTC)
        return max(0.0, (end - self.started).total_seconds())

    @property
    def error_message(self) -> str:
        """The cause, or a Lambda task's ``errorMessage`` when the cause is its error payload."""
        payload = _json(self.cause)
        if isinstance(payload, dict) and isinstance(payload.get("errorMessage"), str):
            return payload["errorMessage"]
        return self.cause or ""

    @property
    def decision(self) -> str | None:
        return (self.output or {}).get("decision") if self.status == "SUCCEEDED" else None

    def progress(self) -> str:
        """``Evaluate (batch 2/5) · job Completed`` (what changes as the run goes)."""
        text = self.state or "starting"
        if self.batches is not None and self.state in ("Evaluate", "EvaluateBatch"):
            text = f"Evaluate (batch {self.batches[0]}/{self.batches[1]} done)"
        if self.job_status:
            text += f" · job {self.job_status}"
        return text


def _json(text: Any) -> Any:
    if not isinstance(text, str) or len(text) > MAX_PARSED_CHARS:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _value(data: Any, name: str) -> dict[str, Any] | None:
    """``data[name]["value"]``: what a task of the workflow returned (its ResultSelector wraps it in ``value``)."""
    part = data.get(name) if isinstance(data, dict) else None
    value = part.get("value") if isinstance(part, dict) else None
    return value if isinstance(value, dict) else None


def _job_status(data: Any) -> str | None:
    status = (_value(data, "job") or {}).get("status")
    return status if isinstance(status, str) else None


def recent_events(sfn: Any, arn: str, limit: int = RECENT_EVENTS) -> list[dict[str, Any]]:
    """The latest events, newest first."""
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=limit, includeExecutionData=True)
    return sorted(events["events"], key=lambda event: event["id"], reverse=True)


def read_history(run: Run, events: list[dict[str, Any]]) -> None:
    """Fill the state, job status and Map progress from events, newest first."""
    done = 0
    for event in events:
        kind, details = event["type"], _details(event)
        if run.state is None and kind.endswith("StateEntered"):
            run.state = details.get("name")
        if run.step is None and kind.endswith("StateEntered") and details.get("name") not in AFTER_FAILURE:
            run.step = details.get("name")
        if kind == "MapIterationSucceeded" and run.batches is None:
            done += 1
        if kind == "MapStateStarted" and run.batches is None:
            run.batches = (done, int(details.get("length", 0)))
        if kind.endswith(("StateEntered", "StateExited")):
            data = _json(details.get("input") or details.get("output"))
            if run.job_status is None:
                run.job_status = _job_status(data)
            if run.cleanup is None:
                run.cleanup = _value(data, "cleanup")


def observe(sfn: Any, arn: str) -> Run:
    """The run now: DescribeExecution and the latest history events."""
    described = sfn.describe_execution(executionArn=arn)
    spec = (_json(described.get("input")) or {}).get("spec") or {}
    run = Run(
        name=described["name"],
        arn=described["executionArn"],
        status=described["status"],
        started=described["startDate"],
        stopped=described.get("stopDate"),
        output=_json(described.get("output")) if described.get("output") else None,
        error=described.get("error"),
        cause=described.get("cause"),
        spec=spec if isinstance(spec, dict) else {},
    )
    read_history(run, recent_events(sfn, arn))
    return run


def listed(sfn: Any, state_machine_arn: str, limit: int) -> list[Run]:
    """The latest runs, newest first; a finished one with its decision or error (one DescribeExecution each)."""
    answer = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=limit)
    executions = sorted(answer["executions"], key=lambda item: item["startDate"], reverse=True)[:limit]
    runs = []
    for item in executions:
        run = Run(item["name"], item["executionArn"], item["status"], item["startDate"], item.get("stopDate"))
        if run.status in ("SUCCEEDED", "FAILED"):
            described = sfn.describe_execution(executionArn=run.arn)
            run.output = _json(described.get("output")) if described.get("output") else None
            run.error, run.cause = described.get("error"), described.get("cause")
        runs.append(run)
    return runs
