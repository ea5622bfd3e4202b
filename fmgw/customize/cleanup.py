"""What ``fmgw customize stop`` tears down. Step Functions runs no state of a stopped execution, so the workflow's
``Cleanup`` step never runs: this runs the same cleanup (``fmgateway.lifecycle.customization.cleanup``: stop the job
while it runs, delete the evaluation capacity, keep a completed custom model) over the run's state as the execution
history last shows it.

A task that was running when the execution stopped may still have finished its call (a Lambda invocation is not
cancelled), so what it created is in no history: the job and the capacity are also looked up by the names the
workflow gives them (``<run>-<suffix>`` and ``<run>-<suffix>-eval``, the suffix derived from the execution ARN).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fmgw.customize.runs import MAX_PARSED_CHARS

# the history's latest events: a task scheduled or started with no end after it was in flight when the run stopped
_IN_FLIGHT = ("TaskScheduled", "TaskStarted", "LambdaFunctionScheduled", "LambdaFunctionStarted")
_ENDED = ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "LambdaFunctionSucceeded", "LambdaFunctionFailed")


def _data(event: dict[str, Any]) -> Any:
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            text = details.get("input") or details.get("output")
            if isinstance(text, str) and len(text) <= MAX_PARSED_CHARS * 4:
                try:
                    return json.loads(text)
                except ValueError:
                    return None
    return None


def last_state(sfn: Any, arn: str) -> tuple[dict[str, Any], bool]:
    """The execution's data as its latest top-level state saw it (``{"spec", "run", "job", "capacity", ...}``), and
    whether a task was in flight when it stopped."""
    events = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn, includeExecutionData=True):
        events += page["events"]
    events.sort(key=lambda event: event["id"], reverse=True)
    state: dict[str, Any] = {}
    for event in events:
        data = _data(event)
        if isinstance(data, dict) and "spec" in data:  # a top-level state's data (a Map item's has no spec)
            state = data
            break
    in_flight = False
    for event in events:
        if event["type"] in _ENDED:
            break
        if event["type"] in _IN_FLIGHT:
            in_flight = True
            break
    return state, in_flight


def _value(state: dict[str, Any], name: str) -> dict[str, Any]:
    part = state.get(name)
    value = part.get("value") if isinstance(part, dict) else None
    return value if isinstance(value, dict) else {}


def by_name(state: dict[str, Any], execution_arn: str, bedrock: Callable[[str], Any], default_region: str) -> list[str]:
    """Fill in the job and capacity the history does not show, found by the names the workflow gives them; what was
    found that way, in words."""
    from fmgateway.lifecycle.customization.spec import suffix
    from fmgateway.values.backends import CUSTOM_DEPLOYMENT, PROVISIONED

    run = _value(state, "run")
    name = run.get("name") or (state.get("spec") or {}).get("name")
    if not name:
        return []
    region = run.get("region") or (state.get("spec") or {}).get("region") or default_region
    job_name = run.get("jobName") or f"{name}-{suffix(execution_arn)}"
    client = bedrock(region)
    found: list[str] = []
    if not _value(state, "job").get("arn"):
        listed = client.list_model_customization_jobs(nameContains=job_name).get("modelCustomizationJobSummaries", [])
        for job in listed:
            if job.get("jobName") == job_name:
                value = {"arn": job["jobArn"]}
                if job.get("customModelArn"):
                    value["customModelArn"] = job["customModelArn"]
                state["job"] = {"value": value}
                found.append(f"job {job['jobArn']} (by its name {job_name}: the history had not shown it)")
    if not _value(state, "capacity").get("arn"):
        capacity_name = f"{job_name}-eval"
        listings = (
            (CUSTOM_DEPLOYMENT, client.list_custom_model_deployments, "modelDeploymentSummaries", "customModelDeployment"),
            (PROVISIONED, client.list_provisioned_model_throughputs, "provisionedModelSummaries", "provisionedModel"),
        )
        for kind, listing, key, field in listings:
            for item in listing(nameContains=capacity_name).get(key, []):
                if item.get(f"{field}Name") == capacity_name:
                    state["capacity"] = {"value": {"kind": kind, "arn": item[f"{field}Arn"], "name": capacity_name}}
                    found.append(f"evaluation capacity {item[f'{field}Arn']} (by its name {capacity_name})")
    return found


def clean(state: dict[str, Any], bedrock: Callable[[str], Any], default_region: str) -> dict[str, Any]:
    """The workflow's own cleanup over ``state`` with the Bedrock control plane of each region: ``cleaned``,
    ``notCleaned``, ``kept`` (each a list of sentences)."""
    from fmgateway.aws.capacity import BedrockCapacity
    from fmgateway.aws.customization import BedrockCustomization
    from fmgateway.lifecycle.customization.cleanup import cleanup

    return cleanup(
        state,
        lambda region: BedrockCustomization(bedrock(region)),
        lambda region: BedrockCapacity(bedrock(region)),
        default_region,
    )
