"""Right-sized functions: each function's measured CPU time and peak memory, and what that implies for Lambda sizes.

Measurement: one fresh interpreter per function (so its peak RSS is that function's alone) imports the real handler
and invokes it with real events, Bedrock being the simulator (zero latency) and AWS moto, both in processes of their
own. ``time.process_time()`` gives the CPU time of the import plus first invocation (the cold start's init and first
request) and of every later invocation; ``ru_maxrss`` the peak resident memory.

Estimate: Lambda gives a function CPU in proportion to its memory, 1,769 MB = one vCPU (AWS documentation), so a
single-threaded handler that needs ``c`` ms of a full core runs about ``c * 1769 / M`` ms at ``M`` MB below that.
Duration is billed for the whole invocation, and an invocation of the sync API mostly waits for Bedrock, so cost per
request ~ ``M / 1024 * (model wait + handler time at M) * price per GB-s``. The chosen size is the smallest whose warm
handler time stays within ``MAX_ADDED_WARM_MS``, whose cold init stays within ``MAX_INIT_MS`` and whose memory leaves at
least ``HEADROOM`` times the measured peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import (
    ROOT,
    machine,
    python,
    start_backends,
    stop,
    table,
)

SIZES = (128, 256, 512, 1024)
FULL_CORE_MB = 1769
LAMBDA_ARM_GB_SECOND = 0.0000133334  # USD, us-east-1
MAX_ADDED_WARM_MS = 10.0  # the handler's own time per request at the chosen size (README target: <= 1-3 ms on a full core)
MAX_INIT_MS = 1500.0  # a cold sandbox's init plus its first request, at the chosen size
HEADROOM = 1.5  # memory size >= 1.5 x the measured peak RSS
# infra: what this table chose (README "Right-sizing")
DEPLOYED = {"api": 512, "jobs-api": 1024, "routing-tasks": 512, "jobs-worker": 1024, "streaming": 1024}
# seconds each invocation waits for Bedrock (billed, independent of memory): a typical 1 s call for the functions that
# call a model; the jobs API only writes the job and enqueues it
MODEL_WAIT_S = {"api": 1.0, "jobs-api": 0.0, "routing-tasks": 1.0, "jobs-worker": 1.0, "streaming": 1.0}
FUNCTIONS = {
    "api": "sync API (POST /v1/chat, model auto)",
    "jobs-api": "jobs API (POST /v1/jobs)",
    "routing-tasks": "orchestrated routing tasks (plan + invoke per request)",
    "jobs-worker": "jobs worker (one queued job per SQS event, model auto)",
    "streaming": "streaming function's app (POST /v1/chat/stream read to its end; uvicorn and the Web Adapter not counted)",
}


def _context():
    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"

        def get_remaining_time_in_millis(self) -> int:  # the worker's idempotency reads it
            return 600_000

    return Context()


def _proxy(path: str, body: dict) -> dict:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "bench", "authorizer": {"apiKeyId": "bench"}},
    }


def _body(index: int) -> dict:
    text = f"Hello! Can you tell me what a circuit breaker does in a distributed system? (request {index})"
    return {"model": "auto", "messages": [{"role": "user", "content": [{"text": text}]}], "inferenceConfig": {"maxTokens": 64}}


def child(name: str, requests: int) -> dict:
    """Runs in a fresh interpreter: import + first call (init), then ``requests`` calls, CPU per call and peak RSS."""
    sys.path.insert(0, str(ROOT / "lambdas"))
    rss_bare = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sink = open(os.devnull, "w")  # noqa: SIM115 - Powertools' Logger keeps the stream it was created with
    sys.stdout = sink
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    prepare = None  # what a call needs that is not the function's own work (the worker's queued job), done untimed
    if name == "api":
        from handlers.api import handler

        def call(index: int, event: dict | None = None) -> None:
            response = handler(_proxy("/v1/chat", _body(index)), _context())
            assert response["statusCode"] == 200, response
    elif name == "jobs-api":
        from handlers.jobs_api import handler

        def call(index: int, event: dict | None = None) -> None:
            response = handler(_proxy("/v1/jobs", _body(index)), _context())
            assert response["statusCode"] == 202, response
    elif name == "streaming":
        from handlers.streaming_app import handle

        def call(index: int, event: dict | None = None) -> None:
            response = handle(_proxy("/v1/chat/stream", _body(index)))
            assert response["statusCode"] == 200, response
            for _ in response["stream"]:
                pass
    elif name == "jobs-worker":
        from fmgateway import runtime
        from handlers.jobs_worker import handler

        def prepare(index: int) -> dict:
            job, _ = runtime.jobs().submit("bench", _body(index))
            record = {"messageId": str(uuid.uuid4()), "receiptHandle": "bench", "body": json.dumps({"jobId": job["jobId"]})}
            record |= {"attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs"}
            return {"Records": [record]}

        def call(index: int, event: dict | None = None) -> None:
            response = handler(event, _context())
            assert response["batchItemFailures"] == [], response
    else:
        from handlers.routing_tasks import handler

        def call(index: int, event: dict | None = None) -> None:
            request = {**_body(index), "tier": "simple"}
            request.pop("model")
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            plan = handler({"action": "plan", "request": request, "startedAt": now}, _context())
            candidate = plan["candidates"][0]
            payload = {"request": request, "plan": plan, "startedAt": now, "now": now, "candidate": candidate}
            payload["executionArn"] = "bench"
            assert "output" in handler({"action": "invoke", **payload}, _context())

    before_prepare = time.process_time()
    first = prepare(-1) if prepare else None
    prepare_cpu = time.process_time() - before_prepare  # the worker's first job, submitted: not the worker's init
    call(-1, first)
    init_cpu_ms = (time.process_time() - started_cpu - prepare_cpu) * 1000
    init_wall_ms = (time.perf_counter() - started_wall - prepare_cpu) * 1000
    per_call: list[float] = []
    for index in range(requests):
        event = prepare(index) if prepare else None
        before = time.process_time()
        call(index, event)
        per_call.append((time.process_time() - before) * 1000)
    sys.stdout = sys.__stdout__
    return {
        "initCpuMs": init_cpu_ms,
        "initWallMs": init_wall_ms,
        "cpuMsMean": statistics.fmean(per_call),
        "cpuMsP50": statistics.median(per_call),
        "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bareRssMb": rss_bare / 1024,
    }


def measure(requests: int = 500) -> dict[str, dict]:
    sim_url, moto_url, processes = start_backends()
    try:
        from local.aws_resources import create_resources

        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        resources = create_resources(moto_url, "us-east-1")
        config = json.loads((ROOT / "config" / "gateway.json").read_text())
        config_file = Path(tempfile.mkdtemp()) / "gateway.json"
        config_file.write_text(json.dumps(config))
        env = {
            **os.environ,
            **resources,
            "FMGW_CONFIG_FILE": str(config_file),
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": sim_url,
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "fm-gateway",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "FMGatewayBench",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "PYTHONPATH": f"{ROOT / 'lambdas'}{os.pathsep}{ROOT}",
        }
        results = {}
        for name in FUNCTIONS:
            out = subprocess.run(
                python("-m", "bench.rightsizing", "--child", name, str(requests)),
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if out.returncode:
                raise RuntimeError(f"measuring {name} failed:\n{out.stderr[-3000:]}")
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        return results
    finally:
        stop(processes)


def at_size(cpu_ms: float, memory_mb: int) -> float:
    """Single-threaded CPU-bound time at ``memory_mb``: one full core at 1,769 MB and above, proportional below."""
    return cpu_ms * max(1.0, FULL_CORE_MB / memory_mb)


def choose(figures: dict) -> int:
    """The smallest size that meets the latency and headroom bounds: below 1,769 MB a CPU-bound invocation costs the same
    GB-seconds at any size, and one that waits for Bedrock costs less the smaller it is, so smaller is never dearer."""
    for size in SIZES:
        if (
            at_size(figures["cpuMsMean"], size) <= MAX_ADDED_WARM_MS
            and at_size(figures["initCpuMs"], size) <= MAX_INIT_MS
            and size >= HEADROOM * figures["peakRssMb"]
        ):
            return size
    return SIZES[-1]


def run(requests: int = 500) -> str:
    results = measure(requests)
    lines = [
        f"Right-sizing: CPU per call and peak RSS measured over {requests} calls of each real handler ({machine()}); "
        f"time at a size = CPU x max(1, {FULL_CORE_MB} / MB); cost per 1M invocations with the model wait each "
        "function bills (api and routing-tasks 1 s, jobs-api none)",
    ]
    rows = []
    for name, figures in results.items():
        chosen = choose(figures)
        for size in SIZES:
            warm = at_size(figures["cpuMsMean"], size)
            init = at_size(figures["initCpuMs"], size)
            wait = MODEL_WAIT_S[name]
            cost = size / 1024 * max(0.001, wait + warm / 1000) * LAMBDA_ARM_GB_SECOND * 1e6  # billed per 1 ms
            marks = ("chosen" if size == chosen else "") + (" deployed" if DEPLOYED.get(name) == size else "")
            rows.append(
                [
                    name,
                    f"{size} MB",
                    f"{figures['cpuMsMean']:.2f}",
                    f"{warm:.1f}",
                    f"{init:.0f}",
                    f"{figures['peakRssMb']:.0f}",
                    f"{size / figures['peakRssMb']:.1f}x",
                    f"{cost:.2f}",
                    f"{cost * (wait + warm / 1000):.4f}",
                    marks.strip(),
                ]
            )
    headers = ["function", "memory", "CPU ms/call", "handler ms", "init ms", "peak RSS MB", "headroom", "USD/1M", "USD x s", ""]
    lines.append(table(headers, rows))
    inits = ", ".join(f"{name} {figures['initCpuMs']:.0f} ms" for name, figures in results.items())
    lines.append(
        f"chosen: the smallest size with handler time <= {MAX_ADDED_WARM_MS:g} ms, init <= {MAX_INIT_MS:g} ms and memory >= "
        f"{HEADROOM:g}x peak RSS; init = import + first call CPU ({inits} "
        "on a full core here)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
    else:
        sys.path.insert(0, str(ROOT / "lambdas"))
        print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
