"""IAM for Bedrock: invoke only the configured, non-retired models, through their inference profiles.

Per model (``profileScope``):
- ``us``/``eu``/``apac``: the inference profile in the stack region, plus the foundation model in every
  destination region of that geography (a cross-region profile routes requests there);
- ``global``: the global profile, plus the foundation model in any region (``arn:aws:bedrock:::`` and
  ``arn:aws:bedrock:*::``), as Bedrock requires for global profiles;
- ``in-region``: the foundation model in the stack region.

Retired aliases are always remapped to their successors by the router and never invoked: they get no grant.

Custom capacity (issue 23, ``infra/backend_access.py``): Provisioned Throughput, custom model deployments and imported
models of this account and region, and SageMaker endpoints and inference components whose names start with the
configured prefix, by pattern (their ARNs exist only once a team provisions them); the same patterns reach every
function that invokes as ``FMGW_BACKEND_ACCESS``, so the configuration cannot name what IAM would refuse.

Large inputs: Bedrock reads an image or document given by ``s3Location`` with the caller's permissions, so the same
policy grants ``s3:GetObject`` on the objects of exactly the buckets of ``limits.s3InputBuckets`` (none by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Acknowledgment, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from fmgateway.values.backends import ARN_TYPES
from infra.settings import GEO_SCOPES, invocable_models

ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
SAGEMAKER_ACTIONS = ("sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream")
BACKEND_ACCESS_ENV = "FMGW_BACKEND_ACCESS"  # fmgateway.aws.appconfig reads it


def model_resource_arns(config: Mapping[str, Any], *, partition: str, region: str, account: str) -> list[str]:
    """The ARNs the gateway may invoke, in config order, without duplicates."""
    geographies = config.get("geographies", {})
    arns: list[str] = []

    def add(arn: str) -> None:
        if arn not in arns:
            arns.append(arn)

    for model in invocable_models(config).values():
        model_id, scope = model["modelId"], model["profileScope"]
        if scope in GEO_SCOPES:
            add(f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{scope}.{model_id}")
            for destination in geographies[scope]["destinationRegions"]:
                add(f"arn:{partition}:bedrock:{destination}::foundation-model/{model_id}")
        elif scope == "global":
            add(f"arn:{partition}:bedrock:{region}:{account}:inference-profile/global.{model_id}")
            add(f"arn:{partition}:bedrock:::foundation-model/{model_id}")
            add(f"arn:{partition}:bedrock:*::foundation-model/{model_id}")
        else:  # in-region
            add(f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}")
    return arns


def _nag_partition(stack: Stack) -> str:
    """cdk-nag names a finding after the rendered ARN: a literal partition, or <AWS::Partition> when unresolved."""
    return "<AWS::Partition>" if Token.is_unresolved(stack.partition) else stack.partition


class InferenceAccess(Construct):
    """One IAM policy with the Bedrock statement; attach it to every function that calls Bedrock."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Mapping[str, Any], endpoint_prefix: str = "fmgw-") -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_prefix = endpoint_prefix
        self.resource_arns = model_resource_arns(config, partition=stack.partition, region=stack.region, account=stack.account)
        base = f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}"
        self.capacity_arns = [f"{base}:{kind}/*" for kind in ARN_TYPES.values()]
        sagemaker = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        self.endpoint_arns = [f"{sagemaker}:endpoint/{endpoint_prefix}*", f"{sagemaker}:inference-component/{endpoint_prefix}*"]
        statements = [
            iam.PolicyStatement(sid="InvokeConfiguredModels", actions=list(ACTIONS), resources=self.resource_arns),
            iam.PolicyStatement(sid="InvokeCustomCapacity", actions=list(ACTIONS), resources=self.capacity_arns),
            iam.PolicyStatement(sid="InvokeSageMakerEndpoints", actions=list(SAGEMAKER_ACTIONS), resources=self.endpoint_arns),
        ]
        self.input_buckets = list(config.get("limits", {}).get("s3InputBuckets", []))
        if self.input_buckets:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadConfiguredInputBuckets",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{stack.partition}:s3:::{bucket}/*" for bucket in self.input_buckets],
                )
            )
        self.policy = iam.Policy(self, "Policy", statements=statements)
        for bucket in self.input_buckets:
            Validations.of(self.policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::arn:{_nag_partition(stack)}:s3:::{bucket}/*]",
                    reason=f"Requests may reference any object of '{bucket}' as an image or document (s3Location); the "
                    "bucket is one the configuration names in limits.s3InputBuckets, and the grant is read-only.",
                )
            )
        self._acknowledge_patterns(stack)
        global_models = sorted(
            {model["modelId"] for model in invocable_models(config).values() if model["profileScope"] == "global"}
        )
        partition = _nag_partition(stack)
        for model_id in global_models:
            Validations.of(self.policy).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::arn:{partition}:bedrock:*::foundation-model/{model_id}]",
                    reason=f"'{model_id}' is called through a global cross-region inference profile, which may route to "
                    "any commercial region: Bedrock requires the foundation model in every region ('*'). The wildcard is "
                    "limited to this one model id.",
                )
            )

    def grant_invoke(self, function: lambda_.Function) -> None:
        """Let ``function`` invoke the configured models (its role gets the shared Bedrock policy), and tell it the
        patterns of custom capacity it may invoke."""
        if function.role is None:
            raise ValueError(f"{function.node.path} has no role to attach the Bedrock policy to")
        self.policy.attach_to_role(function.role)
        function.node.add_dependency(self.policy)
        stack = Stack.of(self)
        access = {"region": stack.region, "account": stack.account, "endpointPrefix": self.endpoint_prefix}
        function.add_environment(BACKEND_ACCESS_ENV, stack.to_json_string(access))

    def _acknowledge_patterns(self, stack: Stack) -> None:
        """Each wildcard of the custom-capacity statements, with its reason (cdk-nag IAM5)."""
        partition = _nag_partition(stack)
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        reasons = {
            f"arn:{partition}:bedrock:{region}:{account}:{kind}/*": (
                f"Bedrock {kind} ARNs exist only once a team provisions capacity (fmgw models provision); the catalog "
                "names them at run time, and the configuration check refuses any ARN outside this account and region."
            )
            for kind in ARN_TYPES.values()
        }
        for resource in ("endpoint", "inference-component"):
            reasons[f"arn:{partition}:sagemaker:{region}:{account}:{resource}/{self.endpoint_prefix}*"] = (
                f"SageMaker {resource}s are created by the team that serves a domain model; only names starting with the "
                f"configured prefix '{self.endpoint_prefix}' are granted, and the configuration check refuses others."
            )
        for resource, reason in reasons.items():
            Validations.of(self.policy).acknowledge(Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{resource}]", reason=reason))
