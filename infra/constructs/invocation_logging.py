"""Bedrock model invocation logging for the account and region, opt-in (context ``invocationLogging=true``; README
"Invocation logging").

Resources: a bucket for the logs (SSE-KMS with the stack key, versioned, expiring after ``invocationLogsExpireDays``,
server access logs into the jobs' access-log bucket, TLS only, no public access) whose policy lets only Bedrock of this
account and region put objects under ``AWSLogs/<account>/BedrockModelInvocationLogs/``; a statement in the stack key's
policy that lets the same Bedrock use the key for them; with ``invocationLogsCloudWatch``, a KMS-encrypted log group and
the role Bedrock assumes to write to it; and the setting itself.

The setting has no CloudFormation resource: a custom resource (``Custom::BedrockInvocationLogging``) whose service token
is this stack's own function (``handlers.invocation_logging``) puts the configuration on create and update and puts the
previous one back on delete. Not CDK's Provider framework or ``AwsCustomResource``: both add functions of their own
(an SDK-calling Node.js function, a framework onEvent function) that cdk-nag and checkov flag and that this stack could
not give its own encryption, log group or runtime. Bedrock checks both grants when the setting is made (it writes a
permission-check object), so the setting depends on the bucket policy and the key, and on the delivery role and log
group when CloudWatch Logs is on.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.compliance import acknowledge, encrypted_log_group
from infra.constructs.functions import GatewayFunctions
from infra.invocation_logging_settings import InvocationLoggingSettings

RESOURCE_TYPE = "Custom::BedrockInvocationLogging"
# What the function may call: the three logging-configuration actions, which have no resource-level permissions.
LOGGING_ACTIONS = (
    "bedrock:GetModelInvocationLoggingConfiguration",
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteModelInvocationLoggingConfiguration",
)
# Where Bedrock writes (no key prefix: the bucket holds nothing else) and the log stream it writes in CloudWatch Logs.
LOGS_PATH = "AWSLogs/{account}/BedrockModelInvocationLogs/*"
LOG_STREAM = "aws/bedrock/modelinvocations"
# Bedrock uses the key to encrypt the objects it puts (AWS's invocation-logging setup: kms:GenerateDataKey).
BEDROCK_KEY_ACTIONS = ("kms:GenerateDataKey",)
# Text only: prompts and answers. Images, embeddings and video stay out of the logs.
DELIVERY = {
    "textDataDeliveryEnabled": True,
    "imageDataDeliveryEnabled": False,
    "embeddingDataDeliveryEnabled": False,
    "videoDataDeliveryEnabled": False,
}
FUNCTION_TIMEOUT = Duration.seconds(120)
# CloudFormation gives up on the function's answer after this (instead of its default hour).
SERVICE_TIMEOUT = Duration.seconds(300)
# CloudWatch Logs retentions, in days: the log group keeps records at most as long as the bucket does.
LOG_RETENTIONS = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH", 60: "TWO_MONTHS",
    90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS", 2192: "SIX_YEARS",
    2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS", 3653: "TEN_YEARS",
}  # fmt: skip


def log_retention(expire_days: int) -> logs.RetentionDays:
    """The longest CloudWatch Logs retention that does not outlive the S3 copy (at least one day)."""
    days = max(day for day in LOG_RETENTIONS if day <= max(expire_days, 1))
    return getattr(logs.RetentionDays, LOG_RETENTIONS[days])


class InvocationLogging(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: GatewayFunctions,
        key: kms.Key,
        access_log_bucket: s3.IBucket,
        settings: InvocationLoggingSettings,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        source = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:*"},
        }
        days = Duration.days(settings.expire_days)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-invocation-logs",
                    expiration=days,
                    noncurrent_version_expiration=days,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="invocation-logs-bucket/",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal_policy,
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowBedrockInvocationLogs",
                principals=[iam.ServicePrincipal("bedrock.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(LOGS_PATH.format(account=stack.account))],
                conditions=source,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowBedrockInvocationLogsEncryption",
                principals=[iam.ServicePrincipal("bedrock.amazonaws.com")],
                actions=list(BEDROCK_KEY_ACTIONS),
                resources=["*"],
                conditions=source,
            )
        )
        config: dict = {"s3Config": {"bucketName": self.bucket.bucket_name}, **DELIVERY}
        prerequisites: list[Construct] = [self.bucket.policy, key]  # type: ignore[list-item]

        self.log_group: logs.LogGroup | None = None
        self.delivery_role: iam.Role | None = None
        if settings.cloudwatch:
            self.log_group = encrypted_log_group(
                self, "Logs", key=key, removal_policy=removal_policy, retention=log_retention(settings.expire_days)
            )
            stream = stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{self.log_group.log_group_name}:log-stream:{LOG_STREAM}",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            self.delivery_role = iam.Role(
                self,
                "DeliveryRole",
                assumed_by=iam.ServicePrincipal("bedrock.amazonaws.com", conditions=source),
                description="Bedrock model invocation logging: writes the records to the stack's invocation log group",
                inline_policies={
                    "DeliverInvocationLogs": iam.PolicyDocument(
                        statements=[
                            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[stream])
                        ]
                    )
                },
            )
            config["cloudWatchConfig"] = {
                "logGroupName": self.log_group.log_group_name,
                "roleArn": self.delivery_role.role_arn,
            }
            prerequisites += [self.log_group, self.delivery_role]

        self.function = functions.create(
            "InvocationLoggingSetting",
            handler="handlers.invocation_logging.handler",
            description="FM Gateway: Bedrock model invocation logging for the account and region (CloudFormation custom "
            "resource: put on create and update, the previous setting back on delete)",
            memory_size=256,
            timeout=FUNCTION_TIMEOUT,
            outside_vpc_reason="Outside the VPC in VPC mode too: the function reaches only Bedrock's control plane (the "
            "gateway's VPC has endpoints for bedrock-runtime, not bedrock) and CloudFormation's pre-signed S3 response "
            "URL, over TLS with IAM, and no private resource.",
        )
        # A failed invocation is answered as FAILED by the function itself; a retry would run the change a second time.
        self.function.configure_async_invoke(retry_attempts=0)
        self.function.add_to_role_policy(
            iam.PolicyStatement(sid="InvocationLoggingConfiguration", actions=list(LOGGING_ACTIONS), resources=["*"])
        )
        if self.delivery_role is not None:
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="PassInvocationLogsDeliveryRole",
                    actions=["iam:PassRole"],
                    resources=[self.delivery_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
                )
            )
        self._acknowledge()

        self.setting = CustomResource(
            self,
            "Setting",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            service_timeout=SERVICE_TIMEOUT,
            properties={"LoggingConfig": config, "Replace": "true" if settings.replace else "false"},
        )
        # Bedrock writes its permission-check object when the setting is made: the grants must be in place first.
        self.setting.node.add_dependency(*prerequisites)

    def _acknowledge(self) -> None:
        cloudformation = (
            "Invoked asynchronously by CloudFormation, for one custom resource only: the function answers CloudFormation "
            "itself (FAILED with the reason on any error), and a crash fails the deploy when the resource's service "
            "timeout (5 minutes) passes. A dead-letter queue or failure destination would hold an event nobody can "
            "replay: its pre-signed response URL is for that one deploy."
        )
        acknowledge(
            self.function,
            cloudformation,
            nag=("Serverless-LambdaDLQ", "Serverless-LambdaAsyncFailureDestination"),
            checkov=("CKV_AWS_116",),
        )
        acknowledge(
            self.function.role,  # type: ignore[arg-type]
            "Active X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) and the invocation-logging "
            "configuration (bedrock:Get/Put/DeleteModelInvocationLoggingConfiguration: one setting per account and "
            "region) have no resource-level permissions and must be granted on '*'.",
            nag=("AwsSolutions-IAM5[Resource::*]",),
        )
