"""AppConfig: the gateway configuration as a freeform, schema-validated hosted configuration, rolled out gradually.

Application -> environment (named after the stack's environment, optionally monitored by a CloudWatch alarm for
automatic rollback) -> freeform profile with a hosted version from the config file and a JSON-schema validator
from ``schemas/gateway-config.json`` -> deployment with a linear (or all-at-once) strategy.
Functions read it with AppConfig data (``StartConfigurationSession``/``GetLatestConfiguration``), granted on this
profile only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.settings import CONFIG_SCHEMA

PROFILE_NAME = "gateway"
READ_ACTIONS = ("appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration")


class ConfigStore(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        environment_name: str,
        config_file: Path,
        config_version: str,
        rollout: str,
        rollback_alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.application = appconfig.Application(
            self, "Application", application_name=prefix, description="FM Gateway configuration (models, tiers, routes, ...)"
        )
        monitor_role = None
        if rollback_alarms:
            # AppConfig reads the alarms' state during a deployment and rolls back when one is in ALARM.
            monitor_role = iam.Role(
                self,
                "MonitorRole",
                assumed_by=iam.ServicePrincipal("appconfig.amazonaws.com"),
                description="Lets AppConfig read the rollback alarms during configuration deployments",
                inline_policies={
                    "DescribeAlarms": iam.PolicyDocument(
                        statements=[iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=["*"])]
                    )
                },
            )
            Validations.of(monitor_role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="cloudwatch:DescribeAlarms does not support resource-level permissions; AppConfig's documented "
                    "rollback role grants it on '*'. The role can only be assumed by appconfig.amazonaws.com.",
                )
            )
        self.environment = appconfig.Environment(
            self,
            "Environment",
            application=self.application,
            environment_name=environment_name,
            description=f"FM Gateway {environment_name}",
            monitors=[appconfig.Monitor.from_cloud_watch_alarm(alarm, monitor_role) for alarm in rollback_alarms],
        )
        if rollout == "allAtOnce":
            # Everything at once and no bake (AppConfig's predefined AllAtOnce bakes 10 minutes, during which the next
            # deployment of a dev stack would be refused).
            rollout_strategy = appconfig.RolloutStrategy.linear(
                growth_factor=100, deployment_duration=Duration.minutes(0), final_bake_time=Duration.minutes(0)
            )
        else:
            # 20% of the targets per minute, then 5 minutes of baking under the rollback alarms.
            rollout_strategy = appconfig.RolloutStrategy.linear(
                growth_factor=20, deployment_duration=Duration.minutes(5), final_bake_time=Duration.minutes(5)
            )
        self.deployment_strategy = appconfig.DeploymentStrategy(
            self,
            "DeploymentStrategy",
            deployment_strategy_name=f"{prefix}-{rollout}",
            description=f"FM Gateway configuration rollout ({rollout})",
            rollout_strategy=rollout_strategy,
        )
        self.configuration = appconfig.HostedConfiguration(
            self,
            "Configuration",
            application=self.application,
            name=PROFILE_NAME,
            description="Gateway configuration, validated against schemas/gateway-config.json",
            type=appconfig.ConfigurationType.FREEFORM,
            content=appconfig.ConfigurationContent.from_file(str(config_file), "application/json"),
            version_label=config_version[:64],
            validators=[appconfig.JsonSchemaValidator.from_file(str(CONFIG_SCHEMA))],
            deployment_strategy=self.deployment_strategy,
            deploy_to=[self.environment],
        )

    @property
    def configuration_arn(self) -> str:
        """The AppConfig data resource for this profile in this environment (what StartConfigurationSession checks)."""
        return Stack.of(self).format_arn(
            service="appconfig",
            resource="application",
            resource_name=(
                f"{self.application.application_id}/environment/{self.environment.environment_id}"
                f"/configuration/{self.configuration.configuration_profile_id}"
            ),
        )

    def grant_read(self, function: lambda_.Function) -> None:
        """Read this profile in this environment, and tell the function where it is (ids, not names)."""
        function.add_to_role_policy(
            iam.PolicyStatement(sid="ReadGatewayConfiguration", actions=list(READ_ACTIONS), resources=[self.configuration_arn])
        )
        function.add_environment("FMGW_APPCONFIG_APPLICATION", self.application.application_id)
        function.add_environment("FMGW_APPCONFIG_ENVIRONMENT", self.environment.environment_id)
        function.add_environment("FMGW_APPCONFIG_PROFILE", self.configuration.configuration_profile_id)
