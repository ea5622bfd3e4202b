"""What ``fmgw customize stop`` tears down. Step Functions runs no state of a stopped execution, so the workflow's own
``Cleanup`` step never runs: the customization job it started and the evaluation capacity it created are found in the
execution's history (every ARN in its states' data) and stopped or deleted here. The custom model of a job that had
completed is kept, as the workflow keeps a rejected one (deleting it is one command, printed).

A task that was running when the execution stopped may still finish its call (a Lambda invocation is not cancelled):
what it created then is in no history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fmgw.customize.where import region_of

_ARN = r"arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:{kind}/[A-Za-z0-9._:/+-]+"
KINDS = {
    "job": "model-customization-job",
    "provisioned": "provisioned-model",
    "deployment": "custom-model-deployment",
    "model": "custom-model",
}
PATTERNS = {name: re.compile(_ARN.replace("{kind}", kind)) for name, kind in KINDS.items()}


@dataclass
class Found:
    """The Bedrock resources a run's history names, by kind (job, provisioned, deployment, model)."""

    arns: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in KINDS})

    def add(self, text: str) -> None:
        for name, pattern in PATTERNS.items():
            for arn in pattern.findall(text):
                if arn not in self.arns[name]:
                    self.arns[name].append(arn)


def history_texts(sfn: Any, arn: str) -> Iterable[str]:
    """Every event's details as text, oldest first (the whole history: a long job loop has many pages)."""
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn, includeExecutionData=True):
        for event in page["events"]:
            yield json.dumps({k: v for k, v in event.items() if k.endswith("EventDetails")}, default=str)


def found_in(sfn: Any, arn: str) -> Found:
    found = Found()
    for text in history_texts(sfn, arn):
        found.add(text)
    return found


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def clean(found: Found, bedrock: Callable[[str], Any]) -> list[str]:
    """Stop the job (while it runs), delete the capacity (unless gone); one line per resource saying what was done.
    ``bedrock(region)`` is the control plane of a region (a run's job may run in another region than its machine)."""
    done: list[str] = []
    for arn in found.arns["job"]:
        client = bedrock(region_of(arn))
        try:
            status = client.get_model_customization_job(jobIdentifier=arn)["status"]
            if status == "InProgress":
                client.stop_model_customization_job(jobIdentifier=arn)
                done.append(f"stopped customization job {arn} (it was InProgress)")
            else:
                done.append(f"customization job {arn}: already {status}")
        except Exception as exc:
            done.append(f"customization job {arn}: NOT stopped: {exc}")
    for kind in ("deployment", "provisioned"):
        for arn in found.arns[kind]:
            client = bedrock(region_of(arn))
            try:
                if kind == "deployment":
                    client.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
                else:
                    client.delete_provisioned_model_throughput(provisionedModelId=arn)
                done.append(f"deleted evaluation capacity {arn}")
            except Exception as exc:
                if _code(exc) == "ResourceNotFoundException":
                    done.append(f"evaluation capacity {arn}: already deleted")
                else:
                    done.append(f"evaluation capacity {arn}: NOT deleted: {exc}")
    for arn in found.arns["model"]:
        try:
            bedrock(region_of(arn)).get_custom_model(modelIdentifier=arn)
        except Exception:
            continue  # named before it existed (a job that never completed): nothing to keep
        done.append(f"kept custom model {arn} (delete it: aws bedrock delete-custom-model --model-identifier {arn})")
    return done
