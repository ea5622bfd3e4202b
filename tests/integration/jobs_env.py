"""Helpers for the jobs tests: resources and event sources are local mode's own (local/)."""

from __future__ import annotations

import json

import boto3


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
