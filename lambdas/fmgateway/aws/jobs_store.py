"""AWS adapters for the jobs ports: DynamoDB (records), SQS (queue), S3 (large results), SNS (notices)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fmgateway.jobs.service import Jobs

# Stored as JSON text, without \u escapes (they would double the size of non-Latin text in a 400 KB item).
JSON_FIELDS = frozenset({"request", "metadata", "result", "error", "lastError"})
PENDING_INDEX = "pending"


def _json_text(value: Any) -> dict:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot go to DynamoDB as UTF-8: escape it as JSON does
            text = json.dumps(value, separators=(",", ":"))
    return {"S": text}


def _encode(value: Any) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    return {"S": str(value)}


def _decode(attribute: dict) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    return value


class DynamoJobStore:
    """Jobs as ``pk = job#<id>``; idempotency markers as ``pk = idem#<tenant>#<key hash>``. Nested
    fields are stored as JSON text: exact round trips, no Decimal surprises."""

    def __init__(self, client, table: str):
        self.client, self.table = client, table

    def _item(self, pk: str, fields: dict) -> dict:
        item = {"pk": {"S": pk}}
        for name, value in fields.items():
            if value is None:
                continue
            item[name] = _json_text(value) if name in JSON_FIELDS else _encode(value)
        return item

    def _parse(self, item: dict) -> dict:
        out = {}
        for name, attribute in item.items():
            if name == "pk":
                continue
            value = _decode(attribute)
            out[name] = json.loads(value) if name in JSON_FIELDS else value
        return out

    def create(self, job: dict, idempotency: dict | None) -> dict | None:
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._item(f"job#{job['jobId']}", job),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if idempotency is not None:
            pk = f"idem#{idempotency['tenant']}#{idempotency['keyHash']}"
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._item(pk, idempotency),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException:
            if idempotency is None:
                raise
            marker = self.get_marker(idempotency["tenant"], idempotency["keyHash"])
            if marker is None:
                raise
            return marker
        return None

    def get(self, job_id: str) -> dict | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"job#{job_id}"}}, ConsistentRead=True).get("Item")
        return self._parse(item) if item else None

    def get_marker(self, tenant: str, key_hash: str) -> dict | None:
        key = {"pk": {"S": f"idem#{tenant}#{key_hash}"}}
        item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return self._parse(item) if item else None

    def update(self, job_id: str, changes: dict, *, expect_status=None, expect=None, remove=()) -> bool:
        names: dict[str, str] = {}
        values: dict[str, dict] = {}
        sets = []
        for index, (name, value) in enumerate(changes.items()):
            names[f"#c{index}"] = name
            values[f":c{index}"] = _json_text(value) if name in JSON_FIELDS else _encode(value)
            sets.append(f"#c{index} = :c{index}")
        removes = []
        for index, name in enumerate(remove):
            names[f"#r{index}"] = name
            removes.append(f"#r{index}")
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        conditions = ["attribute_exists(pk)"]
        if expect_status:
            names["#status"] = "status"
            placeholders = []
            for index, status in enumerate(sorted(expect_status)):
                values[f":s{index}"] = {"S": status}
                placeholders.append(f":s{index}")
            conditions.append(f"#status IN ({', '.join(placeholders)})")
        for index, (name, value) in enumerate((expect or {}).items()):
            names[f"#e{index}"] = name
            values[f":e{index}"] = _encode(value)
            conditions.append(f"#e{index} = :e{index}")
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"job#{job_id}"}},
                UpdateExpression=expression,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def claim_notice(self, job_id: str, now: float, lease_seconds: float) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"job#{job_id}"}},
                UpdateExpression="SET noticeClaimedAt = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(notified) "
                "AND (attribute_not_exists(noticeClaimedAt) OR noticeClaimedAt < :stale)",
                ExpressionAttributeValues={":now": {"N": repr(now)}, ":stale": {"N": repr(now - lease_seconds)}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_notice(self, job_id: str) -> None:
        self.update(job_id, {}, remove=("noticeClaimedAt",))

    def pending_enqueue(self, older_than: float) -> list[str]:
        job_ids: list[str] = []
        kwargs = {
            "TableName": self.table,
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": "pendingEnqueue = :one AND createdEpoch < :cutoff",
            "ExpressionAttributeValues": {":one": {"S": "1"}, ":cutoff": {"N": str(int(older_than))}},
            "ProjectionExpression": "jobId",
        }
        while True:
            page = self.client.query(**kwargs)
            job_ids += [item["jobId"]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return job_ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class SqsJobQueue:
    def __init__(self, client, queue_url: str):
        self.client, self.queue_url = client, queue_url

    def send(self, job_id: str) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"jobId": job_id}))


class S3ResultStore:
    def __init__(self, client, bucket: str):
        self.client, self.bucket = client, bucket

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def url(self, key: str, expires_in: int) -> str:
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in)


class SnsNotifier:
    def __init__(self, client, topic_arn: str):
        self.client, self.topic_arn = client, topic_arn

    def publish(self, message: dict, attributes: dict[str, str]) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps(message, separators=(",", ":")),
            MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
        )


def build_jobs(
    env: os._Environ | dict, gateway: Callable, settings: Callable[[], dict], gateway_config: Callable | None = None
) -> Jobs:
    """Environment: FMGW_JOBS_TABLE, FMGW_JOBS_QUEUE_URL, FMGW_RESULTS_BUCKET, FMGW_JOBS_TOPIC_ARN."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=10)
    s3_config = Config(signature_version="s3v4", retries={"mode": "standard", "total_max_attempts": 3})
    return Jobs(
        store=DynamoJobStore(session.client("dynamodb", config=config), env["FMGW_JOBS_TABLE"]),
        queue=SqsJobQueue(session.client("sqs", config=config), env["FMGW_JOBS_QUEUE_URL"]),
        results=S3ResultStore(session.client("s3", config=s3_config), env["FMGW_RESULTS_BUCKET"]),
        notifier=SnsNotifier(session.client("sns", config=config), env["FMGW_JOBS_TOPIC_ARN"]),
        gateway=gateway,
        settings=settings,
        config=gateway_config,
    )
