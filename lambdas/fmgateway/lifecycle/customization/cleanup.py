"""The Catch path: a step failed, so stop this run's job if it still runs and delete the evaluation capacity it created,
then say what happened in the failure notice. Nothing raises past it: what could not be cleaned is logged and named in
the notice (with the command that cleans it), never dropped without a word. A custom model that a completed job made
is kept (it cost a training run); the notice says how to delete it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fmgateway.lifecycle.customization import capacity as evaluation_capacity
from fmgateway.lifecycle.customization import job as customization_job
from fmgateway.lifecycle.customization.ports import CustomizationControl
from fmgateway.lifecycle.customization.report import delete_model_command
from fmgateway.lifecycle.provisioning import CapacityControl

log = logging.getLogger(__name__)


def _value(state: dict[str, Any], name: str) -> dict[str, Any]:
    part = state.get(name)
    value = part.get("value") if isinstance(part, dict) else None
    return value if isinstance(value, dict) else {}


def error_of(state: dict[str, Any]) -> tuple[str, str]:
    """(error name, message) of the failed step: a Lambda task's Cause is its error payload as JSON."""
    found = state.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    name, cause = str(error.get("Error") or "States.Unknown"), str(error.get("Cause") or "")
    try:
        payload = json.loads(cause)
        if isinstance(payload, dict) and "errorMessage" in payload:
            return name, str(payload["errorMessage"])
    except ValueError:
        pass
    return name, cause


def cleanup(
    state: dict[str, Any], control: Callable[[str], CustomizationControl], capacity: Callable[[str], CapacityControl],
    default_region: str,
) -> dict[str, Any]:  # fmt: skip
    """Clean up after the failed step described by ``state`` (the execution's state at the Catch)."""
    run, job, held = _value(state, "run"), _value(state, "job"), _value(state, "capacity")
    region = run.get("region") or default_region
    name = run.get("name") or (state.get("spec") or {}).get("name") or "?"
    error, message = error_of(state)
    cleaned: list[str] = []
    not_cleaned: list[str] = []
    kept: list[str] = []
    if job.get("arn") and not job.get("customModelArn"):  # a job that completed has nothing left to stop
        try:
            note = customization_job.stop(control(region), job)
        except Exception as exc:
            note = f"could not be stopped ({type(exc).__name__}: {exc})"
        (not_cleaned if note.startswith("could not") else cleaned).append(f"job {job['arn']}: {note}")
    if held.get("arn"):
        try:
            note = evaluation_capacity.release(capacity(region), held)
        except Exception as exc:
            note = f"NOT deleted ({type(exc).__name__}: {exc})"
        if note.startswith("NOT"):
            not_cleaned.append(f"evaluation capacity {held['arn']}: {note}; run `{evaluation_capacity.delete_command(held)}`")
        else:
            cleaned.append(f"evaluation capacity {held['arn']}: {note}")
    if job.get("customModelArn"):
        kept.append(f"custom model {job['customModelArn']} (delete it with `{delete_model_command(job['customModelArn'])}`)")
    for item in not_cleaned:
        log.error("customization run %s: not cleaned up: %s", name, item)
    lines = [f"customization run {name} failed: {error}: {message}"]
    lines += [f"cleaned up: {item}" for item in cleaned]
    lines += [f"NOT cleaned up: {item}" for item in not_cleaned]
    lines += [f"kept: {item}" for item in kept]
    if not (cleaned or not_cleaned):
        lines.append("nothing to clean up: no job or evaluation capacity had been created")
    return {
        "error": error,
        "errorMessage": message,
        "subject": f"FM Gateway customization {name}: failed ({error})"[:100],
        "message": "\n".join(lines),
        "cleaned": cleaned,
        "notCleaned": not_cleaned,
        "kept": kept,
    }
