"""The FM Gateway stack: one stack composed of one construct per concern."""

from __future__ import annotations

import json
import os
from typing import Any

from aws_cdk import Acknowledgment, App, CfnOutput, Duration, Environment, RemovalPolicy, Stack, Tags, Token, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra import openapi
from infra.constructs.api import GatewayApi
from infra.constructs.config_store import ConfigStore
from infra.constructs.functions import ROUTING_TASKS_MEMORY_MB, GatewayFunctions, acknowledge_no_dead_letter_queue
from infra.constructs.inference_access import InferenceAccess
from infra.constructs.invocation_logging import InvocationLogging
from infra.constructs.jobs import Jobs
from infra.constructs.key_authorizer import KeyAuthorizerFunction
from infra.constructs.model_customization import ModelCustomization
from infra.constructs.network import GatewayNetwork
from infra.constructs.observability import Observability
from infra.constructs.routing_workflow import RoutingWorkflow
from infra.constructs.state_tables import StateTables
from infra.constructs.streaming import StreamingHandler
from infra.settings import Settings, load_settings, router_artifact_objects, tier_candidates


class GatewayStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"FM Gateway ({settings.environment}): serverless gateway in front of Amazon Bedrock",
            **kwargs,
        )
        self.settings = settings
        config = settings.config
        prefix = settings.resource_prefix
        removal = RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY
        Tags.of(self).add("project", "fm-gateway")
        Tags.of(self).add("environment", settings.environment)

        self.state = StateTables(self, "State", prefix=prefix, removal_policy=removal)
        self.network = GatewayNetwork(self, "Network", key=self.state.key, removal_policy=removal) if settings.vpc else None
        self.functions = GatewayFunctions(
            self,
            "Functions",
            powertools_version=settings.powertools_version,
            key=self.state.key,
            removal_policy=removal,
            xray_sdk=settings.xray_sdk,
            reserved_concurrency=settings.reserved_concurrency,
            network=self.network,
            # GET /v1/openapi.json serves the API description generated from schemas/ and the configuration
            generated_files={"openapi.json": json.dumps(openapi.document(config, title=f"FM Gateway ({settings.environment})"))},
        )
        api_handler = self.functions.api_handler
        api_handler.add_environment("FMGW_BREAKER_TABLE", self.state.breaker_table.table_name)
        api_handler.add_environment("FMGW_CACHE_TABLE", self.state.cache_table.table_name)
        self.state.grant_state_access(api_handler)

        self.inference = InferenceAccess(
            self, "InferenceAccess", config=config, endpoint_prefix=settings.sagemaker_endpoint_prefix
        )
        self.inference.grant_invoke(api_handler)

        self.jobs = Jobs(
            self,
            "Jobs",
            prefix=prefix,
            functions=self.functions,
            key=self.state.key,
            settings=settings.jobs,
            removal_policy=removal,
        )
        # The worker runs jobs through the same core as the sync API: breaker and cache state, Bedrock.
        worker = self.jobs.worker
        worker.add_environment("FMGW_BREAKER_TABLE", self.state.breaker_table.table_name)
        worker.add_environment("FMGW_CACHE_TABLE", self.state.cache_table.table_name)
        self.state.grant_state_access(worker)
        self.inference.grant_invoke(worker)
        # Opt-in: Bedrock model invocation logging for the account and region, into a bucket of this stack.
        self.invocation_logging = (
            InvocationLogging(
                self,
                "InvocationLogging",
                functions=self.functions,
                key=self.state.key,
                access_log_bucket=self.jobs.access_log_bucket,
                settings=settings.invocation_logging,
                removal_policy=removal,
            )
            if settings.invocation_logging
            else None
        )
        # The orchestrated route: its Lambda tasks run the same core with the same state and Bedrock access.
        routing_tasks = self.functions.create(
            "RoutingTasks",
            handler="handlers.routing_tasks.handler",
            memory_size=ROUTING_TASKS_MEMORY_MB,
            description="FM Gateway orchestrated routing: the state machine's Lambda tasks (classify, plan, admit, invoke, "
            "record, fallback)",
            timeout=Duration.seconds(28),
        )
        acknowledge_no_dead_letter_queue(
            routing_tasks, "Step Functions (a Lambda task; the state machine's Retry and Catch handle its failures)"
        )
        routing_tasks.add_environment("FMGW_BREAKER_TABLE", self.state.breaker_table.table_name)
        routing_tasks.add_environment("FMGW_CACHE_TABLE", self.state.cache_table.table_name)
        self.state.grant_state_access(routing_tasks)
        self.inference.grant_invoke(routing_tasks)
        self.routing = RoutingWorkflow(
            self,
            "Routing",
            tasks_function=routing_tasks,
            breaker_table=self.state.breaker_table,
            key=self.state.key,
            log_level=settings.orchestrated_log_level,
            removal_policy=removal,
        )
        # The streaming function: same core, state and Bedrock access; its own asset and the Web Adapter layer.
        self.streaming = StreamingHandler(self, "Streaming", functions=self.functions, config=config)
        streaming_handler = self.streaming.function
        streaming_handler.add_environment("FMGW_BREAKER_TABLE", self.state.breaker_table.table_name)
        streaming_handler.add_environment("FMGW_CACHE_TABLE", self.state.cache_table.table_name)
        self.state.grant_state_access(streaming_handler)
        self.inference.grant_invoke(streaming_handler)
        # On by default (context customization): train, serve for evaluation, measure and decide; never live routing.
        self.customization = (
            ModelCustomization(
                self,
                "Customization",
                prefix=prefix,
                config=config,
                functions=self.functions,
                inference=self.inference,
                stack_key=self.state.key,
                access_log_bucket=self.jobs.access_log_bucket,
                invocation_logging=self.invocation_logging,
                network=self.network,
                removal_policy=removal,
            )
            if settings.customization
            else None
        )
        functions = [api_handler, streaming_handler, *self.jobs.functions, routing_tasks]
        if self.customization:
            functions.append(self.customization.tasks)
        for function in (api_handler, streaming_handler, worker, routing_tasks):  # every function that calls models
            function.add_environment("FMGW_HEALTH_TABLE", self.state.health_table.table_name)
            self.state.grant_health_access(function)
            if self.customization:  # a promoted custom model is served by the same functions
                self.customization.grant_custom_model_use(function)
        self._grant_router_artifact(
            config, [api_handler, streaming_handler, worker, routing_tasks]
        )  # every function that routes auto
        self.key_authorizer = (
            KeyAuthorizerFunction(self, "KeyAuthorizer", functions=self.functions)
            if settings.api_key_source == "authorizer"
            else None
        )

        self.api = GatewayApi(
            self,
            "Api",
            prefix=prefix,
            stage_name=settings.environment,
            handler=api_handler,
            config=config,
            key=self.state.key,
            removal_policy=removal,
            jobs_handler=self.jobs.api_handler,
            orchestrated_integration=self.routing.integration(),
            streaming_handler=streaming_handler,
            streaming_timeout=self.streaming.timeout,
            key_authorizer=self.key_authorizer.function if self.key_authorizer else None,
        )
        self.observability = Observability(
            self,
            "Observability",
            prefix=prefix,
            api_name=self.api.api.rest_api_name,
            stage_name=settings.environment,
            functions=[*functions, *([self.key_authorizer.function] if self.key_authorizer else [])],
            key=self.state.key,
            alarm_email=settings.alarm_email,
            jobs_queue=self.jobs.queue,
            jobs_dlq=self.jobs.dlq,
            dead_letter_queues={"JobsSweeperFailures": self.jobs.sweeper_dlq},
            tiers=tier_candidates(config),
        )
        self.config_store = ConfigStore(
            self,
            "Config",
            prefix=prefix,
            environment_name=settings.environment,
            config_file=settings.config_file,
            config_version=str(config["version"]),
            rollout=settings.config_rollout,
            rollback_alarms=[self.observability.api_5xx_alarm] if settings.config_rollback_alarm else [],
        )
        for function in functions:
            self.config_store.grant_read(function)

        CfnOutput(self, "ApiUrl", value=self.api.api.url, description="Base URL of the gateway stage")
        for name, key in self.api.api_keys.items():
            CfnOutput(
                self, f"ApiKeyId{name.title().replace('-', '')}", value=key.key_id, description=f"API key id of the '{name}' plan"
            )
        CfnOutput(self, "DashboardName", value=prefix)
        CfnOutput(self, "JobsTopicArn", value=self.jobs.topic.topic_arn, description="Job notifications (SNS)")
        CfnOutput(self, "JobsResultsBucket", value=self.jobs.results_bucket.bucket_name, description="Large job results")
        if self.invocation_logging:
            CfnOutput(
                self,
                "InvocationLogsBucket",
                value=self.invocation_logging.bucket.bucket_name,
                description="Bedrock model invocation logs (AWSLogs/<account>/BedrockModelInvocationLogs/)",
            )

        if self.customization:
            self._customization_outputs(self.customization)

    def _customization_outputs(self, customization: ModelCustomization) -> None:
        CfnOutput(
            self,
            "CustomizationStateMachineArn",
            value=customization.state_machine.state_machine_arn,
            description="Model customization workflow (fmgw customize start)",
        )
        CfnOutput(
            self,
            "CustomizationBucketName",
            value=customization.bucket.bucket_name,
            description="Customization data: datasets/, evaluation/, output/ (job output), reports/",
        )
        CfnOutput(
            self,
            "CustomizationTopicArn",
            value=customization.topic.topic_arn,
            description="Customization decisions and failures (SNS)",
        )

    def _grant_router_artifact(self, config: dict[str, Any], functions: list[Any]) -> None:
        """Read access to the S3 folder holding the configured difficulty artifact (``auto`` routing), if any."""
        objects = router_artifact_objects(config)
        if objects is None:
            return
        bucket, pattern = objects
        resource = f"arn:{self.partition}:s3:::{bucket}/{pattern}"
        # cdk-nag names the finding after the rendered ARN: a literal partition, or <AWS::Partition> when unresolved.
        partition = "<AWS::Partition>" if Token.is_unresolved(self.partition) else self.partition
        finding = f"arn:{partition}:s3:::{bucket}/{pattern}"
        for function in functions:
            function.add_to_role_policy(
                iam.PolicyStatement(sid="ReadRouterArtifact", actions=["s3:GetObject"], resources=[resource])
            )
            if pattern.endswith("*"):
                Validations.of(function.role).acknowledge(
                    Acknowledgment(
                        id=f"AwsSolutions-IAM5[Resource::{finding}]",
                        reason="Read-only access to the folder of the configured router artifact, so a newer "
                        "artifact beside it can be rolled out through AppConfig without a deploy.",
                    )
                )


_FROM_ENVIRONMENT = "<CDK_DEFAULT_ACCOUNT>"
CONTEXT_KEYS = (
    "environment",
    "region",
    "configFile",
    "powertoolsVersion",
    "retain",
    "configRollout",
    "configRollbackAlarm",
    "alarmEmail",
    "xraySdk",
    "orchestratedLogLevel",
    "vpc",
    "reservedConcurrency",
    "apiKeySource",
    "invocationLogging",
    "invocationLoggingReplace",
    "invocationLogsCloudWatch",
    "invocationLogsExpireDays",
    "customization",
)


def create_stack(app: App, *, account: str | None = _FROM_ENVIRONMENT) -> GatewayStack:
    """The gateway stack for ``app``'s context, in the context's region.

    ``account`` defaults to CDK_DEFAULT_ACCOUNT; when that is unset, or ``account=None``, the stack is account-agnostic
    (ARNs carry the ``AWS::AccountId`` pseudo parameter).
    """
    settings = load_settings({key: app.node.try_get_context(key) for key in CONTEXT_KEYS})
    if account == _FROM_ENVIRONMENT:
        account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    return GatewayStack(
        app,
        settings.stack_name,
        settings=settings,
        env=Environment(account=account or None, region=settings.region),
    )
