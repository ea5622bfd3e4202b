"""The Lambda asset and a factory for the gateway's Python functions.

One staged asset (``build/lambda``) serves every function; each function gets its own role (no AWS managed
policy: log delivery is granted on its own log group only), an explicit one-month log group encrypted with the stack
key, its environment encrypted with the same key, JSON logging, active X-Ray tracing and the Powertools public layer
for the same Python version, resolved at deploy time from its public SSM parameter.

Optional, from the stack settings: a reserved concurrency per function (by construct id, e.g. ``ApiHandler``), and a
``GatewayNetwork`` that puts every function in private subnets behind VPC endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IValidation

from infra.bundle import build_lock, stage_lambda_bundle
from infra.compliance import acknowledge, encrypted_log_group
from infra.constructs.network import GatewayNetwork

# The project's Lambda runtime (the developers' guide: the code is written and tested for 3.13). Powertools
# publishes its layer under the runtime's name (/aws/service/powertools/python/<arch>/<runtime>/<version>, also
# for python3.14 since Powertools 3.24.0): moving to 3.14 is this one constant, once the code is tested on it.
RUNTIME = lambda_.Runtime.PYTHON_3_13
NOT_LATEST_RUNTIME = (
    "python3.13 on purpose: the project targets and tests the Lambda code on 3.13 (python3.14 exists; moving is the "
    "RUNTIME constant in infra/constructs/functions.py, with the Powertools layer of the same name)."
)
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/arm64/" + RUNTIME.name + "/{version}"
SERVICE_NAME = "fm-gateway"
METRICS_NAMESPACE = "FMGateway"

NO_RESERVED_CONCURRENCY = (
    "No reserved concurrency by default: reserving it takes capacity from the account's unreserved pool, and a deploy "
    "fails on accounts whose concurrency quota is low (new accounts start at 10). Set it per function with the "
    "reservedConcurrency context (README, Deployment)."
)
NO_VPC = (
    "Not in a VPC by default: the function reaches only AWS service APIs (Bedrock, DynamoDB, SQS, SNS, S3, AppConfig) "
    "over TLS with IAM, and no private resource. Teams that require VPC-attached functions deploy with the vpc "
    "context: private subnets and VPC endpoints (README, Deployment)."
)


def acknowledge_no_dead_letter_queue(function: lambda_.Function, invoked_by: str) -> None:
    """Excuse the missing DLQ of a function that is never invoked asynchronously, naming its synchronous caller.

    Lambda DLQs only ever receive asynchronous invocations (events from S3, SNS, EventBridge, ``Event`` invokes).
    """
    acknowledge(
        function,
        f"Invoked synchronously by {invoked_by}, never asynchronously: a function DLQ would never receive anything.",
        nag=("Serverless-LambdaDLQ",),
        checkov=("CKV_AWS_116",),
    )


@jsii.implements(IValidation)
class _KnownFunctionNames:
    """Fails the synth when the reserved-concurrency setting names a function the stack does not have."""

    def __init__(self, functions: GatewayFunctions) -> None:
        self._functions = functions

    def validate(self) -> list[str]:
        unknown = sorted(set(self._functions.reserved_concurrency) - set(self._functions.names))
        if not unknown:
            return []
        return [
            f"context 'reservedConcurrency' names {', '.join(unknown)}, which are not functions of this stack "
            f"(functions: {', '.join(self._functions.names)})"
        ]


# Right-sized from measured CPU time and peak memory (bench/rightsizing.py, README "Right-sized functions"): the
# functions that wait for Bedrock are billed for the wait, so they run at the smallest size whose own handler time
# and cold init stay acceptable; the others keep the default.
API_MEMORY_MB = 512
ROUTING_TASKS_MEMORY_MB = 512


class GatewayFunctions(Construct):
    """Stages the code once, resolves the Powertools layer once, and builds functions from them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        powertools_version: str,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        xray_sdk: bool = False,
        reserved_concurrency: Mapping[str, int] | None = None,
        network: GatewayNetwork | None = None,
        generated_files: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self._removal_policy = removal_policy
        self._xray_sdk = xray_sdk
        self.reserved_concurrency = dict(reserved_concurrency or {})
        self.network = network
        self.names: list[str] = []
        self.node.add_validation(_KnownFunctionNames(self))
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_PARAMETER.format(version=powertools_version))
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", layer_arn)
        with build_lock():
            self.code = lambda_.Code.from_asset(str(stage_lambda_bundle(generated=generated_files)))
            # Bind the asset while the lock is held: CDK copies the directory into its staging area here.
            self.api_handler = self.create(
                "ApiHandler",
                handler="handlers.api.handler",
                memory_size=API_MEMORY_MB,
                description="FM Gateway sync API: /v1/health, /v1/models, /v1/chat, task routes, /v1/chat/completions",
            )
        acknowledge_no_dead_letter_queue(self.api_handler, "API Gateway (Lambda proxy integration)")

    def create(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str] | None = None,
        memory_size: int = 1024,
        timeout: Duration | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        code: lambda_.Code | None = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
        outside_vpc_reason: str | None = None,
    ) -> lambda_.Function:
        """A gateway function: ``RUNTIME`` on arm64, JSON logs to its own encrypted log group, X-Ray active, Powertools
        layer, environment encrypted with the stack key; reserved concurrency and VPC as the stack settings say.

        Asynchronously invoked functions get a ``dead_letter_queue`` (CDK grants sqs:SendMessage; an encrypted queue also
        needs its key through SQS); callers acknowledge the DLQ finding of synchronously invoked ones
        (``acknowledge_no_dead_letter_queue``). ``code`` replaces the shared asset, ``layers`` come after Powertools'.
        ``outside_vpc_reason``: keep this function out of the VPC even in VPC mode, for that reason (e.g. it calls a
        service that has no VPC endpoint).
        """
        in_vpc = self.network is not None and outside_vpc_reason is None
        scope = Construct(self, construct_id)
        self.names.append(construct_id)
        log_group = encrypted_log_group(scope, "Logs", key=self.key, removal_policy=self._removal_policy)
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
            code=code or self.code,
            handler=handler,
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=memory_size,
            timeout=timeout or Duration.seconds(29),
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            role=role,
            layers=[self.powertools_layer, *layers],
            environment_encryption=self.key,
            dead_letter_queue=dead_letter_queue,
            reserved_concurrent_executions=self.reserved_concurrency.get(construct_id),
            **(self.network.function_placement() if self.network and in_vpc else {}),
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                # fmgateway.aws.telemetry builds Powertools' Tracer only when this is "false"
                "POWERTOOLS_TRACE_DISABLED": "false" if self._xray_sdk else "true",
                **(environment or {}),
            },
        )
        acknowledge(function, NOT_LATEST_RUNTIME, nag=("AwsSolutions-L1", "Serverless-LambdaLatestVersion"))
        if construct_id not in self.reserved_concurrency:
            acknowledge(function, NO_RESERVED_CONCURRENCY, checkov=("CKV_AWS_115",))
        if self.network is None:
            acknowledge(function, NO_VPC, checkov=("CKV_AWS_117",))
        elif not in_vpc:
            acknowledge(function, str(outside_vpc_reason), checkov=("CKV_AWS_117",))
        else:
            self.network.acknowledge_function_role(role)
        acknowledge(
            role,
            "Active X-Ray tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which have no "
            "resource-level permissions and must be granted on '*'.",
            nag=("AwsSolutions-IAM5[Resource::*]",),
        )
        return function
