"""Where the sandboxes' health statistics meet (issue 14): time-bucketed, sharded items with additive updates.

One item per (health key, shard, bucket): ``pk = <health key>#<shard>#<bucket start>``. A sandbox writes only its own
shard (chosen at random when it starts), at most once per model per flush interval, with one ``UpdateItem`` that ADDs
its counters (``fmgateway.health.stats``), so N sandboxes cost N writes per interval and the writes of one item are
spread over ``shards`` items. ``expiresAt`` (TTL) removes items once they are out of every window. Readers fetch the
items of the window with ``BatchGetItem`` (eventually consistent: half the read units of a consistent read).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from typing import Protocol

ItemKey = tuple[str, int, int]  # (health key, shard, bucket start in epoch seconds)


# A bucket this many flush intervals past its end is final: read once, then kept (later writes to it are missed).
FINAL_AFTER_FLUSHES = 3


class HealthStore(Protocol):
    def add(self, key: ItemKey, stats: Mapping[str, float], expires_at: int) -> None:
        """Add ``stats`` to the item's counters (creating it), atomically."""

    def get_many(self, keys: list[ItemKey]) -> dict[ItemKey, dict[str, float]]:
        """The counters of every item that exists; missing items are left out."""


def item_pk(key: ItemKey) -> str:
    health_key, shard, bucket = key
    return f"{health_key}#{shard}#{bucket}"


def _number_size(value: float) -> int:
    """DynamoDB's size of a number: about one byte per two significant digits, plus one."""
    digits = len(repr(value).replace("-", "").replace(".", "").lstrip("0").rstrip("0") or "0")
    return 1 + math.ceil(digits / 2)


def item_size(pk: str, attributes: Mapping[str, float]) -> int:
    """Bytes of an item as DynamoDB bills it: attribute names plus values (``pk`` and ``expiresAt`` included)."""
    size = len("pk") + len(pk.encode()) + len("expiresAt") + _number_size(2_000_000_000)
    return size + sum(len(name) + _number_size(value) for name, value in attributes.items())


class MemoryHealthStore:
    """The shared store in memory (tests, the scale simulation): ``write_units`` bills each write as DynamoDB does
    (1 WCU per started KB of the larger of the item before and after the update), per item and per second of the
    clock, so a test can show the load on the hottest item."""

    def __init__(self, clock=None):
        self.items: dict[ItemKey, dict[str, float]] = {}
        self.clock = clock
        self.writes = self.reads = 0
        self.write_units: dict[tuple[ItemKey, int], int] = {}  # (item, second) -> WCU
        self._lock = threading.Lock()

    def add(self, key: ItemKey, stats: Mapping[str, float], expires_at: int) -> None:
        with self._lock:
            item = self.items.setdefault(key, {})
            before = item_size(item_pk(key), item) if item else 0
            for name, value in stats.items():
                item[name] = item.get(name, 0) + value
            units = math.ceil(max(before, item_size(item_pk(key), item)) / 1024)
            second = int(self.clock()) if self.clock is not None else 0
            self.write_units[(key, second)] = self.write_units.get((key, second), 0) + units
            self.writes += 1

    def get_many(self, keys: list[ItemKey]) -> dict[ItemKey, dict[str, float]]:
        with self._lock:
            self.reads += 1
            return {key: dict(self.items[key]) for key in keys if key in self.items}

    def max_item_write_units_per_second(self) -> int:
        return max(self.write_units.values(), default=0)


def window_item_keys(health_keys: Iterable[str], shards: int, buckets: Iterable[int]) -> list[ItemKey]:
    bucket_list = list(buckets)
    return [(key, shard, bucket) for key in health_keys for shard in range(shards) for bucket in bucket_list]
