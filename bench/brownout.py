"""A brownout: every tier's primary still answers, after 12 s (read timeout 10 s, request budget 26 s), while requests
arrive at a steady rate through the local HTTP gateway (issue 30). Reported per scenario: p50 / p99 over the whole run
and after the first minute (the first window), how many requests the primaries still held past 2 s, and the model
calls it took. Each scenario first runs a healthy minute, so each model has a recent normal (the derived slow
threshold: 4 x its p95, at least 2 s), then holds the primaries.

Scenarios: one API key (a single application) and two keys taking turns, each with the in-flight slow-call rule on (the
default) and off (``slowCallP95Multiple: 0``: the breaker learns only from completed calls, i.e. timeouts).
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from pathlib import Path

import httpx

from bench.common import bench_config, free_port, machine, percentile, python, spawn, start_backends, stop, table

KEYS = ("fmgw-local-bench-key", "fmgw-local-bench2-key")
HELD_MS = 12000
TIERS = ("simple", "medium", "complex")


def run(requests: int = 600, rate: float = 6.0, warmup_seconds: float = 60.0) -> str:
    sim_url, moto_url, processes = start_backends()
    try:
        rows = [
            _scenario(sim_url, moto_url, processes, label, keys, in_flight, requests, rate, warmup_seconds)
            for label, keys, in_flight in (
                ("one key, in-flight rule on (default)", 1, True),
                ("two keys, in-flight rule on (default)", 2, True),
                ("one key, in-flight rule off", 1, False),
            )
        ]
    finally:
        stop(processes)
    headers = ["scenario", "requests", "p50 ms", "p99 ms", "after 60 s: p50 ms", "p99 ms", "over 2 s", "model calls"]
    return "\n".join(
        [
            f"Brownout: every tier's primary answers after {HELD_MS / 1000:g} s (read timeout 10 s), {requests} requests at "
            f"{rate:g}/s over HTTP after a healthy {warmup_seconds:g} s ({machine()})",
            table(headers, rows),
            "before (issue 30, one key): p50 10.0 s, p99 20.1 s after the first 60 s: the per-key cap never opened a "
            "breaker for a model's only caller",
        ]
    )


def _primaries(config: dict) -> list[str]:
    models = config["models"]
    return sorted({models[config["tiers"][tier][0]]["modelId"] for tier in TIERS})


def _scenario(
    sim_url: str, moto_url: str, backends: list, label: str, keys: int, in_flight: bool, requests: int, rate: float, warmup: float
) -> list[object]:
    config, path = bench_config()
    config["plans"]["bench2"] = dict(config["plans"]["bench"])
    if not in_flight:
        config["circuitBreaker"]["slowCallP95Multiple"] = 0
    Path(path).write_text(json.dumps(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"FMGW_SIMULATOR_URL": sim_url, "FMGW_MOTO_URL": moto_url, "FMGW_LOG_LEVEL": "WARNING"}
    gateway = spawn(python("-m", "local", "--port", str(port), "--config", str(path)), f"{url}/v1/health", env=env)
    try:
        httpx.post(f"{sim_url}/_sim/reset", timeout=5).raise_for_status()
        _traffic(url, KEYS[:keys], int(warmup * rate), rate)  # the healthy minute: each model's normal
        for model in _primaries(config):
            httpx.post(f"{sim_url}/_sim/latency", json={"model": model, "fixedMs": HELD_MS}, timeout=5).raise_for_status()
        calls_before = httpx.get(f"{sim_url}/_sim/stats", timeout=5).json()["totals"]["calls"]
        timings = _traffic(url, KEYS[:keys], requests, rate)
        calls = httpx.get(f"{sim_url}/_sim/stats", timeout=5).json()["totals"]["calls"] - calls_before
    finally:
        stop([gateway])
        httpx.post(f"{sim_url}/_sim/reset", timeout=5)
    everything = [ms for _, ms in timings]
    settled = [ms for sent, ms in timings if sent >= 60.0] or everything
    return [
        label,
        len(timings),
        f"{percentile(everything, 50):.0f}",
        f"{percentile(everything, 99):.0f}",
        f"{percentile(settled, 50):.0f}",
        f"{percentile(settled, 99):.0f}",
        sum(1 for ms in everything if ms > 2000),
        calls,
    ]


def _traffic(url: str, keys: tuple[str, ...], requests: int, rate: float) -> list[tuple[float, float]]:
    """``requests`` unique prompts at ``rate`` per second, the keys taking turns; (seconds since the start, ms) each."""
    clients = [httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=60) for key in keys]

    def one(index: int, sent: float) -> tuple[float, float]:
        tier = TIERS[index % len(TIERS)]
        body = {"tier": tier, "messages": [{"role": "user", "content": [{"text": f"brownout {index} {uuid.uuid4()}"}]}]}
        started = time.perf_counter()
        response = clients[index % len(clients)].post("/v1/chat", json=body)
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            ms = max(ms, 26000.0)  # an error counts as the whole budget: it is no answer
        return sent, ms

    start = time.perf_counter()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
            futures = []
            for index in range(requests):
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(one, index, time.perf_counter() - start))
            return [future.result() for future in futures]
    finally:
        for client in clients:
            client.close()


if __name__ == "__main__":
    print(run())
