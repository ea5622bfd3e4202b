"""The orchestrated routing workflow: the Step Functions Express state machine of ``statemachines/routing.asl.json``
(classify, plan, each candidate behind its circuit breaker, last good answer), its Lambda tasks, and the
``POST /v1/chat/orchestrated`` method integrated directly with ``StartSyncExecution``.

No ASL is built in Python: the definition file deploys as it is, with ``${BreakerTableName}`` and
``${RoutingTasksFunctionArn}`` filled by CloudFormation's definition substitutions. The method's request and
response mapping templates are ``statemachines/routing.request.vtl`` / ``routing.response.vtl`` (the files
local mode and the tests render), with ``${StateMachineArn}`` and ``${MaxWrappedBodyChars}`` filled here.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.compliance import encrypted_log_group
from infra.settings import ROOT

STATEMACHINES = ROOT / "statemachines"
DEFINITION_FILE = STATEMACHINES / "routing.asl.json"
REQUEST_TEMPLATE_FILE = STATEMACHINES / "routing.request.vtl"
RESPONSE_TEMPLATE_FILE = STATEMACHINES / "routing.response.vtl"
# An execution's input is at most 256 KiB; the escaped body is its bulk. Above this the machine answers 413.
MAX_WRAPPED_BODY_CHARS = 240_000
LOG_LEVELS = {"ERROR": sfn.LogLevel.ERROR, "ALL": sfn.LogLevel.ALL}


def fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


class RoutingWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tasks_function: lambda_.IFunction,
        breaker_table: dynamodb.ITable,
        key: kms.IKey,
        log_level: str = "ERROR",
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if log_level not in LOG_LEVELS:
            raise ValueError(f"orchestratedLogLevel must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
        self.logs = encrypted_log_group(
            self,
            "Logs",
            key=key,
            # the /aws/vendedlogs/ prefix keeps Step Functions' log delivery within CloudWatch Logs' policy size limit
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-routing",
            removal_policy=removal_policy,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_file(str(DEFINITION_FILE)),
            definition_substitutions={
                "BreakerTableName": breaker_table.table_name,
                "RoutingTasksFunctionArn": tasks_function.function_arn,
            },
            # execution data holds prompts and completions: never logged (DESIGN: not unless configured)
            logs=sfn.LogOptions(destination=self.logs, level=LOG_LEVELS[log_level], include_execution_data=False),
            tracing_enabled=True,
            comment="FM Gateway orchestrated routing: classify, plan, candidates behind circuit breakers, last good answer",
        )
        if log_level != "ALL":
            Validations.of(self.state_machine).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-SF1",
                    reason="Logging level ERROR by default: every failed execution is logged, while ALL would write some "
                    "twenty events per request at API traffic rates; set the orchestratedLogLevel context to ALL for it. "
                    "X-Ray tracing is on either way.",
                )
            )
        role = self.state_machine.role
        tasks_function.grant_invoke(role)
        # The native breaker read: one item at a time, consistent, from the breaker table only (KMS through DynamoDB).
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadBreakerItems", actions=["dynamodb:GetItem"], resources=[breaker_table.table_arn])
        )
        stack = Stack.of(self)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadBreakerItemsKey",
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{stack.region}.{stack.url_suffix}"}},
            )
        )
        function_id = stack.get_logical_id(tasks_function.node.default_child)  # type: ignore[arg-type]
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Step Functions' log delivery (logs:CreateLogDelivery and friends) and X-Ray tracing "
                "(xray:PutTraceSegments and friends) have no resource-level permissions; CDK grants them on '*'.",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                reason="lambda:InvokeFunction on the routing-tasks function's versions and aliases: CDK's grant_invoke "
                "adds the ':*' form for qualified invocations; it names this one function only.",
            ),
        )

    def integration(self) -> apigw.AwsIntegration:
        """``StartSyncExecution`` with the gateway's request and response mapping templates."""
        arn = self.state_machine.state_machine_arn
        request = fill(
            REQUEST_TEMPLATE_FILE.read_text(), {"StateMachineArn": arn, "MaxWrappedBodyChars": str(MAX_WRAPPED_BODY_CHARS)}
        )
        response = RESPONSE_TEMPLATE_FILE.read_text()
        return apigw.StepFunctionsIntegration.start_execution(
            self.state_machine,
            request_templates={"application/json": request},
            integration_responses=[
                apigw.IntegrationResponse(status_code="200", response_templates={"application/json": response})
            ],
            passthrough_behavior=apigw.PassthroughBehavior.NEVER,
            use_default_method_responses=False,
            timeout=Duration.seconds(29),
        )
