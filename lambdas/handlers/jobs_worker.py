"""Jobs worker: SQS batches with partial failures; each job id processed under Powertools idempotency,
so a message delivered twice while the first delivery is still running is retried later, not run twice.

A failed delivery comes back after an exponential backoff (30 s, 60 s, 120 s ... at most 15 min) rather
than after the queue's visibility timeout, which must be 6x the function timeout (90 min) for SQS event
sources.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    from fmgateway import runtime
    from fmgateway.aws.telemetry import lambda_entry, logger

processor = BatchProcessor(event_type=EventType.SQS)
RETRY_BASE_SECONDS, RETRY_MAX_SECONDS = 30, 900


def retry_delay(receive_count: int) -> int:
    """30 s, 60 s, 120 s ... at most 15 min. ``FMGW_JOBS_RETRY_BASE_SECONDS`` shortens the base for tests."""
    base = int(os.environ.get("FMGW_JOBS_RETRY_BASE_SECONDS") or RETRY_BASE_SECONDS)
    return min(RETRY_MAX_SECONDS, base * 2 ** max(0, receive_count - 1))


@cache
def _sqs():
    import boto3

    return boto3.client("sqs")


@cache
def _idempotency():
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(event_key_jmespath="jobId", expires_after_seconds=3600, raise_on_no_idempotency_key=True)
    persistence = DynamoDBPersistenceLayer(table_name=os.environ["FMGW_IDEMPOTENCY_TABLE"])

    @idempotent_function(data_keyword_argument="message", config=config, persistence_store=persistence)
    def run(message: dict) -> dict:
        return {"jobId": message["jobId"], "outcome": runtime.jobs().process(message["jobId"])}

    return config, run


def record_handler(record: SQSRecord) -> dict:
    message = json.loads(record.body)
    _, run = _idempotency()
    try:
        result = run(message={"jobId": message["jobId"]})
    except IdempotencyAlreadyInProgressError:
        # Another delivery of this job is running now. Its own message is still in flight and comes back
        # if that run dies, so this copy can go: retrying it could only end in the DLQ and fail a live job.
        logger.info("duplicate delivery of a running job dropped", extra={"jobId": message["jobId"]})
        return {"jobId": message["jobId"], "outcome": "in_progress_elsewhere"}
    except Exception as exc:
        delay = retry_delay(int(record.attributes.approximate_receive_count or 1))
        logger.warning("job attempt failed; retrying", extra={"jobId": message["jobId"], "error": str(exc), "retryIn": delay})
        try:
            _sqs().change_message_visibility(
                QueueUrl=os.environ["FMGW_JOBS_QUEUE_URL"], ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
            )
        except Exception:  # the retry still happens, after the queue's visibility timeout
            logger.exception("could not shorten the retry delay", extra={"jobId": message["jobId"]})
        raise
    logger.info("job message handled", extra=result)
    return result


def _handle(event: dict, context) -> dict[str, Any]:
    config, _ = _idempotency()
    config.register_lambda_context(context)
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context))


handler = lambda_entry(_handle)
