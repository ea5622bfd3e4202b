"""Faults injected in the simulator, seen as a client sees them: fallback, the breaker's whole cycle,
degraded cached answers, and 503 with Retry-After."""

import time

from tests.e2e.conftest import wait_until

SIMPLE = ["claude-haiku-4-5", "nova-lite", "llama3-3-70b"]


def ask(client, text: str, tier: str = "simple"):
    return client.post("/v1/chat", json={"tier": tier, "messages": [{"role": "user", "content": [{"text": text}]}]})


def breaker(client, alias: str) -> str:
    return next(m["breaker"] for m in client.get("/v1/models").json()["data"] if m["id"] == alias)


def test_breaker_opens_skips_probes_and_closes(resilient_gateway):
    gw = resilient_gateway
    gw.reset_faults()
    gw.fault("claude-haiku-4-5", down=True)
    with gw.client() as client:
        for text in ("one", "two"):  # threshold 2: both try the primary and fall back
            body = ask(client, text).json()
            assert [a["outcome"] for a in body["gateway"]["attempts"]] == ["unavailable", "ok"]
        assert breaker(client, "claude-haiku-4-5") == "OPEN"

        body = ask(client, "three").json()  # open: the primary is skipped, not called
        assert body["gateway"]["attempts"][0] == {
            "model": "claude-haiku-4-5",
            "outcome": "skipped",
            "code": "circuit_open",
            "ms": 0.0,
        }
        assert body["gateway"]["model"] == "nova-lite"

        gw.fault("claude-haiku-4-5", down=False)  # the model recovers
        assert wait_until(lambda: breaker(client, "claude-haiku-4-5") == "HALF_OPEN", timeout=5)
        body = ask(client, "four").json()  # half-open: a probe goes to the primary
        assert body["gateway"]["model"] == "claude-haiku-4-5"
        assert breaker(client, "claude-haiku-4-5") == "HALF_OPEN"  # 1 of 2 successes
        ask(client, "five")
        assert breaker(client, "claude-haiku-4-5") == "CLOSED"


def test_failed_probe_reopens(resilient_gateway):
    gw = resilient_gateway
    gw.reset_faults()
    gw.fault("claude-haiku-4-5", down=True)
    with gw.client() as client:
        ask(client, "a")
        ask(client, "b")
        assert breaker(client, "claude-haiku-4-5") == "OPEN"
        time.sleep(2.1)
        body = ask(client, "c").json()  # the probe fails
        assert body["gateway"]["attempts"][0]["outcome"] == "unavailable"
        assert breaker(client, "claude-haiku-4-5") == "OPEN"
    gw.reset_faults()
    time.sleep(2.1)


def test_all_down_serves_the_cached_answer_marked_degraded(resilient_gateway):
    gw = resilient_gateway
    gw.reset_faults()
    with gw.client() as client:
        first = ask(client, "What is our refund policy?", tier="medium").json()
        assert first["gateway"]["degraded"] is False
        gw.fault("*", down=True)
        body = ask(client, "What is our refund policy?", tier="medium").json()
    gw.reset_faults()
    assert body["gateway"]["degraded"] is True
    assert body["output"] == first["output"]


def test_all_down_and_nothing_cached_is_503_with_retry_after(resilient_gateway):
    gw = resilient_gateway
    gw.reset_faults()
    gw.fault("*", down=True)
    with gw.client() as client:
        response = ask(client, "A question nobody asked before", tier="complex")
    gw.reset_faults()
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "service_unavailable" and error["type"] == "service_unavailable_error" and error["requestId"]
    assert "claude-opus-4-1" in error["message"]
