"""The arithmetic of model health (issue 14): counters as flat, additive attribute maps, latency histograms, the
figures derived from them, and the per-key cap on failures.

A bucket's statistics are one ``dict[str, float]`` whose names are the DynamoDB attribute names of a health item, so
merging sandboxes, shards and buckets is adding maps, and a flush is one ``UpdateItem ... ADD`` of a map:

- ``c`` calls that count (successes and counted failures), ``f`` counted failures, ``f<kind>`` failures by kind
  (``ft`` throttled, ``fu`` unavailable, ``fo`` timeout, ``fm`` model error, ``fx`` other), ``s`` slow calls;
- ``l<i>`` / ``t<i>`` latency / time-to-first-token histogram: calls whose milliseconds fall in log-scale bucket ``i``
  (``HISTOGRAM_BASE ** i`` up to ``** (i + 1)``; fixed buckets, so histograms add);
- ``ot`` output tokens and ``om`` milliseconds spent generating them (tokens per second);
- ``k<slot>`` failures and ``n<slot>`` calls of the API keys hashed to ``slot`` (``KEY_SLOTS`` of them, so an item stays
  small however many keys call); calls of requests without a key are in ``c`` / ``f`` and no slot, and are never
  capped.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from typing import NamedTuple

Stats = dict[str, float]

HISTOGRAM_BASE = 2**0.25  # bucket bounds grow by ~19 %: a quantile is known within about +-9 %
_LOG_BASE = math.log(HISTOGRAM_BASE)
KEY_SLOTS = 64
KIND_ATTRIBUTES = {"throttled": "ft", "unavailable": "fu", "timeout": "fo", "model_error": "fm"}


def histogram_index(ms: float) -> int:
    return 0 if ms < 1 else int(math.log(ms) / _LOG_BASE)


def key_slot(caller: str) -> int:
    return zlib.crc32(caller.encode("utf-8", "surrogatepass")) % KEY_SLOTS


def add_into(total: Stats, stats: Mapping[str, float]) -> Stats:
    for name, value in stats.items():
        total[name] = total.get(name, 0) + value
    return total


def merged(maps: Iterable[Mapping[str, float]]) -> Stats:
    total: Stats = {}
    for stats in maps:
        add_into(total, stats)
    return total


def success(
    latency_ms: float | None,
    ttft_ms: float | None,
    output_tokens: int | None,
    generation_ms: float | None,
    slow: bool,
    caller: str | None = None,
) -> Stats:
    stats: Stats = {"c": 1}
    if caller:
        stats[f"n{key_slot(caller)}"] = 1
    if slow:
        stats["s"] = 1
    if latency_ms is not None:
        stats[f"l{histogram_index(latency_ms)}"] = 1
    if ttft_ms is not None:
        stats[f"t{histogram_index(ttft_ms)}"] = 1
    if output_tokens and generation_ms and generation_ms > 0:
        stats["ot"] = output_tokens
        stats["om"] = round(generation_ms, 3)
    return stats


def failure(kind: str, caller: str | None) -> Stats:
    stats: Stats = {"c": 1, "f": 1, KIND_ATTRIBUTES.get(kind, "fx"): 1}
    if caller:
        slot = key_slot(caller)
        stats[f"k{slot}"] = 1
        stats[f"n{slot}"] = 1
    return stats


def quantile(stats: Mapping[str, float], prefix: str, q: float) -> float | None:
    """The ``q`` quantile of histogram ``prefix`` (``l`` or ``t``): the geometric middle of the bucket holding it."""
    counts = sorted((int(name[1:]), n) for name, n in stats.items() if name[0] == prefix and name[1:].isdigit() and n > 0)
    total = sum(n for _, n in counts)
    if not total:
        return None
    rank, seen = q * total, 0.0
    for index, n in counts:
        seen += n
        if seen >= rank:
            return round(HISTOGRAM_BASE ** (index + 0.5), 1)
    return round(HISTOGRAM_BASE ** (counts[-1][0] + 0.5), 1)


def measured_quantile(stats: Mapping[str, float], q: float, minimum_calls: int) -> float | None:
    """The ``q`` quantile of the latency histogram, once it holds at least ``minimum_calls`` calls; else ``None``."""
    measured = sum(n for name, n in stats.items() if name[0] == "l" and name[1:].isdigit())
    return quantile(stats, "l", q) if measured >= minimum_calls else None


def histogram_sample(stats: Mapping[str, float], prefix: str, limit: int = 100) -> list[float]:
    """Up to ``limit`` values with the histogram's distribution (a metric datapoint takes at most 100 values)."""
    counts = [(int(name[1:]), n) for name, n in stats.items() if name[0] == prefix and name[1:].isdigit() and n > 0]
    total = sum(n for _, n in counts)
    if not total:
        return []
    scale = min(1.0, limit / total)
    values: list[float] = []
    for index, n in sorted(counts):
        values += [round(HISTOGRAM_BASE ** (index + 0.5), 1)] * max(1, round(n * scale))
    return values[:limit]


def capped_failures(stats: Mapping[str, float], max_key_share: float) -> float:
    """Failures that count once no API key contributes more than ``max_key_share`` of them, where a cap applies.

    The cap isolates a caller, never a model's only caller: a key's failures are capped only while calls of other keys
    (or keyless calls) to the same model succeed in the same stretch, which says the failures follow the caller. A key
    that is the model's only caller, or one of keys that all fail, counts in full, like a keyless failure.

    The capped keys' failures are counted up to a common level ``x``, the largest for which a key at that level holds at
    most ``max_key_share`` of everything counted (failures counted in full included). With the default 0.5, one failing
    key beside succeeding ones counts nothing, and two failing keys beside succeeding ones count at most twice the
    smaller one's failures.
    """
    failures = stats.get("f", 0.0)
    if max_key_share >= 1:
        return failures
    successes = stats.get("c", 0.0) - failures
    failing = {name[1:]: n for name, n in stats.items() if name[0] == "k" and name[1:].isdigit() and n > 0}
    capped: list[float] = []
    for slot, key_failures in failing.items():
        own_successes = max(0.0, stats.get(f"n{slot}", 0.0) - key_failures)
        if successes - own_successes > 0:  # someone else's calls succeed: this key's failures follow the key
            capped.append(key_failures)
    full = max(0.0, failures - sum(capped))  # keyless failures and the keys that are not capped
    return full + _capped_share(sorted(capped), full, max_key_share)


def _capped_share(per_key: list[float], full: float, share: float) -> float:
    """How much of the capped keys' failures (ascending) counts beside ``full`` counted failures."""
    # h(x) = share * (full + sum(min(f_k, x))) - x is concave with h(0) >= 0: find where it falls below 0.
    below, level = 0.0, 0.0
    for i, f_k in enumerate(per_key):
        above = len(per_key) - i  # keys with at least f_k failures
        slope = share * above - 1
        if slope < 0:
            root = share * (full + below) / -slope
            if root < f_k:
                level = max(level, root)
                return below + level * above
        below += f_k
        level = f_k
    return below  # no key over its share


class Counts(NamedTuple):
    """What the breaker's rate rule reads for one stretch of recent time."""

    calls: float = 0.0  # counted calls: failures beyond the per-key cap are left out of calls too
    failures: float = 0.0
    slow: float = 0.0
    seconds: float = 0.0  # how far back the stretch reaches

    @classmethod
    def of(cls, stats: Mapping[str, float], max_key_share: float, seconds: float) -> Counts:
        failures = stats.get("f", 0.0)
        counted = capped_failures(stats, max_key_share) if failures else 0.0
        return cls(stats.get("c", 0.0) - (failures - counted), counted, stats.get("s", 0.0), seconds)
