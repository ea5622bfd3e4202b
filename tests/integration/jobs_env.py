"""The jobs pipeline in moto (DynamoDB, SQS + DLQ, S3, SNS) with Bedrock from the simulator over HTTP,
and an SQS "event source" that drives the worker and DLQ handlers the way Lambda does."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import boto3

from tests.integration.conftest import LambdaContext, create_tables

JOBS_TABLE, IDEMPOTENCY_TABLE, BUCKET = "fmgw-jobs", "fmgw-idempotency", "fmgw-results"


def create_pipeline(region: str = "us-east-1", max_receives: int = 3) -> dict[str, str]:
    """Create every resource the stack creates for jobs; returns the Lambda environment."""
    dynamodb = boto3.client("dynamodb", region_name=region)
    create_tables(dynamodb)
    dynamodb.create_table(
        TableName=JOBS_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "pendingEnqueue", "AttributeType": "S"},
            {"AttributeName": "createdEpoch", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "pending",
                "KeySchema": [
                    {"AttributeName": "pendingEnqueue", "KeyType": "HASH"},
                    {"AttributeName": "createdEpoch", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["jobId"]},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = boto3.client("sqs", region_name=region)
    dlq_url = sqs.create_queue(QueueName="fmgw-jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="fmgw-jobs",
        Attributes={
            "VisibilityTimeout": "5400",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
        },
    )["QueueUrl"]
    boto3.client("s3", region_name=region).create_bucket(Bucket=BUCKET)
    sns = boto3.client("sns", region_name=region)
    topic_arn = sns.create_topic(Name="fmgw-jobs")["TopicArn"]
    notices_url = sqs.create_queue(QueueName="fmgw-job-notices")["QueueUrl"]
    notices_arn = sqs.get_queue_attributes(QueueUrl=notices_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notices_arn)
    return {
        "FMGW_BREAKER_TABLE": "fmgw-breaker",
        "FMGW_CACHE_TABLE": "fmgw-cache",
        "FMGW_JOBS_TABLE": JOBS_TABLE,
        "FMGW_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "FMGW_JOBS_QUEUE_URL": queue_url,
        "FMGW_RESULTS_BUCKET": BUCKET,
        "FMGW_JOBS_TOPIC_ARN": topic_arn,
        "FMGW_JOBS_DLQ_URL": dlq_url,
        "FMGW_NOTICES_URL": notices_url,
    }


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


@dataclass
class EventSource:
    """What Lambda's SQS event source does: receive a batch, invoke, delete what succeeded; failed
    items become visible again (here at once, instead of after the visibility timeout)."""

    queue_url: str
    handler: object
    sqs: object = field(default_factory=lambda: boto3.client("sqs", region_name="us-east-1"))
    invocations: int = 0

    def poll_once(self, batch_size: int = 10, duplicate=None) -> int:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=batch_size, AttributeNames=["All"], WaitTimeSeconds=0
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        if duplicate is not None:
            messages = messages + [m for m in messages if duplicate(m)]  # at-least-once: the same message twice
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        context = LambdaContext()
        context.aws_request_id = str(uuid.uuid4())
        context.get_remaining_time_in_millis = lambda: 900_000
        self.invocations += 1
        try:
            result = self.handler(sqs_event(messages, arn), context)
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except Exception:  # a function error: Lambda returns the whole batch to the queue
            failed = {message["MessageId"] for message in messages}
        seen = set()
        for message in messages:
            if message["MessageId"] in seen:
                continue
            seen.add(message["MessageId"])
            if message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def drain(self, max_polls: int = 10_000, **kwargs) -> None:
        for _ in range(max_polls):
            if not self.poll_once(**kwargs):
                return
        raise AssertionError("queue did not drain")


def notices(queue_url: str) -> list[dict]:
    """Every SNS notification delivered to the subscriber queue: message and attributes."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for message in messages:
            envelope = json.loads(message["Body"])
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            out.append({"message": json.loads(envelope["Message"]), "attributes": attributes})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
