"""The model customization workflow (issue 24; README "Customization"): the Step Functions Standard state machine of
``statemachines/model-customization.asl.json``, its one Lambda task function, the Bedrock customization service role,
a bucket for the data and the notification topic. On by default; context ``customization=false`` leaves it all out.

- The definition deploys as the file is, with ``${CustomizationTasksFunctionArn}`` and ``${NotificationTopicArn}`` filled
  by CloudFormation's definition substitutions; logging (level ALL, without execution data: states carry dataset
  locations, filters and scores) and X-Ray tracing. Its role may invoke the tasks function and publish to the topic.
- The bucket holds ``datasets/`` (training data), ``evaluation/`` (evaluation sets), ``output/`` (the jobs' output) and
  ``reports/``. It, the topic and the custom models (``customModelKmsKeyId``) use the stack's key, only through S3, SNS
  and Bedrock (``kms:ViaService``).
- The service role trusts Bedrock's customization jobs of this account and region only; reads ``datasets/`` (and the
  stack's invocation logs when they are on), writes ``output/``, may invoke the catalog's teachers through their
  inference profiles, and in VPC mode manages the job's network interfaces in the stack's private subnets.
- Jobs run in the stack's region: the bucket, key and subnets are regional, so IAM grants this region's models only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Acknowledgment, Duration, Fn, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.compliance import acknowledge, encrypted_log_group
from infra.constructs.functions import GatewayFunctions, acknowledge_no_dead_letter_queue
from infra.constructs.inference_access import InferenceAccess, model_resource_arns
from infra.constructs.invocation_logging import LOGS_PATH, InvocationLogging
from infra.constructs.network import HTTPS, GatewayNetwork
from infra.settings import ROOT

DEFINITION_FILE = ROOT / "statemachines" / "model-customization.asl.json"
TASKS_HANDLER = "handlers.customization_tasks.handler"
# A Map iteration evaluates one batch of the evaluation set; the spec sizes batches well inside Lambda's maximum.
TASKS_TIMEOUT = Duration.seconds(900)
TASKS_MEMORY_MB = 1024
DATASETS, EVALUATION, OUTPUT, REPORTS = "datasets/", "evaluation/", "output/", "reports/"
BEDROCK = "bedrock.amazonaws.com"
# The task function's environment (the contract of handlers.customization_tasks; the local harness sets the same).
ENV_ROLE, ENV_BUCKET, ENV_KEY = "FMGW_CUSTOMIZATION_ROLE_ARN", "FMGW_CUSTOMIZATION_BUCKET", "FMGW_CUSTOMIZATION_KMS_KEY_ARN"
ENV_SUBNETS, ENV_SECURITY_GROUPS = "FMGW_CUSTOMIZATION_SUBNET_IDS", "FMGW_CUSTOMIZATION_SECURITY_GROUP_IDS"
# What Bedrock asks KMS for on the caller's behalf when it encrypts a custom model with a customer-managed key (AWS's
# key policy for custom model encryption); what S3 asks for on reads (Decrypt) and SSE-KMS uploads, and SNS on publishes
# to an encrypted topic (a data key).
MODEL_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant")
DATA_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
JOB_ACTIONS = ("bedrock:CreateModelCustomizationJob", "bedrock:TagResource")
FOLLOW_JOB_ACTIONS = ("bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob")
CUSTOM_MODEL_ACTIONS = ("bedrock:GetCustomModel", "bedrock:DeleteCustomModel")
CREATE_CAPACITY_ACTIONS = ("bedrock:CreateProvisionedModelThroughput", "bedrock:CreateCustomModelDeployment")
PROVISIONED_ACTIONS = ("bedrock:GetProvisionedModelThroughput", "bedrock:DeleteProvisionedModelThroughput")
DEPLOYMENT_ACTIONS = ("bedrock:GetCustomModelDeployment", "bedrock:DeleteCustomModelDeployment")


def customizable(config: Mapping[str, Any], region: str) -> dict[str, dict[str, Any]]:
    """The catalog's ``customization`` blocks (by alias) whose jobs run in ``region``."""
    return {
        alias: model["customization"]
        for alias, model in config["models"].items()
        if model.get("customization") and region in model["customization"]["regions"]
    }


def teachers(config: Mapping[str, Any], region: str) -> list[str]:
    """Aliases of the teachers of the students distillable in ``region``, in catalog order."""
    found: list[str] = []
    for block in customizable(config, region).values():
        if "DISTILLATION" in block["types"]:
            found += [alias for alias in block.get("teachers", []) if alias not in found]
    return found


def teacher_arns(config: Mapping[str, Any], *, partition: str, region: str, account: str) -> list[str]:
    """The teachers' inference profiles in ``region`` and foundation models in their destination regions
    (``model_resource_arns``, the gateway's own rule: a retired teacher is never invoked, so never granted)."""
    models = {alias: config["models"][alias] for alias in teachers(config, region)}
    subset = {"models": models, "geographies": config.get("geographies", {})}
    return model_resource_arns(subset, partition=partition, region=region, account=account)


def _rendered(stack: Stack) -> tuple[str, str, str]:
    """Partition, region and account as cdk-nag names them in a finding (pseudo parameters when unresolved)."""
    return tuple(  # type: ignore[return-value]
        f"<AWS::{name}>" if Token.is_unresolved(value) else value
        for name, value in (("Partition", stack.partition), ("Region", stack.region), ("AccountId", stack.account))
    )


class ModelCustomization(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        config: Mapping[str, Any],
        functions: GatewayFunctions,
        inference: InferenceAccess,
        stack_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        invocation_logging: InvocationLogging | None,
        network: GatewayNetwork | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._stack = stack
        self._bedrock = f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}"
        self.key = stack_key  # the stack's one customer-managed key (infra/constructs/state_tables.py)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=stack_key,
            bucket_key_enabled=True,
            versioned=True,  # datasets and reports are a run's record: an overwrite stays recoverable for a month
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="customization-bucket/",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal_policy,
        )
        self.topic = sns.Topic(
            self, "Topic", display_name=f"{prefix} model customization notices", master_key=stack_key, enforce_ssl=True
        )
        self._customizable = customizable(config, stack.region)
        self._teacher_arns = teacher_arns(config, partition=stack.partition, region=stack.region, account=stack.account)
        self.service_role = self._service_role(invocation_logging)
        environment = {ENV_ROLE: self.service_role.role_arn, ENV_BUCKET: self.bucket.bucket_name, ENV_KEY: self.key.key_arn}
        self.job_security_group: ec2.SecurityGroup | None = None
        if network is not None:  # the jobs run in the functions' private subnets (vpcConfig), with a group of their own
            subnet_ids = network.vpc.select_subnets(subnet_type=network.subnets.subnet_type).subnet_ids
            self.job_security_group = self._job_network(self.service_role, network, subnet_ids)
            environment[ENV_SUBNETS] = Fn.join(",", subnet_ids)
            environment[ENV_SECURITY_GROUPS] = self.job_security_group.security_group_id
            # The tasks call Bedrock's control plane: the gateway's VPC has an endpoint for bedrock-runtime only.
            network.vpc.add_interface_endpoint(
                "Bedrock",
                service=ec2.InterfaceVpcEndpointAwsService.BEDROCK,
                private_dns_enabled=True,
                subnets=network.subnets,
                security_groups=[network.endpoint_security_group],
                open=False,
            )
        self.tasks = functions.create(
            "CustomizationTasks",
            handler=TASKS_HANDLER,
            description="FM Gateway model customization: the state machine's Lambda tasks (validate, start and follow the "
            "job, evaluation capacity, evaluate a batch, decide, report, clean up)",
            environment=environment,
            memory_size=TASKS_MEMORY_MB,
            timeout=TASKS_TIMEOUT,
        )
        acknowledge_no_dead_letter_queue(
            self.tasks, "Step Functions (a Lambda task; the state machine's Retry and Catch handle its failures)"
        )
        inference.grant_invoke(self.tasks)  # the baseline models, and the evaluation capacity (provisioned, deployments)
        self._grant_tasks(invocation_logging)

        self.logs = encrypted_log_group(
            self,
            "Logs",
            key=stack_key,
            # the /aws/vendedlogs/ prefix keeps Step Functions' log delivery within CloudWatch Logs' policy size limit
            log_group_name=f"/aws/vendedlogs/states/{stack.stack_name}-customization",
            removal_policy=removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(DEFINITION_FILE)),
            definition_substitutions={
                "CustomizationTasksFunctionArn": self.tasks.function_arn,
                "NotificationTopicArn": self.topic.topic_arn,
            },
            # Every state's transitions, not its data: inputs and outputs carry dataset locations, filters and scores.
            logs=sfn.LogOptions(destination=self.logs, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
            comment="FM Gateway model customization: validate, train, serve for evaluation, evaluate, decide, report",
        )
        self._grant_state_machine()

    def grant_custom_model_use(self, function: lambda_.Function) -> None:
        """Invoke custom models this workflow created (encrypted with its key): Bedrock decrypts them for the caller."""
        self._key(function, "CustomModelsKey", self.key, ("kms:Decrypt",), "bedrock")

    # ---- the Bedrock service role ------------------------------------------------------------------------------------

    def _service_role(self, invocation_logging: InvocationLogging | None) -> iam.Role:
        stack = self._stack
        role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal(
                BEDROCK,
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": f"{self._bedrock}:model-customization-job/*"},
                },
            ),
            description="Bedrock model customization jobs: read datasets/, write output/, invoke the catalog's teachers",
        )
        self._read(role, "Datasets", self.bucket, [DATASETS])
        self._objects(role, "WriteJobOutput", "s3:PutObject", self.bucket, [OUTPUT])
        self._key(role, "CustomizationDataKey", self.key, DATA_KEY_ACTIONS, "s3")
        self._key(role, "CustomModelKey", self.key, MODEL_KEY_ACTIONS, "bedrock")
        if invocation_logging is not None:
            self._read_invocation_logs(role, invocation_logging)
        if self._teacher_arns:
            role.add_to_principal_policy(_allow("InvokeTeachers", ["bedrock:InvokeModel"], self._teacher_arns))
        return role

    def _job_network(self, role: iam.Role, network: GatewayNetwork, subnet_ids: list[str]) -> ec2.SecurityGroup:
        """The jobs' security group, and the network-interface permissions Bedrock documents for jobs in a VPC."""
        stack = self._stack
        group = ec2.SecurityGroup(
            self,
            "JobSecurityGroup",
            vpc=network.vpc,
            description="Bedrock customization jobs: HTTPS out to S3 through the gateway endpoint, nothing in",
            allow_all_outbound=False,
        )
        # S3's gateway endpoint is reached through its prefix list, which CloudFormation cannot name: HTTPS to any
        # address, in subnets whose only routes are the VPC and the endpoints (no internet or NAT gateway).
        group.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS to S3 (gateway endpoint)")
        jobs = f"{self._bedrock}:model-customization-job/*"
        interfaces = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
        subnets = [stack.format_arn(service="ec2", resource="subnet", resource_name=subnet) for subnet in subnet_ids]
        group_arn = stack.format_arn(service="ec2", resource="security-group", resource_name=group.security_group_id)
        describe = ("NetworkInterfaces", "Vpcs", "DhcpOptions", "Subnets", "SecurityGroups")
        tagged = {"StringEquals": {"ec2:ResourceTag/BedrockManaged": "true"}}
        for statement in (
            _allow("DescribeJobNetwork", [f"ec2:Describe{thing}" for thing in describe], ["*"]),
            _allow(
                "CreateJobInterfaces",
                ["ec2:CreateNetworkInterface"],
                [interfaces],
                StringEquals={"aws:RequestTag/BedrockManaged": "true"},
                ArnLike={"aws:RequestTag/BedrockModelCustomizationJobArn": jobs},
            ),
            _allow("CreateJobInterfacesIn", ["ec2:CreateNetworkInterface"], [*subnets, group_arn]),
            _allow(
                "ManageJobInterfaces",
                ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"],
                ["*"],
                ArnEquals={"ec2:Subnet": subnets},
                ArnLike={"ec2:ResourceTag/BedrockModelCustomizationJobArn": jobs},
                **tagged,
            ),
            _allow(
                "TagJobInterfaces",
                ["ec2:CreateTags"],
                [interfaces],
                StringEquals={"ec2:CreateAction": "CreateNetworkInterface"},
                **{"ForAllValues:StringEquals": {"aws:TagKeys": ["BedrockManaged", "BedrockModelCustomizationJobArn"]}},
            ),
        ):
            role.add_to_principal_policy(statement)
        partition, region, account = _rendered(stack)
        acknowledge(
            role,
            "A customization job in the VPC: the ec2:Describe* calls have no resource-level permissions, and Bedrock names "
            "the job's network interfaces only when it creates them; creating, tagging and deleting them is limited by the "
            "BedrockManaged and BedrockModelCustomizationJobArn tags and the stack's subnets (AWS's documented policy).",
            nag=(
                "AwsSolutions-IAM5[Resource::*]",
                f"AwsSolutions-IAM5[Resource::arn:{partition}:ec2:{region}:{account}:network-interface/*]",
            ),
        )
        return group

    def _read_invocation_logs(self, principal: iam.IGrantable, logging: InvocationLogging) -> None:
        """Distillation from logged traffic: the stack's invocation logs, and their key through S3 (when it is not the
        key already granted for the customization data)."""
        path = LOGS_PATH.format(account=self._stack.account).removesuffix("*")
        self._read(principal, "InvocationLogs", logging.bucket, [path])
        log_key, resolve = logging.bucket.encryption_key, self._stack.resolve
        if log_key is not None and resolve(log_key.key_arn) != resolve(self.key.key_arn):
            self._key(principal, "InvocationLogsKey", log_key, ("kms:Decrypt",), "s3")

    # ---- the tasks function and the state machine --------------------------------------------------------------------

    def _grant_tasks(self, invocation_logging: InvocationLogging | None) -> None:
        stack, function = self._stack, self.tasks
        region_models = f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model"
        bases = [f"{region_models}/{block['baseModelId']}" for block in self._customizable.values()]
        custom_models, jobs = f"{self._bedrock}:custom-model/*", f"{self._bedrock}:model-customization-job/*"
        provisioned, deployments = f"{self._bedrock}:provisioned-model/*", f"{self._bedrock}:custom-model-deployment/*"
        statements = [
            # The base models customizable here, the teachers a distillation names, and what a job creates.
            _allow("StartCustomizationJobs", JOB_ACTIONS, [*bases, *self._teacher_arns, custom_models, jobs]),
            _allow("FollowCustomizationJobs", FOLLOW_JOB_ACTIONS, [jobs]),
            _allow("CustomModels", CUSTOM_MODEL_ACTIONS, [custom_models]),
            # Evaluation capacity for a custom model: what it serves, and the resource it creates.
            _allow("CreateEvaluationCapacity", CREATE_CAPACITY_ACTIONS, [custom_models, provisioned, deployments]),
            _allow("EvaluationThroughput", PROVISIONED_ACTIONS, [provisioned]),
            _allow("EvaluationDeployments", DEPLOYMENT_ACTIONS, [deployments]),
            _allow(
                "PassCustomizationServiceRole",
                ["iam:PassRole"],
                [self.service_role.role_arn],
                StringEquals={"iam:PassedToService": BEDROCK},
            ),
        ]
        for statement in statements:
            function.add_to_role_policy(statement)
        # datasets and evaluation sets; reports/: the evaluated batches' rows, read back by the decide step
        self._read(function, "CustomizationObjects", self.bucket, [DATASETS, EVALUATION, REPORTS])
        self._objects(function, "WriteReports", "s3:PutObject", self.bucket, [REPORTS])
        self._key(function, "CustomizationDataKey", self.key, DATA_KEY_ACTIONS, "s3")
        self._key(function, "CustomModelKey", self.key, MODEL_KEY_ACTIONS, "bedrock")
        if invocation_logging is not None:  # the validate step counts the records a distillation's filters match
            self._read_invocation_logs(function, invocation_logging)
        partition, region, account = _rendered(stack)
        base = f"arn:{partition}:bedrock:{region}:{account}"
        acknowledge(
            function.role,  # type: ignore[arg-type]
            "Bedrock names customization jobs, custom models, Provisioned Throughput and custom model deployments when "
            "the workflow creates them: the grants cover those resource types of this account and region only, and the "
            "tasks create, follow and delete what their own run made.",
            nag=tuple(
                f"AwsSolutions-IAM5[Resource::{base}:{kind}/*]"
                for kind in ("model-customization-job", "custom-model", "provisioned-model", "custom-model-deployment")
            ),
        )

    def _grant_state_machine(self) -> None:
        role = self.state_machine.role
        self.tasks.grant_invoke(role)
        role.add_to_principal_policy(_allow("PublishNotices", ["sns:Publish"], [self.topic.topic_arn]))
        self._key(role, "NoticesKey", self.key, DATA_KEY_ACTIONS, "sns")
        function_id = self._stack.get_logical_id(self.tasks.node.default_child)  # type: ignore[arg-type]
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Step Functions' log delivery (logs:CreateLogDelivery and friends) and X-Ray tracing "
                "(xray:PutTraceSegments and friends) have no resource-level permissions; CDK grants them on '*'.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                reason="lambda:InvokeFunction on the customization-tasks function's versions and aliases: CDK's "
                "grant_invoke adds the ':*' form for qualified invocations; it names this one function only.",
            ),
        )

    # ---- helpers -----------------------------------------------------------------------------------------------------

    def _read(self, principal: iam.IGrantable, name: str, bucket: s3.IBucket, prefixes: list[str]) -> None:
        """GetObject under ``prefixes`` and ListBucket limited to them (``s3:prefix``)."""
        self._objects(principal, f"Read{name}", "s3:GetObject", bucket, prefixes)
        listed = {"s3:prefix": [f"{p}*" for p in prefixes]}
        principal.grant_principal.add_to_principal_policy(
            _allow(f"List{name}", ["s3:ListBucket"], [bucket.bucket_arn], StringLike=listed)
        )

    def _objects(self, principal: iam.IGrantable, sid: str, action: str, bucket: s3.IBucket, prefixes: list[str]) -> None:
        """``action`` on the objects under ``prefixes`` of ``bucket``, each prefix acknowledged for cdk-nag."""
        principal.grant_principal.add_to_principal_policy(
            _allow(sid, [action], [bucket.arn_for_objects(f"{p}*") for p in prefixes])
        )
        bucket_id = self._stack.resolve(self._stack.get_logical_id(bucket.node.default_child))  # type: ignore[arg-type]
        account = _rendered(self._stack)[2]
        role = principal.grant_principal
        for prefix in prefixes:
            rendered = prefix.replace(str(self._stack.account), account) if Token.is_unresolved(self._stack.account) else prefix
            Validations.of(role).acknowledge(  # type: ignore[arg-type]
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{rendered}*]",
                    reason=f"{action} on the objects under {prefix} only: a run names its own objects there (datasets, "
                    "evaluation sets, job output, reports or Bedrock's invocation logs), so the grant is the prefix.",
                )
            )

    def _key(self, principal: iam.IGrantable, sid: str, key: kms.IKey, actions: tuple[str, ...], service: str) -> None:
        via = {"kms:ViaService": f"{service}.{self._stack.region}.{self._stack.url_suffix}"}
        principal.grant_principal.add_to_principal_policy(_allow(sid, actions, [key.key_arn], StringEquals=via))


def _allow(sid: str, actions: list[str] | tuple[str, ...], resources: list[str], **conditions: Any) -> iam.PolicyStatement:
    return iam.PolicyStatement(sid=sid, actions=list(actions), resources=resources, conditions=conditions or None)
