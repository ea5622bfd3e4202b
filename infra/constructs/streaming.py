"""The streaming function: Python cannot stream a Lambda response natively, so the AWS Lambda Web Adapter layer runs
``run.sh`` (uvicorn serving ``handlers.streaming_app``) and streams its HTTP answers back
(``AWS_LWA_INVOKE_MODE=response_stream``), which API Gateway passes on with ``ResponseTransferMode.STREAM``.

It serves ``/v1/chat/completions`` (streamed and not: API Gateway chooses streaming per method, and the openai SDK sends
both kinds to the same path), ``/v1/chat/stream`` and the ``/stream`` task routes; its code is the shared bundle plus
its server's packages (``infra.bundle.stage_streaming_bundle``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.bundle import build_lock, stage_streaming_bundle
from infra.constructs.functions import GatewayFunctions, acknowledge_no_dead_letter_queue

# The Web Adapter's public layer for arm64 (its README lists the ARN per release; version 25 is adapter 0.9.1).
WEB_ADAPTER_ACCOUNT = "753240598075"
WEB_ADAPTER_LAYER_VERSION = 25
WEB_ADAPTER_PORT = "8080"
DEFAULT_STREAM_BUDGET_SECONDS = 300  # as fmgateway.core.streaming
# Time beyond the stream budget for the first token (the request budget) and the closing events.
TIMEOUT_MARGIN_SECONDS = 30
MAX_TIMEOUT_SECONDS = 900  # Lambda's limit, and API Gateway's for a streamed response (15 minutes)


def web_adapter_layer_arn() -> str:
    layer = f"layer:LambdaAdapterLayerArm64:{WEB_ADAPTER_LAYER_VERSION}"
    return f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{WEB_ADAPTER_ACCOUNT}:{layer}"


def stream_timeout(config: Mapping[str, Any]) -> Duration:
    """The function's (and the streamed integrations') timeout: the stream budget plus the margin, at most 15 minutes."""
    budget = config.get("timeouts", {}).get("streamBudgetSeconds", DEFAULT_STREAM_BUDGET_SECONDS)
    return Duration.seconds(min(MAX_TIMEOUT_SECONDS, int(budget) + TIMEOUT_MARGIN_SECONDS))


class StreamingHandler(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: GatewayFunctions, config: Mapping[str, Any]):
        super().__init__(scope, construct_id)
        self.timeout = stream_timeout(config)
        self.adapter_layer = lambda_.LayerVersion.from_layer_version_arn(self, "WebAdapterLayer", web_adapter_layer_arn())
        with build_lock():
            code = lambda_.Code.from_asset(str(stage_streaming_bundle()))
            # Bind the asset while the lock is held: CDK copies the directory into its staging area here.
            self.function = functions.create(
                "StreamingHandler",
                handler="run.sh",
                description="FM Gateway streaming: /v1/chat/completions (streamed and not), /v1/chat/stream, task routes' "
                "/stream (Lambda Web Adapter + uvicorn)",
                code=code,
                layers=[self.adapter_layer],
                timeout=self.timeout,
                environment={
                    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                    "AWS_LWA_INVOKE_MODE": "response_stream",
                    "AWS_LWA_PORT": WEB_ADAPTER_PORT,
                    "AWS_LWA_READINESS_CHECK_PATH": "/v1/health",
                },
            )
        acknowledge_no_dead_letter_queue(self.function, "API Gateway (Lambda proxy integration, response streaming)")
