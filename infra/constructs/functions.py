"""The Lambda asset and a factory for the gateway's Python functions.

One staged asset (``build/lambda``) serves every function; each function gets its own role (no AWS managed
policy: log delivery is granted on its own log group only), an explicit one-month log group, JSON logging,
active X-Ray tracing and the Powertools public layer, resolved at deploy time from its public SSM parameter.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.bundle import build_lock, stage_lambda_bundle

POWERTOOLS_PARAMETER = "/aws/service/powertools/python/arm64/python3.13/{version}"
SERVICE_NAME = "fm-gateway"
METRICS_NAMESPACE = "FMGateway"


class GatewayFunctions(Construct):
    """Stages the code once, resolves the Powertools layer once, and builds functions from them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        powertools_version: str,
        removal_policy: RemovalPolicy,
        xray_sdk: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy
        self._xray_sdk = xray_sdk
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_PARAMETER.format(version=powertools_version))
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", layer_arn)
        with build_lock():
            self.code = lambda_.Code.from_asset(str(stage_lambda_bundle()))
            # Bind the asset while the lock is held: CDK copies the directory into its staging area here.
            self.api_handler = self.create(
                "ApiHandler",
                handler="handlers.api.handler",
                description="FM Gateway sync API: /v1/health, /v1/models, /v1/chat, task routes, /v1/chat/completions",
            )

    def create(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str] | None = None,
        memory_size: int = 1024,
        timeout: Duration | None = None,
    ) -> lambda_.Function:
        """A gateway function: python3.13 on arm64, JSON logs to its own log group, X-Ray active, Powertools layer."""
        scope = Construct(self, construct_id)
        log_group = logs.LogGroup(
            scope,
            "Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=self._removal_policy,
        )
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{construct_id}: log delivery to its own log group, X-Ray, and the grants added by the stack",
        )
        log_group.grant(role, "logs:CreateLogStream", "logs:PutLogEvents")
        function = lambda_.Function(
            scope,
            "Function",
            code=self.code,
            handler=handler,
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=memory_size,
            timeout=timeout or Duration.seconds(29),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            role=role,
            layers=[self.powertools_layer],
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                # fmgateway.telemetry builds Powertools' Tracer only when this is "false"
                "POWERTOOLS_TRACE_DISABLED": "false" if self._xray_sdk else "true",
                **(environment or {}),
            },
        )
        Validations.of(function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="The runtime is pinned to python3.13 on purpose: the Powertools public layer is resolved from "
                "/aws/service/powertools/python/arm64/python3.13/<version>, and the bundle is tested on 3.13.",
            )
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which have no "
                "resource-level permissions and must be granted on '*'.",
            )
        )
        return function
