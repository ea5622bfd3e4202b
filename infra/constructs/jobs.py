"""Async jobs: the job table, the queue and its DLQ, the results bucket, the notification topic, and four functions.

``POST /v1/jobs`` (jobs API function) writes a QUEUED record flagged ``pendingEnqueue`` and enqueues the job id; the
worker takes SQS batches (partial batch failures, each job under Powertools idempotency), runs the job through the
same core, stores the result in the record (large results under ``results/`` in S3) and publishes one notification
per terminal job (attributes ``status``, ``tenant``, ``route``). A message that fails ``jobs.maxReceives`` deliveries
goes to the DLQ, whose consumer marks the job FAILED and notifies. Every minute the sweeper re-enqueues jobs whose
submit died between writing the record and enqueueing (the ``pending`` index). The sweeper is the one function
invoked asynchronously (by its EventBridge schedule): events EventBridge cannot deliver and invocations that fail land
in the sweeper's own dead-letter queue, which is alarmed; every other function is invoked synchronously (API Gateway,
SQS event source mappings), where failures return to the caller or to the source queue.

Everything is encrypted with the stack key. Each function gets exactly the item, queue, object and topic actions it
uses, and the key only through the service that uses it on its behalf (``kms:ViaService``).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.compliance import acknowledge
from infra.constructs.functions import GatewayFunctions, acknowledge_no_dead_letter_queue
from infra.constructs.state_tables import KEY_ACTIONS as TABLE_KEY_ACTIONS
from infra.settings import VISIBILITY_TIMEOUT_FACTOR, JobsSettings

PENDING_INDEX = "pending"
RESULTS_PREFIX = "results/"
DLQ_BATCH_SIZE = 10
DLQ_HANDLER_TIMEOUT = Duration.seconds(60)
SWEEPER_TIMEOUT = Duration.seconds(60)
SWEEP_RATE = Duration.minutes(1)
DLQ_RETENTION = Duration.days(14)
SWEEP_RULE_NAME = "{prefix}-jobs-sweep"
ACCESS_LOG_RETENTION = Duration.days(90)

# Item actions per function (no scans, no batch writes). TransactWriteItems has no IAM action of its own: a
# transaction of conditional puts needs PutItem on the table.
API_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
PROCESSOR_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
# Powertools idempotency, DynamoDB persistence layer.
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
# What each service asks KMS for on the caller's behalf: SQS SendMessage and SNS Publish to an encrypted queue or topic
# need a data key (and Decrypt to reuse it); an SSE-KMS upload needs a data key (Decrypt for multipart); a download
# needs Decrypt.
SEND_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
UPLOAD_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
DOWNLOAD_KEY_ACTIONS = ("kms:Decrypt",)


class Jobs(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        functions: GatewayFunctions,
        key: kms.IKey,
        settings: JobsSettings,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        table_common = {
            "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
            "encryption": dynamodb.TableEncryption.CUSTOMER_MANAGED,
            "encryption_key": key,
            "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            "removal_policy": removal_policy,
        }
        # Jobs (pk = job#<id>) and Idempotency-Key markers (pk = idem#<tenant>#<hash>), both expiring with the job.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiresAt",
            **table_common,
        )
        # Sparse: only records whose submit has not confirmed the enqueue carry pendingEnqueue.
        self.table.add_global_secondary_index(
            index_name=PENDING_INDEX,
            partition_key=dynamodb.Attribute(name="pendingEnqueue", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="createdEpoch", type=dynamodb.AttributeType.NUMBER),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=["jobId"],
        )
        # Powertools idempotency (DynamoDB persistence layer defaults: key "id", TTL "expiration").
        self.idempotency_table = dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            **table_common,
        )

        queue_common = {"encryption": sqs.QueueEncryption.KMS, "encryption_master_key": key, "enforce_ssl": True}
        self.dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            retention_period=DLQ_RETENTION,
            visibility_timeout=Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * DLQ_HANDLER_TIMEOUT.to_seconds()),
            **queue_common,
        )
        acknowledge(
            self.dlq,
            "This is the jobs queue's dead-letter queue: its consumer marks each job FAILED; a message it cannot handle "
            "stays here for 14 days under the JobsDlqMessagesAlarm. A DLQ of a DLQ would only move the problem.",
            nag=("Serverless-SQSRedrivePolicy",),
        )
        # Failed sweeper invocations: events EventBridge could not deliver, and invocations that failed (no retry: the
        # next tick sweeps again). Kept for inspection; observability alarms when one arrives.
        self.sweeper_dlq = sqs.Queue(self, "SweeperDeadLetterQueue", retention_period=DLQ_RETENTION, **queue_common)
        acknowledge(
            self.sweeper_dlq,
            "This is the sweeper's dead-letter queue (EventBridge target and Lambda asynchronous invocations); nothing "
            "consumes it, its messages are kept 14 days for inspection and alarmed. A DLQ of a DLQ would only move them.",
            nag=("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=Duration.seconds(settings.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=settings.max_receives, queue=self.dlq),
            **queue_common,
        )

        bucket_common = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": removal_policy,
        }
        # S3 server access logs cannot be delivered to an SSE-KMS bucket: the log bucket uses S3-managed keys. (cdk-nag
        # does not ask a log destination bucket for access logs of its own.)
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_RETENTION)],
            **bucket_common,
        )
        self.results_bucket = s3.Bucket(
            self,
            "ResultsBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            # Results are the only copy of large job outputs: an overwrite or delete (a bug, an operator) stays
            # recoverable for as long as the job itself is kept.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-results",
                    prefix=RESULTS_PREFIX,
                    expiration=Duration.days(settings.retention_days),
                    noncurrent_version_expiration=Duration.days(settings.retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="results-bucket/",
            **bucket_common,
        )
        acknowledge(
            self.access_log_bucket,
            "The S3 server access log bucket of the results bucket: logs of the log bucket would need a third bucket, "
            "and its objects are written once by the logging service and expire after 90 days (versioning adds nothing).",
            checkov=("CKV_AWS_18", "CKV_AWS_21"),
        )
        self.topic = sns.Topic(self, "Topic", display_name=f"{prefix} job notifications", master_key=key, enforce_ssl=True)

        environment = {
            "FMGW_JOBS_TABLE": self.table.table_name,
            "FMGW_JOBS_QUEUE_URL": self.queue.queue_url,
            "FMGW_RESULTS_BUCKET": self.results_bucket.bucket_name,
            "FMGW_JOBS_TOPIC_ARN": self.topic.topic_arn,
        }
        self.api_handler = functions.create(
            "JobsApiHandler",
            handler="handlers.jobs_api.handler",
            description="FM Gateway jobs API: POST /v1/jobs, GET and DELETE /v1/jobs/{id}",
            environment=environment,
            timeout=Duration.seconds(29),
        )
        self.worker = functions.create(
            "JobsWorker",
            handler="handlers.jobs_worker.handler",
            description="FM Gateway jobs worker: runs queued jobs (SQS batches, partial failures, idempotent)",
            environment={**environment, "FMGW_IDEMPOTENCY_TABLE": self.idempotency_table.table_name},
            memory_size=1024,
            timeout=Duration.seconds(settings.worker_timeout_seconds),
        )
        self.dlq_handler = functions.create(
            "JobsDlqHandler",
            handler="handlers.jobs_dlq.handler",
            description="FM Gateway jobs DLQ consumer: marks jobs whose message exhausted its deliveries FAILED",
            environment=environment,
            memory_size=512,
            timeout=DLQ_HANDLER_TIMEOUT,
        )
        self.sweeper = functions.create(
            "JobsSweeper",
            handler="handlers.jobs_sweeper.handler",
            description="FM Gateway jobs sweeper: re-enqueues jobs whose submit died before enqueueing",
            environment=environment,
            memory_size=512,
            timeout=SWEEPER_TIMEOUT,
            dead_letter_queue=self.sweeper_dlq,
        )
        # A failed sweep is not retried by Lambda either: the next tick, a minute later, sweeps again.
        self.sweeper.configure_async_invoke(retry_attempts=0)
        acknowledge(
            self.sweeper,
            "A failed asynchronous invocation goes to the function's dead-letter queue (the sweeper DLQ, alarmed); an "
            "on-failure destination as well would record every failure twice.",
            nag=("Serverless-LambdaAsyncFailureDestination",),
        )
        acknowledge_no_dead_letter_queue(self.api_handler, "API Gateway (Lambda proxy integration)")
        sqs_consumer = (
            "Invoked synchronously by its SQS event source mapping, never asynchronously, so a function DLQ would never "
            "receive anything: "
        )
        acknowledge(
            self.worker,
            sqs_consumer + "a failed message returns to the jobs queue and moves to the jobs DLQ after maxReceives "
            "deliveries (the queue's redrive policy).",
            nag=("Serverless-LambdaDLQ",),
            checkov=("CKV_AWS_116",),
        )
        acknowledge(
            self.dlq_handler,
            sqs_consumer + "a message it fails on stays in the jobs DLQ (14 days), under the JobsDlqMessagesAlarm.",
            nag=("Serverless-LambdaDLQ",),
            checkov=("CKV_AWS_116",),
        )

        # Jobs API: create/read/cancel records, enqueue, sign result URLs, announce cancellations (a cancelled job is
        # terminal and, like every terminal job, gets its one notification).
        self._table_items(self.api_handler, "JobRecords", [self.table.table_arn], API_TABLE_ACTIONS)
        self._table_key(self.api_handler)
        self._send_to_queue(self.api_handler)
        self._results(self.api_handler, "ReadJobResults", ("s3:GetObject",), DOWNLOAD_KEY_ACTIONS)
        self._publish(self.api_handler)

        # Worker: run jobs, with idempotency records; store large results; notify.
        self._table_items(self.worker, "JobRecords", [self.table.table_arn], PROCESSOR_TABLE_ACTIONS)
        self._table_items(self.worker, "IdempotencyRecords", [self.idempotency_table.table_arn], IDEMPOTENCY_ACTIONS)
        self._table_key(self.worker)
        self._results(self.worker, "WriteJobResults", ("s3:PutObject",), UPLOAD_KEY_ACTIONS)
        self._publish(self.worker)
        self.worker.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=settings.batch_size, report_batch_item_failures=True)
        )
        self._acknowledge_sqs_failure_destination(self.worker, "the jobs queue's redrive policy moves it to the jobs DLQ")

        # DLQ consumer: fail the job and notify; nothing else.
        self._table_items(self.dlq_handler, "JobRecords", [self.table.table_arn], PROCESSOR_TABLE_ACTIONS)
        self._table_key(self.dlq_handler)
        self._publish(self.dlq_handler)
        self.dlq_handler.add_event_source(
            event_sources.SqsEventSource(self.dlq, batch_size=DLQ_BATCH_SIZE, report_batch_item_failures=True)
        )
        self._acknowledge_sqs_failure_destination(self.dlq_handler, "it stays in the jobs DLQ for 14 days, alarmed")

        # Sweeper: query the pending index, enqueue, clear the flag.
        self._table_items(self.sweeper, "PendingJobs", [f"{self.table.table_arn}/index/{PENDING_INDEX}"], ("dynamodb:Query",))
        self._table_items(self.sweeper, "JobRecords", [self.table.table_arn], ("dynamodb:UpdateItem",))
        self._table_key(self.sweeper)
        self._send_to_queue(self.sweeper)
        rule_name = SWEEP_RULE_NAME.format(prefix=prefix)
        self.sweep_schedule = events.Rule(
            self,
            "SweepSchedule",
            rule_name=rule_name,
            description=f"{prefix}: re-enqueue jobs whose submit died before enqueueing",
            schedule=events.Schedule.rate(SWEEP_RATE),
        )
        # The next tick retries anyway: no EventBridge retries that would overlap it. Events it cannot deliver (the
        # function throttled or missing) go to the sweeper's DLQ; CDK adds the queue policy for this rule.
        self.sweep_schedule.add_target(targets.LambdaFunction(self.sweeper, retry_attempts=0, dead_letter_queue=self.sweeper_dlq))
        self._allow_events_to_dead_letter(rule_name)

    @property
    def functions(self) -> tuple[lambda_.Function, ...]:
        return self.api_handler, self.worker, self.dlq_handler, self.sweeper

    @staticmethod
    def _acknowledge_sqs_failure_destination(function: lambda_.Function, fate: str) -> None:
        for mapping in function.node.children:
            if isinstance(mapping, lambda_.EventSourceMapping):
                acknowledge(
                    mapping,
                    "Lambda on-failure destinations exist for stream and Kafka sources, not SQS: for an SQS source the "
                    f"queue itself keeps a message that failed, and {fate}.",
                    nag=("Serverless-LambdaEventSourceMappingDestination",),
                )

    def _allow_events_to_dead_letter(self, rule_name: str) -> None:
        """EventBridge sends undeliverable events to the sweeper DLQ, which is encrypted with the stack key: the key
        policy must let EventBridge use it, for this rule only. The rule ARN is built from its name, since a reference
        would close a cycle (key -> rule -> queue -> key)."""
        stack = Stack.of(self)
        rule_arn = stack.format_arn(
            service="events", resource="rule", resource_name=rule_name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowSweepScheduleDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=list(SEND_KEY_ACTIONS),
                resources=["*"],
                conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
            )
        )

    # ---- grants -------------------------------------------------------------------------------------------------

    def _via(self, service: str) -> dict:
        stack = Stack.of(self)
        return {"StringEquals": {"kms:ViaService": f"{service}.{stack.region}.{stack.url_suffix}"}}

    def _key(self, function: lambda_.Function, sid: str, actions: tuple[str, ...], service: str) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(sid=sid, actions=list(actions), resources=[self.key.key_arn], conditions=self._via(service))
        )

    @staticmethod
    def _table_items(function: lambda_.Function, sid: str, resources: list[str], actions: tuple[str, ...]) -> None:
        function.add_to_role_policy(iam.PolicyStatement(sid=sid, actions=list(actions), resources=resources))

    def _table_key(self, function: lambda_.Function) -> None:
        self._key(function, "JobTablesKey", TABLE_KEY_ACTIONS, "dynamodb")

    def _send_to_queue(self, function: lambda_.Function) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(sid="EnqueueJobs", actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        self._key(function, "JobsQueueKey", SEND_KEY_ACTIONS, "sqs")

    def _publish(self, function: lambda_.Function) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(sid="NotifyJobs", actions=["sns:Publish"], resources=[self.topic.topic_arn])
        )
        self._key(function, "JobsTopicKey", SEND_KEY_ACTIONS, "sns")

    def _results(self, function: lambda_.Function, sid: str, actions: tuple[str, ...], key_actions: tuple[str, ...]) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid=sid, actions=list(actions), resources=[self.results_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")]
            )
        )
        self._key(function, "JobResultsKey", key_actions, "s3")
        if function.role is not None:
            Validations.of(function.role).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.results_bucket)}.Arn>/{RESULTS_PREFIX}*]",
                    reason=f"Result objects are named {RESULTS_PREFIX}<tenant>/<job id>.json when a job finishes: the "
                    f"grant ({', '.join(actions)}) covers only the {RESULTS_PREFIX} prefix of the results bucket.",
                )
            )

    @staticmethod
    def _logical_id(construct: Construct) -> str:
        stack = Stack.of(construct)
        return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))
