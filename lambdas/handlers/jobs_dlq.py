"""DLQ consumer: a job whose message failed ``maxReceives`` deliveries is marked FAILED with the reason."""

from __future__ import annotations

import json

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from fmgateway import runtime
    from fmgateway.aws.telemetry import lambda_entry, logger

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    job_id = json.loads(record.body)["jobId"]
    outcome = runtime.jobs().fail_poisoned(job_id)
    logger.warning("poisoned job message", extra={"jobId": job_id, "outcome": outcome})
    return outcome


handler = lambda_entry(
    lambda event, context: process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
)
