"""Cost per million requests of the gateway itself (not the model tokens), from list prices.

Model: every request is one API Gateway REST call and one Lambda invocation (arm64) that lasts the
model's latency plus the gateway's own overhead, since Lambda bills while it waits for Bedrock. One
response-cache write per request (a ~2 KB item = 2 write units); the breaker's cached read is one
strongly consistent read per model per ``stateCacheSeconds`` per warm sandbox, amortised here at one
read per two requests (a sandbox doing one request a second). Logs: ~1.5 KB of JSON log and EMF per
request. X-Ray: Lambda's default sampling (first request each second plus 5%), taken as 5%. AppConfig:
one configuration request per sandbox per 45 s, negligible and left out.
"""

from __future__ import annotations

from bench.common import table
from bench.rightsizing import DEPLOYED, at_size

PRICES = {  # USD, us-east-1 list prices
    "apigw_rest_per_million": 3.50,
    "lambda_request_per_million": 0.20,
    "lambda_arm_gb_second": 0.0000133334,
    "ddb_write_unit_per_million": 0.625,
    "ddb_read_unit_per_million": 0.125,
    "logs_ingest_per_gb": 0.50,
    "xray_trace_per_million": 5.00,
}
WRITE_UNITS, READS_PER_REQUEST, LOG_KB, XRAY_SAMPLED = 2, 0.5, 1.5, 0.05
EXAMPLE_TOKENS = (500, 300)  # input, output tokens of a typical chat turn


def per_million(memory_mb: int, seconds: float) -> dict[str, float]:
    p = PRICES
    return {
        "API Gateway": p["apigw_rest_per_million"],
        "Lambda requests": p["lambda_request_per_million"],
        "Lambda duration": memory_mb / 1024 * seconds * p["lambda_arm_gb_second"] * 1e6,
        "DynamoDB": WRITE_UNITS * p["ddb_write_unit_per_million"] + READS_PER_REQUEST * p["ddb_read_unit_per_million"],
        "CloudWatch Logs": LOG_KB * 1e6 / 1024 / 1024 * p["logs_ingest_per_gb"],
        "X-Ray": XRAY_SAMPLED * p["xray_trace_per_million"],
    }


def run(overhead_ms: float = 1.0) -> str:
    rows = []
    for memory in (DEPLOYED["api"], 1024):
        for model_seconds in (0.5, 2.0, 5.0):
            # the overhead was measured on a full core; below 1,769 MB Lambda gives a share of one (bench/rightsizing.py)
            parts = per_million(memory, model_seconds + at_size(overhead_ms, memory) / 1000)
            rows.append(
                [
                    f"{memory} MB" + (" (deployed)" if memory == DEPLOYED["api"] else " (before)"),
                    f"{model_seconds:.1f} s",
                    *(f"{value:.2f}" for value in parts.values()),
                    f"{sum(parts.values()):.2f}",
                ]
            )
    headers = ["Lambda memory", "model latency", *per_million(1024, 1), "total USD / 1M"]
    tokens_in, tokens_out = EXAMPLE_TOKENS
    haiku = (tokens_in * 0.001 + tokens_out * 0.005) / 1000 * 1e6
    sonnet = (tokens_in * 0.003 + tokens_out * 0.015) / 1000 * 1e6
    return "\n".join(
        [
            f"Cost per million requests, gateway only (list prices, us-east-1; gateway overhead {overhead_ms:.1f} ms)",
            table(headers, rows),
            f"For scale, the model tokens of the same million requests ({tokens_in} in / {tokens_out} out): "
            f"claude-haiku-4-5 ${haiku:,.0f}, claude-sonnet-4-5 ${sonnet:,.0f}.",
            "Lambda bills while it waits for Bedrock, so duration dominates: the API function is deployed at "
            f"{DEPLOYED['api']} MB (bench/rightsizing.py chose it from measured CPU time and peak memory).",
        ]
    )


if __name__ == "__main__":
    print(run())
