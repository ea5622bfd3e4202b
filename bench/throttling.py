"""Throttling as a routing signal: requests through the local HTTP gateway while the simulator throttles a share of the
calls on every model (README "Throttling"). Reported: the share of requests answered (not degraded, unique prompts so
the cache cannot help), p50/p99 latency, and how many model calls and retries it took.

Before this change (issue 14): 100 % answered with p99 ~1.5 s at 30 % throttling, because a throttled call backed off
on the same model (botocore-like 0.25-2 s) while healthy alternatives waited.
"""

from __future__ import annotations

import time
import uuid

import httpx

from bench.common import bench_config, free_port, machine, percentile, python, spawn, start_backends, stop, table

RATES = (0.1, 0.3, 0.5)


def run(requests: int = 300) -> str:
    gw_port = free_port()
    sim_url, moto_url, processes = start_backends()
    config, config_file = bench_config()
    env = {"FMGW_SIMULATOR_URL": sim_url, "FMGW_MOTO_URL": moto_url, "FMGW_LOG_LEVEL": "WARNING"}
    url = f"http://127.0.0.1:{gw_port}"
    try:
        processes.append(
            spawn(python("-m", "local", "--port", str(gw_port), "--config", str(config_file)), f"{url}/v1/health", env=env)
        )
        rows = [_measure(url, sim_url, rate, requests) for rate in RATES]
    finally:
        stop(processes)
    headers = ["throttled calls", "requests", "answered", "p50 ms", "p99 ms", "model calls", "throttles", "retries (answered)"]
    retries = config["retries"]
    return "\n".join(
        [
            f"Throttling on every model, {requests} sequential requests over HTTP (tier simple: 3 candidates; retries: "
            f"{retries['maxAttempts']} attempts on the last, budget {retries.get('budgetRatio', 0.1):.0%}) ({machine()})",
            table(headers, rows),
            "before (same-model backoff first, issue 14): 100 % answered, p99 ~1.5 s at 30 % throttling",
        ]
    )


def _measure(url: str, sim_url: str, rate: float, requests: int) -> list[object]:
    httpx.post(f"{sim_url}/_sim/reset", timeout=5).raise_for_status()
    httpx.post(f"{sim_url}/_sim/faults", json={"model": "*", "throttleRate": rate}, timeout=5).raise_for_status()
    answered, latencies, attempts = 0, [], 0
    with httpx.Client(base_url=url, headers={"x-api-key": "fmgw-local-bench-key"}, timeout=30) as client:
        for index in range(requests):
            text = f"throttling bench {index} {uuid.uuid4()}"
            started = time.perf_counter()
            body = {"tier": "simple", "messages": [{"role": "user", "content": [{"text": text}]}]}
            response = client.post("/v1/chat", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code == 200 and not response.json()["gateway"]["degraded"]:
                answered += 1
                tried = response.json()["gateway"]["attempts"]
                attempts += sum(1 for a in tried if a["model"] == tried[-1]["model"]) - 1 if len(tried) > 1 else 0
    stats = httpx.get(f"{sim_url}/_sim/stats", timeout=5).json()
    throttles = sum(m["errors"].get("ThrottlingException", 0) for m in stats["models"].values())
    return [
        f"{rate:.0%}",
        requests,
        f"{answered / requests:.1%}",
        f"{percentile(latencies, 50):.1f}",
        f"{percentile(latencies, 99):.1f}",
        stats["totals"]["calls"],
        throttles,
        attempts,
    ]


if __name__ == "__main__":
    print(run())
