"""Gateway state in DynamoDB: the circuit-breaker table, the response cache and the model-health table, under the
stack's KMS key.

All tables: partition key ``pk`` (string), on-demand billing, point-in-time recovery, server-side encryption with
the stack's customer-managed key. The cache and health tables expire items through their ``expiresAt`` TTL attribute.
The health table holds time-bucketed, sharded counters (``fmgateway.health.store``): the functions only add to items
(``UpdateItem``) and batch-read them (``BatchGetItem``), a grant of its own.
The key is the stack's one customer-managed key (rotation on); queues, topics, buckets, Lambda environments and log
groups reuse it (its policy lets CloudWatch Logs of this account and region use it).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.compliance import allow_cloudwatch_logs

# What the gateway does with its state: point reads (breaker reads are consistent), batched breaker reads,
# conditional puts and updates (breaker transitions), cache puts. No scans, queries or deletes.
TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
)
# The health table: additive updates and batched reads of the window's items; nothing else.
HEALTH_TABLE_ACTIONS = ("dynamodb:UpdateItem", "dynamodb:BatchGetItem")
# DynamoDB uses the table's customer-managed key on the caller's behalf: Decrypt on reads, Encrypt and
# GenerateDataKey on writes. Only through DynamoDB in this region (kms:ViaService).
KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")


class StateTables(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{prefix}: encryption at rest for the gateway's tables, queues, topics and buckets",
            alias=f"alias/{prefix}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        # Every log group of the stack (functions, API access logs, VPC flow logs) is encrypted with this key.
        allow_cloudwatch_logs(self.key)
        common = {
            "partition_key": dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
            "encryption": dynamodb.TableEncryption.CUSTOMER_MANAGED,
            "encryption_key": self.key,
            "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            "removal_policy": removal_policy,
        }
        self.breaker_table = dynamodb.Table(self, "BreakerTable", **common)
        self.cache_table = dynamodb.Table(self, "CacheTable", time_to_live_attribute="expiresAt", **common)
        self.health_table = dynamodb.Table(self, "HealthTable", time_to_live_attribute="expiresAt", **common)
        self._key_grantees: list[iam.IPrincipal] = []

    @property
    def tables(self) -> tuple[dynamodb.Table, dynamodb.Table]:
        return self.breaker_table, self.cache_table

    def grant_health_access(self, grantee: iam.IGrantable) -> None:
        """Add to and batch-read the health table's items (no get, put, query, scan or delete); the key through DynamoDB."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="GatewayHealthTable", actions=list(HEALTH_TABLE_ACTIONS), resources=[self.health_table.table_arn]
            )
        )
        self._grant_key(grantee)

    def _grant_key(self, grantee: iam.IGrantable) -> None:
        """The stack key through DynamoDB only, once per grantee (every table here shares the key)."""
        principal = grantee.grant_principal
        if any(principal is granted for granted in self._key_grantees):
            return
        self._key_grantees.append(principal)
        stack = Stack.of(self)
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="GatewayStateTablesKey",
                actions=list(KEY_ACTIONS),
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{stack.region}.{stack.url_suffix}"}},
            )
        )

    def grant_state_access(self, grantee: iam.IGrantable) -> None:
        """Read/write items in the breaker and cache tables (no scan, query or delete) and use the key only through
        DynamoDB."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="GatewayStateTables",
                actions=list(TABLE_ACTIONS),
                resources=[table.table_arn for table in self.tables],
            )
        )
        self._grant_key(grantee)
