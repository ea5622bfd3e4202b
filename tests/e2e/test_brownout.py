"""A brownout seen as a client sees it (issue 30): one API key, the primary still answering but slower than the read
timeout. The breaker opens while the slow calls are still in flight, later requests go to the next model at once,
and traffic returns to the primary once it is fast again and a probe closes the breaker."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid

import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import start_gateway, stop_gateway, wait_until

PRIMARY, SECOND = "claude-haiku-4-5", "nova-lite"  # the simple tier's first two candidates
PRIMARY_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"  # the simulator's most specific pattern wins: the exact id
READ_SECONDS = 6
HELD_MS = 8000  # slower than the read timeout: every primary call would end as a timeout


@pytest.fixture(scope="module")
def brownout_gateway(tmp_path_factory):
    config = json.loads(CONFIG_FILE.read_text())
    config["circuitBreaker"].update(
        failureRateThreshold=50,
        minimumCalls=5,
        windowSeconds=20,
        cooldownSeconds=3,
        halfOpenMaxProbes=1,
        successesToClose=1,
        stateCacheSeconds=0,
        slowCallFloorMs=300,  # the derived threshold: 4 x the primary's p95 (a few ms here), at least 300 ms
    )  # maxKeyShare stays 0.5: one key is the primary's only caller, so its calls count in full
    config["health"] = {"flushIntervalSeconds": 1, "bucketSeconds": 1, "shards": 1}
    config["timeouts"].update(readSeconds=READ_SECONDS, requestBudgetSeconds=20)
    config["cache"]["enabled"] = False
    # the test polls /v1/models every 50 ms: the usage plan must not throttle it (429) while it watches the breaker
    config["plans"] = {"standard": {"rateLimit": 10000, "burstLimit": 10000, "quotaPerDay": 10000000}}
    config["stage"] = {"rateLimit": 10000, "burstLimit": 10000}
    path = tmp_path_factory.mktemp("config") / "gateway.json"
    path.write_text(json.dumps(config))
    gateway = start_gateway(path)
    yield gateway
    stop_gateway(gateway)


def ask(client: httpx.Client) -> dict:
    body = {"tier": "simple", "messages": [{"role": "user", "content": [{"text": f"brownout {uuid.uuid4()}"}]}]}
    response = client.post("/v1/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()["gateway"]


def breaker(client: httpx.Client, alias: str) -> str:
    response = client.get("/v1/models")
    assert response.status_code == 200, response.text
    return next(m["breaker"] for m in response.json()["data"] if m["id"] == alias)


def hold(gateway, ms: int) -> None:
    httpx.post(f"{gateway.simulator}/_sim/latency", json={"model": PRIMARY_ID, "fixedMs": ms, "perTokenMs": 0}, timeout=5)


def test_one_key_brownout_opens_the_breaker_before_the_slow_calls_end_and_traffic_returns(brownout_gateway):
    gw = brownout_gateway
    gw.reset_faults()
    with gw.client(gw.keys[0]) as client:
        for _ in range(40):  # the primary's normal: a few milliseconds (enough calls that a slow first one is no p95)
            assert ask(client)["model"] == PRIMARY
        # The rate rule judges the newest stretch first: let the 1 s bucket of the healthy burst pass, as steady traffic
        # would (a bucket holding both the burst and the brownout's first calls is mostly fast).
        time.sleep(1.2)
        hold(gw, HELD_MS)
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            slow = [pool.submit(ask, client) for _ in range(6)]  # six calls now wait on the primary
            assert wait_until(lambda: breaker(client, PRIMARY) == "OPEN", timeout=READ_SECONDS - 1, interval=0.05), (
                "the breaker did not open while the slow calls were in flight"
            )
            opened_after = time.monotonic() - started
            assert not any(future.done() for future in slow)  # none of them has ended: it opened on calls in flight
            # meanwhile, the same key's new requests skip the primary and are answered at once
            quick = ask(client)
            assert quick["model"] == SECOND and quick["attempts"][0]["outcome"] == "skipped"
            assert quick["attempts"][-1]["ms"] < 2000
            for future in slow:  # the held calls time out and fall back: answered, once
                assert future.result()["model"] == SECOND
        assert opened_after < READ_SECONDS

        hold(gw, 0)  # fast again: after the cooldown a probe goes to the primary and closes the breaker
        assert wait_until(lambda: breaker(client, PRIMARY) == "HALF_OPEN", timeout=10)
        assert wait_until(lambda: ask(client)["model"] == PRIMARY, timeout=10, interval=0.2)
        assert breaker(client, PRIMARY) == "CLOSED"
        assert ask(client)["model"] == PRIMARY
