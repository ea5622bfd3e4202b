"""Helpers that keep the template clean for the scanners the platform teams run: cdk-nag (AwsSolutions and Serverless
packs, at synth) and checkov (on the synthesized template, in ``make test``).

- ``encrypted_log_group``: a log group encrypted with a customer-managed key. The key must let CloudWatch Logs use it:
  call ``allow_cloudwatch_logs(key)`` once per key (StateTables does it for the stack key).
- ``acknowledge``: excuse a finding next to the construct it concerns, with one reason, for cdk-nag (a Validations
  acknowledgement, checked at synth) and for checkov (``Metadata.checkov.skip`` on the CloudFormation resource, which
  checkov reads as a skip with its comment).
- ``checkov_skips``: what a resource already carries (for tests and reviews).

Usage for a new resource (e.g. a state machine's log group and a Lambda task)::

    logs_ = encrypted_log_group(self, "Logs", key=stack_key, removal_policy=removal)
    acknowledge(function, "Invoked synchronously by Step Functions: the state machine's Catch handles failures.",
                nag=("Serverless-LambdaDLQ",), checkov=("CKV_AWS_116",))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, ArnFormat, CfnResource, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import IConstruct

CHECKOV_METADATA = "checkov"
# What CloudWatch Logs asks KMS for when it encrypts and decrypts a log group's events (AWS's documented key policy).
LOGS_KEY_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
DEFAULT_RETENTION = logs.RetentionDays.ONE_MONTH


def allow_cloudwatch_logs(key: kms.Key) -> None:
    """Let CloudWatch Logs of this stack's region and account use ``key`` for log groups of this account only.

    The key policy is the only place this can be granted: CloudWatch Logs acts as itself, not as a caller's role. The
    encryption-context condition limits it to log groups of this account and region.
    """
    stack = Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsEncryption",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
            actions=list(LOGS_KEY_ACTIONS),
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
                    )
                }
            },
        )
    )


def encrypted_log_group(
    scope: IConstruct,
    construct_id: str,
    *,
    key: kms.IKey,
    removal_policy: RemovalPolicy,
    retention: logs.RetentionDays = DEFAULT_RETENTION,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group with a retention, encrypted with ``key`` (which must allow CloudWatch Logs: ``allow_cloudwatch_logs``).

    Fixes checkov CKV_AWS_158 (log group not KMS-encrypted) for Lambda, API Gateway, Step Functions or VPC flow logs.
    """
    return logs.LogGroup(
        scope,
        construct_id,
        encryption_key=key,
        retention=retention,
        removal_policy=removal_policy,
        log_group_name=log_group_name,
    )


def _cfn(construct: IConstruct) -> CfnResource:
    if isinstance(construct, CfnResource):
        return construct
    child = construct.node.default_child
    if not isinstance(child, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to carry a checkov skip")
    return child


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Record a checkov skip with its reason on the CloudFormation resource (``Metadata.checkov.skip``)."""
    if not reason.strip():
        raise ValueError(f"a checkov skip of {check_id} needs a reason")
    resource = _cfn(construct)
    existing: dict[str, Any] = resource.get_metadata(CHECKOV_METADATA) or {}
    skips = [entry for entry in existing.get("skip", []) if entry["id"] != check_id]
    resource.add_metadata(CHECKOV_METADATA, {**existing, "skip": [*skips, {"id": check_id, "comment": reason}]})


def checkov_skips(construct: IConstruct) -> dict[str, str]:
    """The checkov skips a construct's resource carries: check id -> reason."""
    metadata = _cfn(construct).get_metadata(CHECKOV_METADATA) or {}
    return {entry["id"]: entry["comment"] for entry in metadata.get("skip", [])}


def acknowledge(construct: IConstruct, reason: str, *, nag: Iterable[str] = (), checkov: Iterable[str] = ()) -> None:
    """Excuse findings on ``construct`` with one reason: cdk-nag rule ids (e.g. ``Serverless-LambdaDLQ``,
    ``AwsSolutions-IAM5[Resource::*]``) and checkov check ids (e.g. ``CKV_AWS_116``), recorded on its resource."""
    nag_ids, checkov_ids = list(nag), list(checkov)
    if not nag_ids and not checkov_ids:
        raise ValueError("acknowledge() needs at least one cdk-nag rule or checkov check")
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledge() needs a real reason, got {reason!r}")
    if nag_ids:
        Validations.of(construct).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule in nag_ids))
    for check_id in checkov_ids:
        skip_checkov(construct, check_id, reason)
