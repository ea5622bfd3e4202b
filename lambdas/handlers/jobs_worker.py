"""Jobs worker: SQS batches with partial failures; each job id processed under Powertools idempotency,
so a message delivered twice while the first delivery is still running is retried later, not run twice.
"""

from __future__ import annotations

import json
import os
from functools import cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from fmgateway import runtime
from fmgateway.telemetry import lambda_entry, logger

processor = BatchProcessor(event_type=EventType.SQS)


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
    result = run(message={"jobId": message["jobId"]})
    logger.info("job message handled", extra=result)
    return result


def _handle(event: dict, context) -> dict:
    config, _ = _idempotency()
    config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


handler = lambda_entry(_handle)
