"""What the API-key authorizer adds per request: latency measured locally, cost per million requests from list prices.

Local measurement: the local API Gateway front in-process (``LocalApiGateway.handle``, no sockets) in front of a
function that answers at once, with the real authorizer handler (keys and usage plans in moto's API Gateway) and with
the plain ``x-api-key`` check (the ``apiKeySource=header`` context). The difference is the authorizer's own work per
request on a warm sandbox (its key snapshot cached). A key-snapshot reload (once per sandbox per 60 s, or per 10 s
while unknown keys arrive) is measured on its own against moto.

In AWS, API Gateway also spends a network hop invoking the authorizer function (typically single-digit to ~20 ms on a
warm function; cold starts add the function's init, ~300 ms with boto3), which no local measurement can show.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import time

from bench.common import ROOT, percentile, table

PRICES = {"lambda_request_per_million": 0.20, "lambda_arm_gb_second": 0.0000133334}  # USD, us-east-1 list prices
AUTHORIZER_MEMORY_MB = 256  # infra/constructs/key_authorizer.py


def _answer(event: dict, context) -> dict:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


def measure(requests: int = 2000) -> dict[str, float]:
    from moto.server import ThreadedMotoServer

    from local.api_gateway import LocalApiGateway, Route
    from local.aws_resources import create_api_keys

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )  # fmt: skip
    try:
        from handlers import authorizer

        config = json.loads((ROOT / "config" / "gateway.json").read_text())
        config["plans"] = {"bench": {"rateLimit": 1e9, "burstLimit": 10**9, "quotaPerDay": 10**12}}
        config["stage"] = {"rateLimit": 1e9, "burstLimit": 10**9}
        key = "fmgw-bench-authorizer-key"
        api_id, _ = create_api_keys(config["plans"], {key: "bench"}, f"http://{host}:{port}", stage="local")
        routes = [Route("/v1/models", {"GET": None}, _answer)]
        fronts = {
            "header": LocalApiGateway(routes, config, {key: "bench"}),
            "authorizer": LocalApiGateway(routes, config, {key: "bench"}, authorizer=authorizer.handler, api_id=api_id),
        }
        headers = {"header": {"x-api-key": key}, "authorizer": {"Authorization": f"Bearer {key}"}}
        timings: dict[str, list[float]] = {name: [] for name in fronts}
        for index in range(200 + requests):
            for name, front in fronts.items():
                start = time.perf_counter_ns()
                status = front.handle("GET", "/v1/models", "", headers[name], b"")[0]
                took = (time.perf_counter_ns() - start) / 1e6
                assert status == 200, status
                if index >= 200:
                    timings[name].append(took)
        reloads = []
        for _ in range(20):
            authorizer.DIRECTORY._snapshots.clear()
            start = time.perf_counter_ns()
            authorizer.DIRECTORY.find(key, api_id, "local")
            reloads.append((time.perf_counter_ns() - start) / 1e6)
    finally:
        moto.stop()
    return {
        "header_p50": statistics.median(timings["header"]),
        "authorizer_p50": statistics.median(timings["authorizer"]),
        "header_p99": percentile(timings["header"], 99),
        "authorizer_p99": percentile(timings["authorizer"], 99),
        "reload_p50": statistics.median(reloads),
    }


def cost_per_million(billed_ms: float, memory_mb: int = AUTHORIZER_MEMORY_MB) -> dict[str, float]:
    """Lambda bills each invocation in whole milliseconds (at least 1); API Gateway does not bill authorizer calls."""
    billed = max(1, math.ceil(billed_ms))
    return {
        "Lambda requests": PRICES["lambda_request_per_million"],
        "Lambda duration": memory_mb / 1024 * billed / 1000 * PRICES["lambda_arm_gb_second"] * 1e6,
    }


def run(requests: int = 2000) -> str:
    m = measure(requests)
    added50, added99 = m["authorizer_p50"] - m["header_p50"], m["authorizer_p99"] - m["header_p99"]
    rows = [
        ["x-api-key header check (apiKeySource=header)", f"{m['header_p50']:.3f}", f"{m['header_p99']:.3f}"],
        ["key authorizer, warm, key snapshot cached", f"{m['authorizer_p50']:.3f}", f"{m['authorizer_p99']:.3f}"],
        ["added by the authorizer", f"{added50:.3f}", f"{added99:.3f}"],
        ["key snapshot reload (moto; once per 60 s per sandbox)", f"{m['reload_p50']:.3f}", ""],
    ]
    lines = [
        f"API-key authorizer, local front in-process, {requests} requests each (ms)",
        table(["path", "p50", "p99"], rows),
        "",
    ]
    cost_rows = []
    for billed in (1, 2, 5):
        parts = cost_per_million(billed)
        cost_rows.append([f"{billed} ms", *(f"{v:.4f}" for v in parts.values()), f"{sum(parts.values()):.4f}"])
    lines += [
        f"Authorizer cost per million requests (list prices, us-east-1, arm64, {AUTHORIZER_MEMORY_MB} MB; a warm "
        f"invocation bills 1-2 ms; API Gateway itself does not bill authorizer calls; control-plane reads are free)",
        table(["billed duration", *cost_per_million(1), "total USD / 1M"], cost_rows),
        "apiKeySource=header avoids both: no authorizer function, only the x-api-key header.",
    ]
    return "\n".join(lines)
