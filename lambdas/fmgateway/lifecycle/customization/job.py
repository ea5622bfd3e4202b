"""The customization job: the CreateModelCustomizationJob request built from the run and the task's settings, its
start (idempotent on a retried task: the client request token is the job name, unique to the execution), and one poll
of it per call (the state machine's Wait/Get loop): JobFailed when it ended Failed or Stopped (Bedrock's
failureMessage), JobTimedOut once it has run past ``polling.jobMaxSeconds`` (the job is stopped first)."""

from __future__ import annotations

import logging
from typing import Any

from fmgateway.lifecycle.customization.errors import InvalidSpec, JobFailed, JobTimedOut
from fmgateway.lifecycle.customization.ports import ControlPlaneError, CustomizationControl, Settings

RUN_TAG = "fmgw-run"
RUNNING = ("InProgress", "Stopping")
log = logging.getLogger(__name__)


def output_uri(settings: Settings, name: str) -> str:
    return f"s3://{settings.bucket}/output/{name}/"


def request(run: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """CreateModelCustomizationJob's request, members as botocore names them."""
    spec = run["spec"]
    tags = [{"key": RUN_TAG, "value": run["name"]}]
    body: dict[str, Any] = {
        "jobName": run["jobName"],
        "customModelName": run["customModelName"],
        "roleArn": settings.role_arn,
        "clientRequestToken": run["jobName"],
        "baseModelIdentifier": run["baseModel"]["customizationBaseModelId"],
        "customizationType": spec["type"],
        "outputDataConfig": {"s3Uri": output_uri(settings, run["name"])},
        "jobTags": tags,
        "customModelTags": tags,
    }
    if "invocationLogs" in spec["trainingData"]:
        logs = spec["trainingData"]["invocationLogs"]
        config: dict[str, Any] = {"invocationLogSource": {"s3Uri": logs["s3Uri"]}, "usePromptResponse": logs["usePromptResponse"]}
        if "requestMetadataFilters" in logs:
            config["requestMetadataFilters"] = logs["requestMetadataFilters"]
        body["trainingDataConfig"] = {"invocationLogsConfig": config}
    else:
        body["trainingDataConfig"] = {"s3Uri": spec["trainingData"]["s3Uri"]}
    if "validationData" in spec:
        body["validationDataConfig"] = {"validators": [{"s3Uri": spec["validationData"]["s3Uri"]}]}
    if spec["hyperParameters"]:
        body["hyperParameters"] = dict(spec["hyperParameters"])
    if run["teacher"] is not None:
        teacher = {"teacherModelIdentifier": run["teacher"]["invokeId"]}
        body["customizationConfig"] = {"distillationConfig": {"teacherModelConfig": teacher}}
    if settings.kms_key_arn:
        body["customModelKmsKeyId"] = settings.kms_key_arn
    if settings.subnet_ids and settings.security_group_ids:
        body["vpcConfig"] = {"subnetIds": list(settings.subnet_ids), "securityGroupIds": list(settings.security_group_ids)}
    return body


def start(control: CustomizationControl, run: dict[str, Any], settings: Settings, now: float) -> dict[str, Any]:
    """Start the job; what the later steps know of it. Bedrock's refusal: InvalidSpec for a request it finds invalid,
    JobFailed for anything else (quota, access, a name taken)."""
    body = request(run, settings)
    try:
        arn = control.create_job(body)
    except ControlPlaneError as exc:
        if exc.code == "ValidationException":
            raise InvalidSpec(f"Bedrock refused the customization job: {exc.message}") from None
        raise JobFailed(f"CreateModelCustomizationJob failed: {exc.code}: {exc.message}") from None
    return {
        "arn": arn,
        "name": run["jobName"],
        "customModelName": run["customModelName"],
        "outputUri": body["outputDataConfig"]["s3Uri"],
        "status": "InProgress",
        "startedAt": now,
        "elapsedSeconds": 0,
    }


def poll(control: CustomizationControl, run: dict[str, Any], job: dict[str, Any], now: float) -> dict[str, Any]:
    """The job as it is now (``status`` Completed ends the loop, with ``customModelArn``)."""
    found = control.job(job["arn"])
    status, elapsed = found.get("status", "InProgress"), round(now - job["startedAt"], 1)
    polled = {**job, "status": status, "elapsedSeconds": elapsed}
    if found.get("statusDetails"):
        polled["statusDetails"] = found["statusDetails"]
    if status == "Completed":
        if not found.get("outputModelArn"):
            raise JobFailed(f"{job['name']} completed without a custom model ARN")
        return {**polled, "customModelArn": found["outputModelArn"]}
    if status == "Failed":
        raise JobFailed(f"{job['name']} failed: {found.get('failureMessage') or 'Bedrock gave no reason'}")
    if status == "Stopped":
        raise JobFailed(f"{job['name']} was stopped before it completed")
    limit = run["polling"]["jobMaxSeconds"]
    if elapsed > limit:
        note = stop(control, job)
        raise JobTimedOut(f"{job['name']} still {status} after {elapsed:.0f} s (polling.jobMaxSeconds {limit}): {note}")
    return polled


def stop(control: CustomizationControl, job: dict[str, Any]) -> str:
    """Stop the job if it still runs; what happened, in words (never raises: the caller reports it)."""
    try:
        status = control.job(job["arn"]).get("status")
        if status not in RUNNING:
            return f"had already ended ({status})"
        if status == "InProgress":
            control.stop_job(job["arn"])
        return "stopped"
    except Exception as exc:  # reported by the caller (the notice says it could not be stopped)
        log.warning("could not stop customization job %s: %s", job.get("arn"), exc)
        return f"could not be stopped ({type(exc).__name__}: {exc})"
