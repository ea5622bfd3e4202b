"""Streaming (issue 9) end to end: ``python -m local`` with the simulator, over real chunked HTTP, driven by the
``openai`` SDK (sync and async) and by httpx on the native event stream.

The gateway's breaker settings are ``resilient_gateway``'s (threshold 2, no state cache).
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import wait_until

PRIMARY = "claude-haiku-4-5"  # the simple tier's first model; nova-lite follows it
PRIMARY_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
# 120 words of 2 tokens each: 240 tokens, about 4.8 s at 20 ms per token (room for a loaded machine's first chunk)
LONG_REPLY = " ".join(["gateway"] * 120)
NATIVE_ORDER = ["messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata", "gateway"]


def simulate(gw, per_token_ms: float = 0, replies: dict | None = None) -> None:
    """Every model at ``per_token_ms``; faults cleared; ``replies`` fixed answers by model pattern."""
    gw.reset_faults()
    settings = {"latency": {"*": {"fixedMs": 0, "perTokenMs": per_token_ms}}, "replies": replies or {}}
    httpx.put(f"{gw.simulator}/_sim/config", json=settings, timeout=5).raise_for_status()


def sim_stats(gw) -> dict:
    return httpx.get(f"{gw.simulator}/_sim/stats", timeout=5).json()["models"].get(PRIMARY_ID, {})


def sse_events(response: httpx.Response) -> list[tuple[str, dict | str]]:
    """(event, data) pairs of a server-sent-event body; ``message`` when the event has no name."""
    events, name = [], "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
            events.append((name, data if data == "[DONE]" else json.loads(data)))
            name = "message"
    return events


def native(gw, text: str, path: str = "/v1/chat/stream", **body) -> tuple[httpx.Response, list]:
    if path == "/v1/chat/stream" and "model" not in body and "tier" not in body:
        body["tier"] = "simple"  # PRIMARY's tier, whatever `auto` would pick for the text
    with (
        gw.client() as client,
        client.stream("POST", path, json={"messages": [{"role": "user", "content": [{"text": text}]}], **body}) as response,
    ):
        return response, sse_events(response) if response.status_code == 200 else json.loads(response.read())


def openai_client(gw, cls=openai.OpenAI):
    return cls(base_url=f"{gw.url}/v1", api_key="unused", default_headers={"x-api-key": gw.keys[-1]}, max_retries=0)


MESSAGES = [{"role": "user", "content": "Tell me about streaming gateways."}]


def test_openai_sdk_streams_sync_first_chunk_early_same_text_and_usage(resilient_gateway):
    gw = resilient_gateway
    simulate(gw, per_token_ms=20, replies={f"*{PRIMARY}*": LONG_REPLY})
    client = openai_client(gw)
    started = time.perf_counter()
    first_content = None
    parts, usage, finish = [], None, None
    for chunk in client.chat.completions.create(
        model="simple", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            first_content = first_content or time.perf_counter() - started
            parts.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
        usage = chunk.usage or usage
    total = time.perf_counter() - started
    assert usage is not None and usage.completion_tokens >= 30
    assert finish == "stop"
    # the one timed assertion (the issue's): tokens arrive as they are made, not all at the end
    assert first_content is not None and first_content < total / 4, (first_content, total)

    plain = client.chat.completions.create(model="simple", messages=MESSAGES)  # same SDK, same path, not streamed
    assert "".join(parts) == plain.choices[0].message.content
    assert plain.usage.completion_tokens == usage.completion_tokens


def test_openai_sdk_streams_async(resilient_gateway):
    gw = resilient_gateway
    simulate(gw, per_token_ms=20, replies={f"*{PRIMARY}*": LONG_REPLY})

    async def run() -> tuple[float, float, str, object]:
        client = openai_client(gw, openai.AsyncOpenAI)
        started = time.perf_counter()
        first, parts, usage = None, [], None
        stream = await client.chat.completions.create(
            model="simple", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter() - started
                parts.append(chunk.choices[0].delta.content)
            usage = chunk.usage or usage
        await client.close()
        return first, time.perf_counter() - started, "".join(parts), usage

    first, total, text, usage = asyncio.run(run())
    assert first is not None and first < total / 4, (first, total)
    assert text == LONG_REPLY
    assert usage is not None and usage.completion_tokens == 240


def test_openai_stream_without_usage_has_no_usage_chunk(resilient_gateway):
    gw = resilient_gateway
    simulate(gw)
    chunks = list(openai_client(gw).chat.completions.create(model="simple", messages=MESSAGES, stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_native_stream_has_every_event_in_order_then_the_gateway_event(resilient_gateway):
    gw = resilient_gateway
    simulate(gw)
    response, events = native(gw, "native events please")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events]
    # each type once, in order, except the deltas, which repeat
    assert [name for index, name in enumerate(names) if index == 0 or names[index - 1] != name] == NATIVE_ORDER
    data = dict(events)
    assert data["metadata"]["usage"]["outputTokens"] > 0 and "latencyMs" in data["metadata"]["metrics"]
    gateway = data["gateway"]
    assert gateway["model"] == "claude-haiku-4-5" and gateway["degraded"] is False
    assert gateway["costUsd"] > 0 and gateway["timeToFirstTokenMs"] > 0
    assert [attempt["outcome"] for attempt in gateway["attempts"]] == ["ok"]
    assert gateway["usage"] == data["metadata"]["usage"]


def test_task_route_streams_with_its_tier_and_refuses_a_model(resilient_gateway):
    gw = resilient_gateway
    simulate(gw)
    response, events = native(gw, "classify this", path="/v1/classify/stream")
    assert response.status_code == 200
    assert dict(events)["gateway"]["route"] == "path:simple"
    response, error = native(gw, "classify this", path="/v1/classify/stream", model="nova-lite")
    assert response.status_code == 400 and "body.model" in error["error"]["message"]


def test_invalid_stream_request_is_a_plain_400(resilient_gateway):
    with resilient_gateway.client() as client:
        response = client.post("/v1/chat/stream", json={"messages": [{"role": "assistant", "content": [{"text": "x"}]}]})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == "invalid_request"
        response = client.post("/v1/chat/completions", json={"model": "simple", "messages": MESSAGES, "stream_options": {}})
        assert response.status_code == 400


def test_stream_needs_an_api_key(resilient_gateway):
    response = httpx.post(f"{resilient_gateway.url}/v1/chat/stream", json={}, timeout=10)
    assert response.status_code == 401  # no key at all: 401 (an unknown key is 403)


@pytest.mark.parametrize("fault", [{"down": True}, {"failAfterEvents": 1}])
def test_primary_failing_before_the_first_token_completes_from_the_fallback(resilient_gateway, fault):
    gw = resilient_gateway
    simulate(gw)
    gw.fault(PRIMARY, **fault)
    response, events = native(gw, f"fallback please {fault}")
    assert response.status_code == 200
    names = [name for name, _ in events]
    assert "error" not in names and names.count("messageStart") == 1
    gateway = dict(events)["gateway"]
    assert [attempt["model"] for attempt in gateway["attempts"]] == [PRIMARY, "nova-lite"]
    assert gateway["attempts"][0]["outcome"] != "ok" and gateway["attempts"][1]["outcome"] == "ok"
    assert gateway["model"] == "nova-lite"
    simulate(gw)
    wait_until(lambda: breaker(gw, PRIMARY) == "CLOSED", timeout=5)


def test_client_that_disconnects_stops_the_upstream_read(resilient_gateway):
    gw = resilient_gateway
    simulate(gw, per_token_ms=20, replies={f"*{PRIMARY}*": " ".join(["gateway"] * 300)})  # ~12 s if read to the end
    before = sim_stats(gw)
    body = {"messages": [{"role": "user", "content": [{"text": "long"}]}]}
    with gw.client() as client, client.stream("POST", "/v1/chat/stream", json=body) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # the first token arrived; now leave
    assert wait_until(lambda: sim_stats(gw).get("errors", {}).get("clientDisconnected", 0) == 1, timeout=8), sim_stats(gw)
    assert sim_stats(gw)["successes"] == before.get("successes", 0)  # the simulator never finished that stream


def test_all_candidates_down_is_a_plain_503_with_retry_after(resilient_gateway):
    gw = resilient_gateway
    simulate(gw)
    for model in ("claude-haiku", "nova", "llama"):
        gw.fault(model, down=True)
    with gw.client() as client:
        body = {"model": "simple", "messages": [{"role": "user", "content": "nobody answers this one"}], "stream": True}
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["code"] == "service_unavailable"
    simulate(gw)
    # every failed call counted (retries of the last candidate too): the tier's breakers may be open; let their
    # cooldown pass so the next test finds the tier answering
    for alias in ("claude-haiku-4-5", "nova-lite", "llama3-3-70b"):
        assert wait_until(lambda alias=alias: breaker(gw, alias) != "OPEN", timeout=8), alias


def test_degraded_cached_answer_streams_as_one_chunk(resilient_gateway):
    gw = resilient_gateway
    simulate(gw)
    _, first = native(gw, "remember me", tier="simple")
    text = "".join(data["delta"]["text"] for name, data in first if name == "contentBlockDelta")
    for model in ("claude-haiku", "nova", "llama"):
        gw.fault(model, down=True)
    response, events = native(gw, "remember me", tier="simple")
    assert response.status_code == 200 and response.headers["x-gateway-degraded"] == "true"
    deltas = [data["delta"]["text"] for name, data in events if name == "contentBlockDelta"]
    assert deltas == [text]
    assert dict(events)["gateway"]["degraded"] is True
    simulate(gw)


def breaker(gw, alias: str) -> str:
    with gw.client() as client:
        return next(m["breaker"] for m in client.get("/v1/models").json()["data"] if m["id"] == alias)


def test_failure_after_tokens_ends_with_an_error_event_no_done_and_counts_on_the_breaker(resilient_gateway):
    """On the medium tier, which no other test here touches: its primary's breaker starts CLOSED, threshold 2."""
    gw = resilient_gateway
    simulate(gw)
    assert breaker(gw, "claude-sonnet-4-5") == "CLOSED"
    gw.fault("claude-sonnet-4-5", failAfterEvents=3)
    with gw.client() as client:
        body = {"model": "medium", "messages": [{"role": "user", "content": "break after three"}], "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]  # on a stream too: the openai SDK's _request_id
            events = sse_events(response)
    datas = [data for _, data in events]
    assert "[DONE]" not in datas
    assert datas[-1]["error"]["code"] == "model_error" and "incomplete" in datas[-1]["error"]["message"]
    assert datas[-1]["error"]["type"] == "server_error" and datas[-1]["error"]["requestId"] == request_id
    assert any(isinstance(d, dict) and d.get("choices") and d["choices"][0]["delta"].get("content") for d in datas)
    assert breaker(gw, "claude-sonnet-4-5") == "CLOSED"  # one failure so far

    with pytest.raises(openai.APIError, match="incomplete") as raised:  # the SDK raises it, never a short answer
        for _ in openai_client(gw).chat.completions.create(model="medium", messages=MESSAGES, stream=True):
            pass
    assert raised.value.type == "server_error" and raised.value.code == "model_error"  # the error contract's object
    assert breaker(gw, "claude-sonnet-4-5") == "OPEN"  # both mid-stream failures counted (threshold 2)
    simulate(gw)
