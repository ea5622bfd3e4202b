"""Model health at scale, simulated (issue 14): the real ``HealthMonitor``, ``CircuitBreaker`` and store classes, one
pair per simulated Lambda sandbox, a shared fake clock, and in-memory stores that bill DynamoDB write capacity by item
size (``MemoryHealthStore``). No AWS, no threads: every write and read runs inline at the simulated time it would
start, so the figures are the same on every run.

Traffic: ``rate`` requests per second in all, spread round-robin over the sandboxes (200 x 10 req/s), from 100 API
keys, on one model whose calls fail with probability ``error_rate`` (from ``outage_at`` seconds on: 100 %).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any, NamedTuple

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.health.breaker import OPEN, SKIP, BreakerState, CircuitBreaker
from fmgateway.health.monitor import HealthMonitor
from fmgateway.health.store import MemoryHealthStore

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
START = 1_800_000_000.0  # a bucket boundary
TICK = 0.01  # seconds of simulated time per step


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingBreakerStore(MemoryBreakerStore):
    """Counts conditional writes per second of the clock, failed ones included (DynamoDB bills those too)."""

    def __init__(self, clock: Clock):
        super().__init__()
        self.clock = clock
        self.attempts: Counter[int] = Counter()

    def put(self, key: str, record: dict[str, Any], expected_version: int) -> bool:
        self.attempts[int(self.clock())] += 1
        return super().put(key, record, expected_version)


class SandboxWrites:
    """One sandbox's way to the shared store, counting its writes per flush interval."""

    def __init__(self, store: MemoryHealthStore, clock: Clock, flush_seconds: float):
        self.store, self.clock, self.flush_seconds = store, clock, flush_seconds
        self.per_interval: Counter[int] = Counter()

    def add(self, key, stats, expires_at) -> None:
        self.per_interval[math.floor((self.clock() - START) / self.flush_seconds + 1e-9)] += 1
        self.store.add(key, stats, expires_at)

    def get_many(self, keys):
        return self.store.get_many(keys)


class Outcome(NamedTuple):
    name: str
    sandboxes: int
    rate: int
    seconds: int
    error_rate: float
    outage_at: float | None
    opened_after: float | None  # seconds after the outage began (or the start), None: never opened
    bound: float
    calls: int
    skipped: int
    health_writes_per_second: float
    max_item_wcu_per_second: int  # the hottest health item in its hottest second
    max_breaker_writes_per_second: int
    health_reads_per_second: float
    max_writes_per_sandbox_interval: int


def open_bound(cfg: dict[str, Any], per_sandbox_rate: float) -> float:
    """How long after a model starts failing its breaker opens at the latest, with these settings: its failures reach
    the store within one flush interval, every other sandbox re-reads within one cache period, the failing stretch
    outweighs the healthy part of the newest bucket within ``bucketSeconds x failureRateThreshold``, and the next
    failure of a sandbox evaluates the rule (one request interval)."""
    health = cfg.get("health", {})
    return (
        float(health.get("flushIntervalSeconds", 1))
        + float(cfg.get("stateCacheSeconds", 2))
        + float(health.get("bucketSeconds", 2)) * cfg["failureRateThreshold"] / 100
        + 1 / per_sandbox_rate
    )


def simulate(
    cfg: dict[str, Any],
    name: str,
    *,
    sandboxes: int = 200,
    rate: int = 2000,
    seconds: int = 60,
    error_rate: float = 0.005,
    outage_at: float | None = None,
    seed: int = 14,
) -> Outcome:
    rng = random.Random(seed)
    clock = Clock(START)
    health_store, breaker_store = MemoryHealthStore(clock), CountingBreakerStore(clock)
    flush = float(cfg.get("health", {}).get("flushIntervalSeconds", 1))
    views = [SandboxWrites(health_store, clock, flush) for _ in range(sandboxes)]
    breakers = [
        CircuitBreaker(breaker_store, clock=clock, health=HealthMonitor(views[i], clock=clock, shard=i)) for i in range(sandboxes)
    ]
    keys = [f"key-{i}" for i in range(100)]
    per_tick = round(rate * TICK)
    opened_at: float | None = None
    calls = skipped = 0
    for tick in range(int(seconds / TICK)):
        clock.now = START + tick * TICK
        failing = outage_at is not None and clock.now - START >= outage_at
        for j in range(per_tick):
            breaker = breakers[(tick * per_tick + j) % sandboxes]
            if breaker.admit(MODEL, cfg) == SKIP:
                skipped += 1
                continue
            calls += 1
            if failing or rng.random() < error_rate:
                breaker.record_failure(MODEL, cfg, kind="unavailable", caller=rng.choice(keys))
            else:
                breaker.record_success(MODEL, cfg, latency_ms=rng.lognormvariate(math.log(800), 0.3), output_tokens=200)
        if opened_at is None and BreakerState.from_record(breaker_store.get(MODEL)[0]).state == OPEN:
            opened_at = clock.now - START
    began = outage_at or 0.0
    return Outcome(
        name=name,
        sandboxes=sandboxes,
        rate=rate,
        seconds=seconds,
        error_rate=error_rate,
        outage_at=outage_at,
        opened_after=None if opened_at is None else round(opened_at - began, 2),
        bound=round(open_bound(cfg, rate / sandboxes), 2),
        calls=calls,
        skipped=skipped,
        health_writes_per_second=round(health_store.writes / seconds, 1),
        max_item_wcu_per_second=health_store.max_item_write_units_per_second(),
        max_breaker_writes_per_second=max(breaker_store.attempts.values(), default=0),
        health_reads_per_second=round(health_store.reads / seconds, 1),
        max_writes_per_sandbox_interval=max(max(view.per_interval.values(), default=0) for view in views),
    )


def scenarios(cfg: dict[str, Any], seconds: int = 60) -> list[Outcome]:
    return [
        simulate(cfg, "0.5 % errors", seconds=seconds, error_rate=0.005),
        simulate(cfg, "100 % failing", seconds=seconds, error_rate=1.0),
        simulate(cfg, "healthy, then 100 % failing at 30 s", seconds=seconds, error_rate=0.005, outage_at=seconds / 2),
    ]


def run() -> str:
    from bench.common import table
    from fmgateway.config.gateway_config import load_file
    from tests.conftest import CONFIG_FILE

    cfg = load_file(CONFIG_FILE).breaker
    rows = []
    for outcome in scenarios(cfg):
        rows.append(
            [
                outcome.name,
                f"{outcome.sandboxes} x {outcome.rate // outcome.sandboxes}/s",
                "never" if outcome.opened_after is None else f"{outcome.opened_after:g} s",
                f"{outcome.bound:g} s",
                outcome.calls,
                outcome.skipped,
                outcome.health_writes_per_second,
                outcome.max_item_wcu_per_second,
                outcome.max_breaker_writes_per_second,
                outcome.health_reads_per_second,
            ]
        )
    health = cfg["health"]
    return (
        f"## Model health at scale (simulated: real HealthMonitor / CircuitBreaker / stores, fake clock, 60 s; "
        f"flush {health['flushIntervalSeconds']} s, buckets {health['bucketSeconds']} s, {health['shards']} shards, "
        f"stateCacheSeconds {cfg['stateCacheSeconds']}, >= {cfg['failureRateThreshold']} % of >= {cfg['minimumCalls']} calls)\n"
        + table(
            [
                "scenario",
                "sandboxes",
                "opened after",
                "bound",
                "model calls",
                "skipped (open)",
                "health writes/s",
                "max WCU per item per s",
                "breaker writes/s (max)",
                "health reads/s",
            ],
            rows,
        )
        + "\nWCU per item per second must stay under 1,000 (one partition's write limit); 'opened after' counts from the "
        "moment the model began failing."
    )
