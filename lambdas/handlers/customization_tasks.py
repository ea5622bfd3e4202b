"""The customization state machine's Lambda tasks (``statemachines/model-customization.asl.json``).

One function, one step per task: ``{"action": "validate|startJob|jobStatus|provision|capacityStatus|evaluateBatch|
decide|report|cleanup", ...}`` (``fmgateway.lifecycle.customization.tasks``). Errors are raised as the contract's named
exception classes (``InvalidSpec``, ``JobFailed`` ...), so Step Functions' Catch sees their names. ``run`` takes an
environment of its own: the local harness (``local/customization.py``) gives the task the stack's variables that way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # boto3 comes with the wiring, on the first task; nothing heavier here
    from fmgateway.aws.telemetry import lambda_entry


def run(event: dict[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    from fmgateway.aws import customization
    from fmgateway.lifecycle.customization import tasks

    return tasks.run(customization.ports(os.environ if env is None else env), event)


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run(event)


handler = lambda_entry(_handle)
