"""Adapters for the state ports: DynamoDB for AWS (and moto), in-memory fakes for unit tests."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any


def iso_timestamp(epoch: float) -> str:
    """RFC 3339 in UTC, whole seconds rounded down: the state machine's native check may then send a call to
    the admit rule up to a second early (which decides exactly), never skip a model that may be probed."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_NUMBER_FIELDS = ("failures", "windowStart", "openUntil", "probes", "probeLeaseUntil", "successes", "calls")


class DynamoBreakerStore:
    """One item per model key: ``pk = breaker#<key>``; writes are conditional on ``version``."""

    def __init__(self, client, table: str):
        self.client, self.table = client, table

    @staticmethod
    def _key(key: str) -> dict:
        return {"pk": {"S": f"breaker#{key}"}}

    @staticmethod
    def _parse(item: dict) -> tuple[dict[str, Any], int]:
        record: dict[str, Any] = {"state": item["state"]["S"]}
        for name in _NUMBER_FIELDS:
            if name in item:
                record[name] = float(item[name]["N"]) if "." in item[name]["N"] else int(item[name]["N"])
        return record, int(item["version"]["N"])

    def get(self, key: str) -> tuple[dict[str, Any] | None, int]:
        item = self.client.get_item(TableName=self.table, Key=self._key(key), ConsistentRead=True).get("Item")
        return self._parse(item) if item else (None, 0)

    def get_many(self, keys: list[str]) -> dict[str, tuple[dict[str, Any] | None, int]]:
        found: dict[str, tuple[dict[str, Any] | None, int]] = {}
        for start in range(0, len(keys), 100):
            batch = keys[start : start + 100]
            request: dict[str, Any] = {self.table: {"Keys": [self._key(k) for k in batch], "ConsistentRead": True}}
            for _ in range(3):  # unprocessed keys come back under load; a display read can give up after that
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table, []):
                    found[item["pk"]["S"].removeprefix("breaker#")] = self._parse(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            unread = {k["pk"]["S"].removeprefix("breaker#") for k in request.get(self.table, {}).get("Keys", [])}
            for key in batch:
                if key not in found and key not in unread:
                    found[key] = (None, 0)  # read, and there is no record: CLOSED
        return found

    def put(self, key: str, record: dict[str, Any], expected_version: int) -> bool:
        item = {**self._key(key), "state": {"S": record["state"]}, "version": {"N": str(expected_version + 1)}}
        item["updatedAt"] = {"N": repr(round(time.time(), 3))}
        for name in _NUMBER_FIELDS:
            item[name] = {"N": repr(record.get(name, 0))}
        if record.get("openUntil"):
            # for the state machine: JSONPath ASL compares timestamps, not epoch numbers
            item["openUntilIso"] = {"S": iso_timestamp(record["openUntil"])}
        if expected_version == 0:
            condition, values = "attribute_not_exists(pk)", {}
        else:
            condition, values = "version = :v", {":v": {"N": str(expected_version)}}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class DynamoResponseStore:
    """``pk = <request hash>``; ``expiresAt`` is the table's TTL attribute and is also checked on read,
    because DynamoDB deletes expired items lazily."""

    def __init__(self, client, table: str, clock=time.time):
        self.client, self.table, self.clock = client, table, clock

    def get(self, key: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}).get("Item")
        if not item or float(item["expiresAt"]["N"]) <= self.clock():
            return None
        return json.loads(item["response"]["S"])

    def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        now = self.clock()
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": key},
                "response": {"S": json.dumps(value, separators=(",", ":"))},
                "createdAt": {"N": str(int(now))},
                "expiresAt": {"N": str(int(now + ttl_seconds))},
            },
        )


class MemoryBreakerStore:
    def __init__(self):
        self.items: dict[str, tuple[dict[str, Any], int]] = {}
        self.reads = self.writes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[dict[str, Any] | None, int]:
        self.reads += 1
        return self.items.get(key, (None, 0))

    def get_many(self, keys: list[str]) -> dict[str, tuple[dict[str, Any] | None, int]]:
        self.reads += 1
        return {key: self.items.get(key, (None, 0)) for key in keys}

    def put(self, key: str, record: dict[str, Any], expected_version: int) -> bool:
        with self._lock:
            if self.items.get(key, (None, 0))[1] != expected_version:
                return False
            self.items[key] = (dict(record), expected_version + 1)
            self.writes += 1
            return True


class MemoryResponseStore:
    def __init__(self, clock=time.time):
        self.items: dict[str, tuple[dict[str, Any], float]] = {}
        self.clock = clock

    def get(self, key: str) -> dict[str, Any] | None:
        value, expires = self.items.get(key, (None, 0.0))
        return value if value is not None and expires > self.clock() else None

    def put(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        self.items[key] = (value, self.clock() + ttl_seconds)
