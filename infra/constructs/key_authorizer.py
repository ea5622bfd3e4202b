"""The API-key authorizer's function: ``handlers.authorizer`` with read access to this region's usage plans and keys.

It answers API Gateway's REQUEST authorizer calls (``infra/constructs/rest_api.py`` wires it to every keyed method with the
API key source AUTHORIZER). To map a presented key to its id and usage plan it reads, through API Gateway's control
plane, the usage plans (GetUsagePlans), the keys of the plans attached to the calling stage (GetUsagePlanKeys: id and
value) and the keys' enabled flags (GetApiKeys, without values): ``apigateway:GET`` on exactly those three paths.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.compliance import acknowledge
from infra.constructs.functions import GatewayFunctions, acknowledge_no_dead_letter_queue

# Seconds a sandbox keeps its snapshot of the stage's keys, and the shortest interval between reloads on an unknown key.
KEY_CACHE_SECONDS = 60
KEY_MISS_REFRESH_SECONDS = 10


class KeyAuthorizerFunction(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: GatewayFunctions) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = functions.create(
            "KeyAuthorizer",
            handler="handlers.authorizer.handler",
            description="FM Gateway API-key authorizer: x-api-key or Authorization: Bearer, key handed to the usage plans",
            # Small and quick: no Powertools import, one boto3 client; 256 MB halves boto3's cold import against 128 MB.
            memory_size=256,
            timeout=Duration.seconds(10),
            outside_vpc_reason="Outside the VPC in VPC mode too: the key authorizer reaches only API Gateway's control "
            "plane (usage plans and keys, over TLS with IAM), which has no VPC interface endpoint, and no private resource.",
            environment={
                "FMGW_KEY_CACHE_SECONDS": str(KEY_CACHE_SECONDS),
                "FMGW_KEY_MISS_REFRESH_SECONDS": str(KEY_MISS_REFRESH_SECONDS),
            },
        )
        acknowledge_no_dead_letter_queue(self.function, "API Gateway (a REQUEST authorizer)")
        stack = Stack.of(self)
        control_plane = f"arn:{stack.partition}:apigateway:{stack.region}::"
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadUsagePlansAndKeys",
                actions=["apigateway:GET"],
                resources=[f"{control_plane}/usageplans", f"{control_plane}/usageplans/*/keys", f"{control_plane}/apikeys"],
            )
        )
        acknowledge(
            self.function.role,  # type: ignore[arg-type]
            "GetUsagePlanKeys of the plans attached to the calling stage: the plan ids cannot be named here without a "
            "dependency cycle (plan -> stage -> deployment -> method -> authorizer -> this function), and the "
            "function only reads the plans whose apiStages name the API and stage of the request.",
            nag=(f"AwsSolutions-IAM5[Resource::{control_plane}/usageplans/*/keys]",),
        )
