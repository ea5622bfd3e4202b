"""The orchestrated path (POST /v1/chat/orchestrated): its cost per million requests next to the Lambda path's,
and its added latency measured locally.

Cost, from list prices and the synthesized template (function memory sizes): API Gateway; Express executions
($1 per million + duration in 100 ms steps of 64 MB); the routing-tasks Lambda invocations (classify for
``auto``, plan, invoke; the invoke task waits for the model, so its duration is the model latency); DynamoDB
(one consistent breaker read per candidate tried, the response-cache write); logs. Two designs are priced: a
Lambda task that waits on Bedrock (what deploys: it runs the core's invocation step, which the tests execute
faithfully) and a direct ``aws-sdk:bedrockruntime:converse`` task (the machine waits instead: Express duration is
cheaper than Lambda duration, but moto's interpreter cannot run that task as AWS does, see README).

Latency: the same request interleaved three ways against the Bedrock simulator: boto3 directly, the Lambda
handler in-process, and the orchestrated route in-process (moto's Step Functions interpreter, real tasks,
the mapping templates rendered). The interpreter's figure is local, not AWS's: Express state transitions
and Lambda invocations add their own network hops in AWS.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
import uuid

from bench.common import (
    ROOT,
    latency_rows,
    machine,
    table,
)
from bench.cost import PRICES, per_million

EXPRESS = {"request_per_million": 1.00, "gb_second": 0.00001667, "memory_gb": 64 / 1024, "step_seconds": 0.1}
TASK_SECONDS = 0.015  # a classify/plan/record task: measured locally well under this; billed per 1 ms
LOG_KB_PER_TASK = 1.0


def deployed_memory() -> dict[str, int]:
    """Memory of the API function and the routing-tasks function, from the synthesized template."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.settings import cdk_json_context
    from infra.stack import create_stack

    doc = Template.from_stack(create_stack(App(context=cdk_json_context()), account=None)).to_json()
    memory = {}
    for resource in doc["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            handler = resource["Properties"]["Handler"]
            if handler in ("handlers.api.handler", "handlers.routing_tasks.handler"):
                memory[handler.split(".")[1]] = resource["Properties"]["MemorySize"]
    return memory


def express_duration(seconds: float) -> float:
    steps = math.ceil(seconds / EXPRESS["step_seconds"])
    return steps * EXPRESS["step_seconds"] * EXPRESS["memory_gb"] * EXPRESS["gb_second"] * 1e6


def orchestrated_per_million(task_mb: int, model_seconds: float, overhead_s: float, direct_sdk: bool) -> dict[str, float]:
    lambda_gb_s = PRICES["lambda_arm_gb_second"] * task_mb / 1024
    short_tasks = 3 if direct_sdk else 2  # classify + plan (+ record outcome when the machine calls Bedrock itself)
    waiting = 0.0 if direct_sdk else model_seconds + TASK_SECONDS
    invocations = short_tasks + (0 if direct_sdk else 1)
    return {
        "API Gateway": PRICES["apigw_rest_per_million"],
        "Express requests": EXPRESS["request_per_million"],
        "Express duration": express_duration(model_seconds + overhead_s),
        "Lambda requests": invocations * PRICES["lambda_request_per_million"],
        "Lambda duration": (short_tasks * TASK_SECONDS + waiting) * lambda_gb_s * 1e6,
        "DynamoDB": 2 * PRICES["ddb_write_unit_per_million"] + 1 * PRICES["ddb_read_unit_per_million"],
        "CloudWatch Logs": invocations * LOG_KB_PER_TASK * 1e6 / 1024 / 1024 * PRICES["logs_ingest_per_gb"],
        "X-Ray": 0.05 * PRICES["xray_trace_per_million"],
    }


def cost_table(overhead_ms: float) -> str:
    memory = deployed_memory()
    rows = []
    for model_seconds in (0.5, 2.0, 5.0):
        lambda_path = sum(per_million(memory["api"], model_seconds + overhead_ms / 1000).values())
        for label, direct in (("Lambda task waits (deployed)", False), ("aws-sdk converse task", True)):
            parts = orchestrated_per_million(memory["routing_tasks"], model_seconds, 0.1, direct)
            rows.append([f"{model_seconds:.1f} s", label, *(f"{v:.2f}" for v in parts.values()), f"{sum(parts.values()):.2f}",
                         f"{lambda_path:.2f}"])  # fmt: skip
    headers = ["model latency", "orchestrated design", *orchestrated_per_million(512, 1, 0.1, False), "total USD / 1M",
               "Lambda path total"]  # fmt: skip
    return "\n".join(
        [
            "Cost per million requests, orchestrated path (list prices, us-east-1; Express 64 MB in 100 ms steps; "
            f"memory from the template: API function {memory['api']} MB, routing tasks {memory['routing_tasks']} MB; "
            "auto requests: classify + plan + invoke tasks)",
            table(headers, rows),
            "The deployed design keeps a Lambda waiting on Bedrock, as the Lambda path does, and adds Express and two short "
            "tasks; the aws-sdk design waits in the state machine, whose duration costs a fraction of Lambda's.",
        ]
    )


def latency(requests: int = 200, warmup: int = 20) -> str:
    sys.path.insert(0, str(ROOT / "lambdas"))
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]  # an earlier table's local mode pointed boto3 at its own moto; here moto is in-process
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_NAMESPACE="FMGatewayBench")
    os.environ.update(POWERTOOLS_LOG_LEVEL="WARNING")
    import boto3
    from botocore.config import Config
    from moto import mock_aws

    from fmgateway import runtime
    from local.aws_resources import NAMES, create_state_tables
    from local.bedrock_simulator import BedrockSimulator
    from local.orchestration import (
        MOTO_SFN_CONFIG,
        ROUTING_TASKS_FUNCTION,
        OrchestratedRoute,
        create_state_machine,
        lambda_dispatch,
    )

    sink = open(os.devnull, "w")  # noqa: SIM115 - lives for the whole measurement
    real_stdout, sys.stdout = sys.stdout, sink
    timings: dict[str, list[float]] = {"a": [], "b": [], "d": []}
    try:
        with BedrockSimulator(use_env=False) as sim, mock_aws(config=MOTO_SFN_CONFIG):
            os.environ.update(
                FMGW_CONFIG_FILE=str(ROOT / "config" / "gateway.json"),
                FMGW_BREAKER_TABLE=NAMES["FMGW_BREAKER_TABLE"],
                FMGW_CACHE_TABLE=NAMES["FMGW_CACHE_TABLE"],
                AWS_ENDPOINT_URL_BEDROCK_RUNTIME=sim.url,
            )
            runtime.reset()
            create_state_tables(boto3.client("dynamodb", region_name="us-east-1"))
            from handlers import api, routing_tasks

            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{ROUTING_TASKS_FUNCTION}"
            route = OrchestratedRoute(sfn, create_state_machine(sfn, NAMES["FMGW_BREAKER_TABLE"], function_arn))
            direct = boto3.client("bedrock-runtime", endpoint_url=sim.url, region_name="us-east-1",
                                  config=Config(retries={"mode": "standard", "total_max_attempts": 1}))  # fmt: skip

            class Context:
                function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "bench"
                invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"

            order = random.Random(7)
            with lambda_dispatch({ROUTING_TASKS_FUNCTION: routing_tasks.handler}):
                for index in range(warmup + requests):
                    messages = [{"role": "user", "content": [{"text": f"Hello, what is a circuit breaker? ({index})"}]}]
                    body = json.dumps({"model": "auto", "messages": messages, "inferenceConfig": {"maxTokens": 64}})
                    event = {"resource": "/v1/chat", "path": "/v1/chat", "httpMethod": "POST", "headers": {}, "body": body,
                             "requestContext": {"requestId": str(uuid.uuid4()), "identity": {"apiKeyId": "bench"}}}  # fmt: skip
                    took = {}
                    for path in order.sample("abd", 3):
                        start = time.perf_counter_ns()
                        if path == "a":
                            direct.converse(modelId="us.anthropic.claude-haiku-4-5-20251001-v1:0", messages=messages,
                                            inferenceConfig={"maxTokens": 64})  # fmt: skip
                        elif path == "b":
                            assert api.handler(event, Context())["statusCode"] == 200
                        else:
                            assert route(event)["statusCode"] == 200
                        took[path] = (time.perf_counter_ns() - start) / 1e6
                    if index >= warmup:
                        for path, ms in took.items():
                            timings[path].append(ms)
    finally:
        sys.stdout = real_stdout
        sink.close()
        runtime.reset()
    rows = latency_rows(
        timings,
        [
            ("(a) boto3 converse, direct", "a"),
            ("(b) Lambda path, handler in-process", "b"),
            ("(d) orchestrated, local interpreter", "d"),
        ],
        [("added by the Lambda path (b-a)", "b"), ("added by orchestration, local (d-a)", "d")],
    )
    return "\n".join(
        [
            f"Orchestrated path: {requests} requests after {warmup} warm-up, model 'auto', latency in ms ({machine()})",
            table(["path", "p50", "p99"], rows),
            "(d) is moto's Step Functions interpreter in this process, not AWS: it shows what the state machine's steps "
            "cost locally (tasks, templates, native breaker read), not Express's own latency.",
        ]
    )


if __name__ == "__main__":
    print(latency())
    print(cost_table(0.5))
