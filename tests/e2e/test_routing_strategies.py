"""Routing strategies and throttling over real HTTP against local mode and the Bedrock simulator (issue 14)."""

from __future__ import annotations

import json
import statistics
import time
import uuid

import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import start_gateway, stop_gateway

SIMPLE = ["claude-haiku-4-5", "nova-lite", "llama3-3-70b"]


def strategy_config(tmp_path_factory, tier_strategies: dict) -> object:
    config = json.loads(CONFIG_FILE.read_text())
    config["tierStrategies"] = tier_strategies
    config["plans"]["premium"].update(rateLimit=10000, burstLimit=10000)  # the usage plan is not under test here
    path = tmp_path_factory.mktemp("config") / "gateway.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def strategy_gateway(tmp_path_factory):
    path = strategy_config(
        tmp_path_factory,
        {
            "simple": {"strategy": "latency", "explorationShare": 0.05, "minCalls": 5},
            "medium": {"strategy": "cost"},
        },
    )
    gateway = start_gateway(path)
    yield gateway
    stop_gateway(gateway)


def ask(client: httpx.Client, tier: str, text: str | None = None, **extra) -> httpx.Response:
    body = {"tier": tier, "messages": [{"role": "user", "content": [{"text": text or f"hello {uuid.uuid4()}"}]}], **extra}
    return client.post("/v1/chat", json=body)


def test_under_30_percent_throttling_on_every_model_requests_succeed_fast(strategy_gateway):
    """Today's figure was 100 % success with p99 1.5 s: a throttled call waited for a same-model backoff while healthy
    alternatives were idle. Now a throttle moves to the next candidate at once; only the last one is retried briefly."""
    gw = strategy_gateway
    gw.reset_faults()
    gw.fault("*", throttleRate=0.3)
    try:
        outcomes, latencies = [], []
        with gw.client() as client:
            for index in range(300):
                started = time.perf_counter()
                response = client.post(
                    "/v1/chat",
                    json={
                        "model": "claude-haiku-4-5",  # an explicit model keeps its tier as the fallback chain
                        "messages": [{"role": "user", "content": [{"text": f"throttle run {index} {uuid.uuid4()}"}]}],
                    },
                )
                latencies.append((time.perf_counter() - started) * 1000)
                body = response.json()
                outcomes.append(response.status_code == 200 and not body["gateway"]["degraded"])
                if not outcomes[-1]:
                    print("FAILED", response.status_code, body)
        stats = httpx.get(f"{gw.simulator}/_sim/stats", timeout=5).json()
    finally:
        gw.reset_faults()
    throttled = sum(m["errors"].get("ThrottlingException", 0) for m in stats["models"].values())
    calls = stats["totals"]["calls"]
    assert 0.2 < throttled / calls < 0.4  # the fault was really there
    success = sum(outcomes) / len(outcomes)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"30% throttling: success {success:.3f}, p50 {p50:.1f} ms, p99 {p99:.1f} ms, calls {calls}, throttled {throttled}")
    assert success >= 0.995
    assert p99 < 300


def test_under_cost_the_cheapest_fitting_model_answers(strategy_gateway):
    gw = strategy_gateway
    gw.reset_faults()
    with gw.client() as client:
        models = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
        response = ask(client, "medium", inferenceConfig={"maxTokens": 300})
        assert response.status_code == 200
        block = response.json()["gateway"]
        medium = [m for m in models.values() if "medium" in m["tiers"] and m["lifecycle"] != "retired"]
        tokens = block["strategy"]["figures"][block["model"]]["inputTokens"]

        def worst(m):
            return tokens / 1000 * m["pricePer1k"]["input"] + min(300, m["maxOutputTokens"]) / 1000 * m["pricePer1k"]["output"]

        assert block["model"] == min(medium, key=worst)["id"]
        assert block["strategy"]["name"] == "cost" and block["strategy"]["order"][0] == block["model"]
        # a ceiling below every candidate is a 400 that names the field; one that admits only some is honoured
        refused = ask(client, "medium", maxCostUsd=0.000002)
        assert refused.status_code == 400 and refused.json()["error"]["message"].startswith("body.maxCostUsd")
        assert ask(client, "medium", maxCostUsd=0.05).json()["gateway"]["costUsd"] <= 0.05
