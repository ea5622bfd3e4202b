"""The orchestrated routing state machine's Lambda tasks (``statemachines/routing.asl.json``).

One function, one step per task: ``{"action": "classify|plan|admit|invoke|record|fallback", ...}``. Errors are
raised so that Step Functions' Retry and Catch see their names (see ``fmgateway.core.orchestration``).
"""

from __future__ import annotations

from typing import Any

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    from fmgateway import runtime
    from fmgateway.aws.telemetry import lambda_entry
    from fmgateway.core import orchestration
    from fmgateway.values.errors import InvalidRequest


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = orchestration.STEPS.get(event.get("action", ""))
    if step is None:
        raise InvalidRequest(f"unknown routing task {event.get('action')!r}")
    return step(runtime.gateway("orchestrated"), event)


handler = lambda_entry(_handle)
