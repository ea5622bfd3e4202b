"""What ``fmgw models list`` and ``fmgw models compare`` ask the gateway over HTTP: the catalog with live health
(``GET /v1/models``), one pinned, streamed answer per case (``POST /v1/chat/stream`` with ``x-gateway-pin: true``,
timed to its first token), and a judge's verdict (``POST /v1/chat``, pinned too)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from fmgateway.lifecycle.comparison import Observation
from fmgateway.lifecycle.evaluation import Case
from fmgw.target import Target

PIN = {"x-gateway-pin": "true"}
FAMILIES = (  # the model family a table shows, by the start of the Bedrock model id
    ("anthropic.", "Claude"), ("amazon.nova", "Nova"), ("amazon.titan", "Titan"), ("meta.", "Llama"),
    ("mistral.", "Mistral"), ("cohere.", "Cohere"), ("ai21.", "Jamba"), ("deepseek.", "DeepSeek"),
)  # fmt: skip


class GatewayError(Exception):
    pass


def family(model_id: str) -> str:
    return next((name for prefix, name in FAMILIES if model_id.startswith(prefix)), model_id.split(".", 1)[0])


def client(target: Target, timeout: float = 60) -> httpx.Client:
    return httpx.Client(base_url=target.url, headers={"x-api-key": target.key}, timeout=timeout)


def catalog(http: httpx.Client) -> list[dict[str, Any]]:
    response = http.get("/v1/models")
    if response.status_code != 200:
        raise GatewayError(f"GET /v1/models answered {response.status_code}: {response.text[:200]}")
    return response.json()["data"]


def _error_of(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error.get('code') or error.get('type', '')}: {error.get('message', '')}"[:200]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:150]}"


def events(lines: Any) -> Any:
    """(event name, data) of a server-sent event stream."""
    name, data = None, []
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield name, json.loads("\n".join(data))
            name, data = None, []
    if data:
        yield name, json.loads("\n".join(data))


def streamed(http: httpx.Client, model: str, case: Case, max_tokens: int | None = None) -> Observation:
    """One case through the streaming route with the model pinned, timed as a caller sees it."""
    body = {**case.request(max_tokens), "model": model}
    started = time.perf_counter()
    first = None
    texts: list[str] = []
    block: dict[str, Any] = {}
    with http.stream("POST", "/v1/chat/stream", json=body, headers=PIN) as response:
        if response.status_code != 200:
            response.read()
            return Observation("", (time.perf_counter() - started) * 1000, None, 0, 0.0, None, error=_error_of(response))
        for name, data in events(response.iter_lines()):
            if name == "contentBlockDelta" and "text" in data.get("delta", {}):
                first = time.perf_counter() if first is None else first
                texts.append(data["delta"]["text"])
            elif name == "error":
                error = data.get("error", data)
                message = f"stream error {error.get('code', '')}: {error.get('message', '')}"[:200]
                return Observation("", (time.perf_counter() - started) * 1000, None, 0, 0.0, None, error=message)
            elif name == "gateway":
                block = data
    latency = (time.perf_counter() - started) * 1000
    usage = block.get("usage") or {}
    return Observation(
        "".join(texts),
        latency,
        None if first is None else (first - started) * 1000,
        int(usage.get("outputTokens", 0)),
        float(block.get("costUsd") or 0.0),
        block.get("model"),
        bool(block.get("degraded")),
        None if block else "the stream ended without its gateway event",
    )


def judge(http: httpx.Client, model: str):
    """A judge that asks ``model`` (pinned) through ``POST /v1/chat``: its reply and its cost."""

    def ask(prompt: str) -> tuple[str, float]:
        body = {"model": model, "messages": [{"role": "user", "content": [{"text": prompt}]}]}
        response = http.post("/v1/chat", json=body, headers=PIN)
        if response.status_code != 200:
            return f"(the judge failed: {_error_of(response)})", 0.0
        answer = response.json()
        text = "".join(block.get("text", "") for block in answer["output"]["message"]["content"])
        return text, float(answer["gateway"].get("costUsd") or 0.0)

    return ask
