"""The health table in DynamoDB: the ``HealthStore`` port of ``fmgateway.health.store``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fmgateway.health.store import ItemKey, item_pk


class DynamoHealthStore:
    """The health table in DynamoDB (``pk`` string, TTL ``expiresAt``)."""

    def __init__(self, client, table: str):
        self.client, self.table = client, table

    def add(self, key: ItemKey, stats: Mapping[str, float], expires_at: int) -> None:
        names = {f"#a{i}": name for i, name in enumerate(stats)}
        values: dict[str, Any] = {f":a{i}": {"N": _number(value)} for i, value in enumerate(stats.values())}
        values[":ttl"] = {"N": str(expires_at)}
        names["#ttl"] = "expiresAt"
        expression = "ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(stats))) + " SET #ttl = :ttl"
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": item_pk(key)}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get_many(self, keys: list[ItemKey]) -> dict[ItemKey, dict[str, float]]:
        by_pk = {item_pk(key): key for key in keys}
        found: dict[ItemKey, dict[str, float]] = {}
        pks = list(by_pk)
        for start in range(0, len(pks), 100):
            request: dict[str, Any] = {self.table: {"Keys": [{"pk": {"S": pk}} for pk in pks[start : start + 100]]}}
            for _ in range(3):  # unprocessed keys come back under load; the next refresh reads what is left
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self.table, []):
                    found[by_pk[item["pk"]["S"]]] = _parse(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(Decimal(repr(value)))


def _parse(item: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(value["N"]) for name, value in item.items() if name not in ("pk", "expiresAt") and "N" in value}
