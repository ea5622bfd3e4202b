"""What Lambda's SQS event source does, for local mode and tests: receive a batch, invoke the handler
with an SQS event, delete what succeeded; failed items (``batchItemFailures``, or every item when the
handler raises) become visible again after ``retry_delay`` seconds (``None``: when the visibility timeout,
possibly shortened by the handler, runs out)."""

from __future__ import annotations

import json
import threading
import uuid

import boto3


class _Context:
    function_name = "fmgw-local-worker"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:fmgw-local-worker"

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def sqs_event(messages: list[dict], queue_arn: str) -> dict:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()},
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class SqsEventSource:
    def __init__(
        self, queue_url: str, handler, endpoint_url: str | None = None, retry_delay: int | None = 0, batch_size: int = 10
    ):
        self.queue_url, self.handler, self.retry_delay, self.batch_size = queue_url, handler, retry_delay, batch_size
        self.sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name="us-east-1")
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.invocations = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, wait_seconds: int = 0, duplicate=None) -> int:
        """One receive + invoke; ``duplicate(message)`` true delivers that message twice (at-least-once)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, AttributeNames=["All"], WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        if not messages:
            return 0
        delivered = messages + [m for m in messages if duplicate is not None and duplicate(m)]
        self.invocations += 1
        try:
            result = self.handler(sqs_event(delivered, self.queue_arn), _Context())
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except Exception:  # a function error: Lambda returns the whole batch to the queue
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] in failed:
                if self.retry_delay is None:
                    continue  # as Lambda: the message returns when its visibility timeout runs out
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=self.retry_delay
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def drain(self, max_polls: int = 10_000, **kwargs) -> None:
        for _ in range(max_polls):
            if not self.poll_once(**kwargs):
                return
        raise AssertionError("queue did not drain")

    def start(self) -> None:
        """Poll in a background thread until ``stop``."""

        def loop():
            while not self._stop.is_set():
                try:
                    self.poll_once(wait_seconds=1)
                except Exception as exc:  # keep polling: a local worker must survive a bad message
                    print(f"[local] poller for {self.queue_url.rsplit('/', 1)[-1]}: {exc}", flush=True)
                    self._stop.wait(1)

        self._thread = threading.Thread(target=loop, name=f"sqs-poller-{self.queue_url.rsplit('/', 1)[-1]}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def print_notices(message: dict) -> None:
    envelope = json.loads(message["Body"])
    body = json.loads(envelope["Message"])
    attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
    print(
        f"[notification] job {body['jobId']} {attributes.get('status')} tenant={attributes.get('tenant')} "
        f"route={attributes.get('route')}",
        flush=True,
    )
