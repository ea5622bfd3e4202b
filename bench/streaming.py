"""Streaming: what the gateway adds to time to first token (TTFT) and to total stream time, and what the streaming
function adds to a non-streamed call next to today's handler.

Method. The Bedrock simulator (one process, ``PER_TOKEN_MS`` per output token, a fixed 40-word answer) and moto run in
processes of their own; the gateway runs as ``make local`` does (``python -m local``), so a streamed request goes
client -> local API Gateway (key, usage plan, schema) -> local Web Adapter -> uvicorn -> ``handlers.streaming_app`` ->
ConverseStream. Each round sends the same prompt (a new one per round) (a) straight to the simulator with boto3
``converse_stream`` and (b) to ``POST /v1/chat/stream`` with httpx, in a shuffled order. TTFT is the time from sending
to the first text delta; total is the time to the end of the stream. Added = the same percentile of (b) minus (a).

Non-streamed: ``POST /v1/chat/completions`` without ``stream``, (c) through today's handler in-process and (d) through
the streaming function's uvicorn server over local HTTP (what the Web Adapter does), against (a') boto3 ``converse``,
interleaved the same way.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid

import boto3
import httpx
from botocore.config import Config

from bench.common import (
    ROOT,
    bench_config,
    free_port,
    latency_rows,
    machine,
    percentile,
    python,
    spawn,
    start_backends,
    stop,
    table,
)

PER_TOKEN_MS = 2
MODEL_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
ANSWER = " ".join(f"word{i % 10}" for i in range(40))  # 40 words of 2 tokens: 80 tokens, 160 ms of generation
PROMPT = "Explain response streaming in one paragraph"


def run(requests: int = 200, warmup: int = 20) -> str:
    gw_port = free_port()
    sim_url, moto_url, processes = start_backends()
    simulated = {"latency": {"*": {"fixedMs": 0, "perTokenMs": PER_TOKEN_MS}}, "replies": {"*": ANSWER}}
    httpx.put(f"{sim_url}/_sim/config", json=simulated, timeout=5).raise_for_status()
    _, config_file = bench_config()
    external = {"FMGW_SIMULATOR_URL": sim_url, "FMGW_MOTO_URL": moto_url, "FMGW_LOG_LEVEL": "WARNING"}
    try:
        processes.append(
            spawn(
                python("-m", "local", "--port", str(gw_port), "--config", str(config_file)),
                f"http://127.0.0.1:{gw_port}/v1/health",
                env=external,
            )
        )
        streamed = _streamed(sim_url, f"http://127.0.0.1:{gw_port}", requests, warmup)
        plain = _non_streamed(sim_url, moto_url, requests, warmup)
        return f"{streamed}\n\n{plain}"
    finally:
        stop(processes)


def _direct_client(sim_url: str):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=sim_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, tcp_keepalive=True),
    )


def _streamed(sim_url: str, gateway_url: str, requests: int, warmup: int) -> str:
    direct = _direct_client(sim_url)
    http = httpx.Client(base_url=gateway_url, headers={"x-api-key": "fmgw-local-bench-key"}, timeout=30)
    ttft: dict[str, list[float]] = {"a": [], "b": []}
    total: dict[str, list[float]] = {"a": [], "b": []}
    order = random.Random(11)
    try:
        for index in range(warmup + requests):
            messages = [{"role": "user", "content": [{"text": f"{PROMPT} (request {index})"}]}]
            took: dict[str, tuple[float, float]] = {}
            for path in order.sample("ab", 2):
                start = time.perf_counter()
                first = None
                if path == "a":
                    response = direct.converse_stream(modelId=MODEL_ID, messages=messages, inferenceConfig={"maxTokens": 512})
                    for event in response["stream"]:
                        if first is None and "contentBlockDelta" in event:
                            first = time.perf_counter()
                else:
                    body = {"model": "claude-haiku-4-5", "messages": messages, "inferenceConfig": {"maxTokens": 512}}
                    with http.stream("POST", "/v1/chat/stream", json=body) as streamed:
                        assert streamed.status_code == 200, streamed.read()
                        for line in streamed.iter_lines():
                            if first is None and line == "event: contentBlockDelta":
                                first = time.perf_counter()
                end = time.perf_counter()
                assert first is not None
                took[path] = ((first - start) * 1000, (end - start) * 1000)
            if index >= warmup:
                for path, (first_ms, total_ms) in took.items():
                    ttft[path].append(first_ms)
                    total[path].append(total_ms)
    finally:
        http.close()
    rows = []
    for label, key in (("(a) boto3 converse_stream, direct", "a"), ("(b) gateway /v1/chat/stream, local HTTP", "b")):
        rows.append(
            [
                label,
                *(f"{percentile(ttft[key], p):.1f}" for p in (50, 99)),
                *(f"{percentile(total[key], p):.1f}" for p in (50, 99)),
            ]
        )
    rows.append(
        [
            "added by the gateway (b-a)",
            *(f"{percentile(ttft['b'], p) - percentile(ttft['a'], p):.1f}" for p in (50, 99)),
            *(f"{percentile(total['b'], p) - percentile(total['a'], p):.1f}" for p in (50, 99)),
        ]
    )
    return "\n".join(
        [
            f"Streaming: {requests} streams after {warmup} warm-up, simulator at {PER_TOKEN_MS} ms per token, "
            f"80 output tokens, ms ({machine()})",
            table(["path", "TTFT p50", "TTFT p99", "total p50", "total p99"], rows),
        ]
    )


def _non_streamed(sim_url: str, moto_url: str, requests: int, warmup: int) -> str:
    os.environ.update(FMGW_SIMULATOR_URL=sim_url, FMGW_MOTO_URL=moto_url)
    from local.environment import LocalGateway

    sink = open(os.devnull, "w")  # noqa: SIM115 - logs and EMF produced as in production, written nowhere
    real_stdout, sys.stdout = sys.stdout, sink
    local = LocalGateway(port=0, log_level="INFO")
    local.start()
    os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
    from handlers.api import handler

    direct = _direct_client(sim_url)
    function = httpx.Client(base_url=local.streaming.url, timeout=30)  # the streaming function's own server

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"

    timings: dict[str, list[float]] = {"a": [], "c": [], "d": []}
    order = random.Random(13)
    try:
        for index in range(warmup + requests):
            text = f"{PROMPT} (plain request {index})"
            body = json.dumps({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": text}], "max_tokens": 512})
            context = {"requestId": str(uuid.uuid4()), "stage": "bench"}
            took: dict[str, float] = {}
            for path in order.sample("acd", 3):
                start = time.perf_counter_ns()
                if path == "a":
                    direct.converse(
                        modelId=MODEL_ID,
                        messages=[{"role": "user", "content": [{"text": text}]}],
                        inferenceConfig={"maxTokens": 512},
                    )
                elif path == "c":
                    event = {
                        "resource": "/v1/chat/completions",
                        "path": "/v1/chat/completions",
                        "httpMethod": "POST",
                        "headers": {"Content-Type": "application/json"},
                        "body": body,
                        "isBase64Encoded": False,
                        "requestContext": context,
                    }
                    response = handler(event, Context())
                    assert response["statusCode"] == 200, response
                else:
                    headers = {"content-type": "application/json", "x-amzn-request-context": json.dumps(context)}
                    over_http = function.post("/v1/chat/completions", content=body, headers=headers)
                    assert over_http.status_code == 200, over_http.text
                took[path] = (time.perf_counter_ns() - start) / 1e6
            if index >= warmup:
                for path, ms in took.items():
                    timings[path].append(ms)
    finally:
        sys.stdout = real_stdout
        sink.close()
        function.close()
        local.stop()
    rows = latency_rows(
        timings,
        [
            ("(a') boto3 converse, direct", "a"),
            ("(c) today's handler, in-process", "c"),
            ("(d) streaming function (uvicorn over local HTTP)", "d"),
        ],
        [("added by today's handler (c-a')", "c"), ("added by the streaming function (d-a')", "d")],
    )
    return "\n".join(
        [
            f"Non-streamed /v1/chat/completions: {requests} requests after {warmup} warm-up, ms",
            table(["path", "p50", "p99"], rows),
        ]
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "lambdas"))
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
