"""Cold start: fresh interpreters importing a handler module and building its clients, against
``import boto3`` plus one ``bedrock-runtime`` client, interleaved run by run. Time is measured inside
each process from before the first import to when the clients exist (interpreter start-up is the same
for both and left out). Request-time work (the first AppConfig read, the first breaker read) is not
counted here, for either side; the handler's DynamoDB client is. The handler pauses the garbage collector
while it initialises (fmgateway.aws.coldstart); the last row applies the same pause to the baseline, to show
what the gateway costs against an equally tuned bare client.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from bench.common import ROOT, machine, table

TARGET_RATIO = 1.2

BASELINE = """
import time; t = time.perf_counter()
import boto3
boto3.client("bedrock-runtime", region_name="us-east-1")
print((time.perf_counter() - t) * 1000)
"""

BASELINE_GC_PAUSED = """
import time; t = time.perf_counter()
import gc; gc.disable()
import boto3
boto3.client("bedrock-runtime", region_name="us-east-1")
gc.freeze(); gc.enable()
print((time.perf_counter() - t) * 1000)
"""

HANDLER = """
import time; t = time.perf_counter()
import handlers.api
from fmgateway import runtime
runtime.gateway()  # the Bedrock and DynamoDB clients, and the configuration
print((time.perf_counter() - t) * 1000)
"""

STREAMING = """
import time; t = time.perf_counter()
import uvicorn.main  # what run.sh's ``python -m uvicorn`` imports before the app
import handlers.streaming_app
from fmgateway import runtime
runtime.gateway()
print((time.perf_counter() - t) * 1000)
"""

ENV = {
    "PYTHONPATH": str(ROOT / "lambdas"),
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "FMGW_CONFIG_FILE": str(ROOT / "config" / "gateway.json"),
    "FMGW_BREAKER_TABLE": "breaker",
    "FMGW_CACHE_TABLE": "cache",
    "POWERTOOLS_SERVICE_NAME": "fm-gateway",
    "POWERTOOLS_METRICS_NAMESPACE": "FMGateway",
    "PYTHONDONTWRITEBYTECODE": "0",
}


def _once(code: str, extra_env: dict | None = None) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**ENV, **(extra_env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def run(runs: int = 15) -> str:
    variants = {
        "import boto3 + bedrock-runtime client (baseline)": (BASELINE, None),
        "handlers.api (deployed default: X-Ray SDK off)": (HANDLER, {"POWERTOOLS_TRACE_DISABLED": "true"}),
        "handlers.api with the X-Ray SDK on (xraySdk=true)": (HANDLER, {"POWERTOOLS_TRACE_DISABLED": "false"}),
        "streaming function: uvicorn + handlers.streaming_app": (STREAMING, {"POWERTOOLS_TRACE_DISABLED": "true"}),
        "baseline with the handler's GC pause, for reference": (BASELINE_GC_PAUSED, None),
    }
    for code, env in variants.values():  # compile .pyc files once so no variant pays for it
        _once(code, env)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (code, env) in variants.items():
            samples[name].append(_once(code, env))
    baseline = statistics.median(next(iter(samples.values())))
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append([name, f"{median:.0f}", f"{min(values):.0f}", f"{max(values):.0f}", f"{median / baseline:.2f}x"])
    ratio = statistics.median(samples["handlers.api (deployed default: X-Ray SDK off)"]) / baseline
    verdict = f"target <= {TARGET_RATIO}x the baseline: {'MET' if ratio <= TARGET_RATIO else 'MISSED'} ({ratio:.2f}x)"
    return "\n".join(
        [
            f"Cold start: median of {runs} fresh interpreters each, ms ({machine()})",
            table(["what is imported and built", "median", "min", "max", "vs baseline"], rows),
            verdict,
        ]
    )


if __name__ == "__main__":
    print(run())
