"""Scheduled every minute: enqueue jobs whose submit died between writing the record and enqueueing."""

from __future__ import annotations

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    from fmgateway import runtime
    from fmgateway.aws.telemetry import lambda_entry, logger


def _handle(event: dict, context) -> dict:
    enqueued = runtime.jobs().sweep()
    if enqueued:
        logger.warning("re-enqueued jobs left behind by a failed submit", extra={"count": enqueued})
    return {"enqueued": enqueued}


handler = lambda_entry(_handle)
