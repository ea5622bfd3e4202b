"""Gateway overhead: the same request (a) straight to Bedrock with boto3, (b) through the Lambda handler
in-process, (c) through the local HTTP gateway, interleaved request by request in one run.

The Bedrock simulator (zero latency) and moto (DynamoDB) run in processes of their own, as Bedrock and
DynamoDB are remote in AWS. The handler runs with its production settings: JSON logs at INFO and EMF
metrics (both written to /dev/null here), breaker state read through its 2 s cache, the response cache
written on a background thread, ``model: "auto"`` so the content heuristic runs on every request.
Added latency is reported as the difference of the same percentile of (b) or (c) and of (a).
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

TARGET_P50_MS, TARGET_P99_MS = 1.0, 3.0
PROMPT = "Hello! Can you tell me what a circuit breaker does in a distributed system?"


def run(requests: int = 2000, warmup: int = 200) -> str:
    gw_port = free_port()
    sim_url, moto_url, processes = start_backends()
    external = {"FMGW_SIMULATOR_URL": sim_url, "FMGW_MOTO_URL": moto_url, "FMGW_LOG_LEVEL": "WARNING"}
    _, config_file = bench_config()
    try:
        processes.append(
            spawn(
                python("-m", "local", "--port", str(gw_port), "--config", str(config_file)),
                f"http://127.0.0.1:{gw_port}/v1/health",
                env=external,
            )
        )
        return _measure(sim_url, moto_url, f"http://127.0.0.1:{gw_port}", requests, warmup)
    finally:
        stop(processes)


def _measure(sim_url: str, moto_url: str, gateway_url: str, requests: int, warmup: int) -> str:
    os.environ.update(FMGW_SIMULATOR_URL=sim_url, FMGW_MOTO_URL=moto_url)
    from local.environment import LocalGateway

    # Logs and EMF go to /dev/null, but are produced as in production: Powertools' Logger keeps the
    # stream it was created with, so stdout is swapped before the handler is imported.
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives for the whole measurement
    real_stdout, sys.stdout = sys.stdout, sink
    local = LocalGateway(port=0, log_level="INFO")
    local.start()  # wires the in-process handler to the same simulator and moto; its HTTP front is unused
    os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)  # production emits EMF on every request
    from handlers.api import handler

    model_id = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    inference = {"maxTokens": 64}
    direct = boto3.client(
        "bedrock-runtime",
        endpoint_url=sim_url,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, tcp_keepalive=True),
    )

    def event(body: str) -> dict:
        return {
            "resource": "/v1/chat",
            "path": "/v1/chat",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": body,
            "isBase64Encoded": False,
            "requestContext": {"requestId": str(uuid.uuid4()), "stage": "bench"},
        }

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"

    http = httpx.Client(base_url=gateway_url, headers={"x-api-key": "fmgw-local-bench-key"}, timeout=30)
    timings: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    reported: list[float] = []
    order = random.Random(7)
    try:
        for index in range(warmup + requests):
            # a unique prompt per round (as real traffic: every answer is a new cache write), the same for a, b, c
            messages = [{"role": "user", "content": [{"text": f"{PROMPT} (request {index})"}]}]
            body = json.dumps({"model": "auto", "messages": messages, "inferenceConfig": inference})
            took: dict[str, float] = {}
            for path in order.sample("abc", 3):  # shuffled, so no path always runs after another
                start = time.perf_counter_ns()
                if path == "a":
                    direct.converse(modelId=model_id, messages=messages, inferenceConfig=inference)
                elif path == "b":
                    response = handler(event(body), Context())
                    assert response["statusCode"] == 200, response
                else:
                    over_http = http.post("/v1/chat", content=body, headers={"content-type": "application/json"})
                    assert over_http.status_code == 200, over_http.text
                took[path] = (time.perf_counter_ns() - start) / 1e6
            if index >= warmup:
                for path, ms in took.items():
                    timings[path].append(ms)
                reported.append(json.loads(response["body"])["gateway"]["overheadMs"])
    finally:
        sys.stdout = real_stdout
        sink.close()
        http.close()
        local.stop()

    rows = latency_rows(
        timings,
        [("(a) boto3 converse, direct", "a"), ("(b) gateway handler, in-process", "b"), ("(c) local HTTP gateway", "c")],
        [("added by handler (b-a)", "b"), ("added by HTTP gateway (c-a)", "c")],
        percentiles=(50, 90, 99),
        digits=3,
    )
    rows.append(["gateway.overheadMs self-reported", *(f"{percentile(reported, p):.3f}" for p in (50, 90, 99))])

    added_p50 = percentile(timings["b"], 50) - percentile(timings["a"], 50)
    added_p99 = percentile(timings["b"], 99) - percentile(timings["a"], 99)
    p50_ok, p99_ok = added_p50 <= TARGET_P50_MS, added_p99 <= TARGET_P99_MS
    verdict = (
        f"target in-process added p50 <= {TARGET_P50_MS} ms: {'MET' if p50_ok else 'MISSED'} ({added_p50:.3f} ms); "
        f"p99 <= {TARGET_P99_MS} ms: {'MET' if p99_ok else 'MISSED'} ({added_p99:.3f} ms)"
    )
    return "\n".join(
        [
            f"Gateway overhead: {requests} requests after {warmup} warm-up, latency in ms ({machine()})",
            table(["path", "p50", "p90", "p99"], rows),
            verdict,
        ]
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "lambdas"))
    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
