"""Alarms for the API, its Lambda functions, the gateway's own EMF metrics and the async-jobs queues, their SNS topic,
and the dashboard (``infra/constructs/dashboard.py``) that shows them.

Alarms: API 5xx (also the AppConfig rollback monitor), API p99 latency, Lambda errors (one per function), Degraded > 0,
Errors503 > 0; one per tier when a request found none of the tier's candidates healthy (every breaker open:
``NoHealthyCandidate``); with the jobs queues: messages waiting in the DLQ, messages arriving in the DLQ (poisoned jobs), and
the oldest job message older than ``JOBS_QUEUE_MAX_AGE_SECONDS``; one alarm per other dead-letter queue
(``dead_letter_queues``, e.g. the sweeper's) as soon as a message waits in it. Alarm actions go to an SNS topic (KMS-encrypted
with the stack key) only when the ``alarmEmail`` context is set. The metrics are ``infra/constructs/metrics.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.compliance import acknowledge
from infra.constructs.dashboard import GatewayDashboard
from infra.constructs.metrics import (
    FIVE_MINUTES,
    JOBS_QUEUE_MAX_AGE_SECONDS,
    ONE_MINUTE,
    api_metric,
    function_name,
    gateway_metric,
    tier_metric,
)

API_P99_LATENCY_MS = 20_000  # API Gateway gives up at 29 s; sustained p99 above 20 s means fallbacks are eating the budget


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        api_name: str,
        stage_name: str,
        functions: Sequence[lambda_.Function],
        key: kms.IKey,
        alarm_email: str | None = None,
        jobs_queue: sqs.IQueue | None = None,
        jobs_dlq: sqs.IQueue | None = None,
        dead_letter_queues: Mapping[str, sqs.IQueue] | None = None,
        tiers: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api_name, self.stage_name = api_name, stage_name
        self.tiers = dict(tiers or {})
        self.alarms: list[cloudwatch.Alarm] = []

        self.api_5xx_alarm = self._alarm(
            "Api5xxAlarm",
            self._api("5XXError"),
            threshold=5,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description="API Gateway answered 5 or more 5xx per minute in 2 of the last 3 minutes "
            "(also rolls back AppConfig deployments)",
        )
        self.api_latency_alarm = self._alarm(
            "ApiLatencyP99Alarm",
            self._api("Latency", "p99", FIVE_MINUTES),
            threshold=API_P99_LATENCY_MS,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            description=f"API p99 latency above {API_P99_LATENCY_MS} ms for 15 minutes",
        )
        for function in functions:
            name = function_name(function)
            self._alarm(
                f"{name}ErrorsAlarm",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                description=f"{name}: Lambda invocation errors (crashes, timeouts; handled gateway errors are not counted; "
                "for an SQS consumer, a batch in which every message failed)",
            )
        self.degraded_alarm = self._alarm(
            "DegradedAlarm",
            gateway_metric("Degraded"),
            threshold=0,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            description="The gateway served cached (degraded) answers: every candidate model failed",
        )
        self.unavailable_alarm = self._alarm(
            "Errors503Alarm",
            gateway_metric("Errors503"),
            threshold=0,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            description="The gateway answered 503: every candidate model failed and no cached answer existed",
        )
        self.tier_alarms: dict[str, cloudwatch.Alarm] = {}
        for tier, candidates in self.tiers.items():
            names = ", ".join(alias for alias, _ in candidates)
            self.tier_alarms[tier] = self._alarm(
                f"NoHealthyCandidate{tier.title().replace('-', '')}Alarm",
                tier_metric("NoHealthyCandidate", tier),
                threshold=1,
                evaluation_periods=1,
                description=f"Tier '{tier}' has no healthy candidate: requests found the breaker of every candidate "
                f"({names}) open and were answered from the cache or with 503",
            )
        self.jobs_queue, self.jobs_dlq = jobs_queue, jobs_dlq
        self.jobs_dlq_alarm: cloudwatch.Alarm | None = None
        self.jobs_age_alarm: cloudwatch.Alarm | None = None
        if jobs_dlq is not None:
            self.jobs_dlq_alarm = self._alarm(
                "JobsDlqMessagesAlarm",
                jobs_dlq.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                description="Job messages are waiting in the DLQ: the DLQ consumer is not draining it (failing or throttled)",
            )
            # The DLQ consumer drains the DLQ within seconds, so the backlog alarm alone rarely sees a poisoned job;
            # SQS does not count redriven messages as sent to the DLQ, but the consumer's receives show every arrival.
            self._alarm(
                "JobsPoisonedAlarm",
                jobs_dlq.metric_number_of_messages_received(period=FIVE_MINUTES, statistic="Sum"),
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                description="Job messages reached the DLQ after exhausting their deliveries: those jobs were marked FAILED",
            )
        if jobs_queue is not None:
            self.jobs_age_alarm = self._alarm(
                "JobsQueueAgeAlarm",
                jobs_queue.metric_approximate_age_of_oldest_message(period=ONE_MINUTE, statistic="Maximum"),
                threshold=JOBS_QUEUE_MAX_AGE_SECONDS,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description=f"The oldest job message is older than {JOBS_QUEUE_MAX_AGE_SECONDS} s for 3 minutes: the "
                "worker is behind, throttled, or jobs are waiting for a retry",
            )
        self.dead_letter_alarms: dict[str, cloudwatch.Alarm] = {}
        for name, queue in (dead_letter_queues or {}).items():
            # Nothing drains these queues: any message in one is a failure someone has to look at.
            self.dead_letter_alarms[name] = self._alarm(
                f"{name}Alarm",
                queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                description=f"{name}: a failed invocation or undeliverable event is waiting in its dead-letter queue",
            )

        self.topic: sns.Topic | None = None
        if alarm_email:
            self.topic = sns.Topic(self, "AlarmTopic", display_name=f"{prefix} alarms", master_key=key, enforce_ssl=True)
            subscription = self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            acknowledge(
                subscription,
                "An alarm e-mail is a copy of an alarm state that CloudWatch keeps and the dashboard shows, and SNS "
                "retries e-mail deliveries itself: a queue of undelivered alarm e-mails would need an alarm of its own.",
                nag=("Serverless-SNSRedrivePolicy",),
            )
            # CloudWatch publishes alarm notifications to the encrypted topic with the stack key.
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudWatchAlarmsToUseKeyForSns",
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                )
            )
            action = cw_actions.SnsAction(self.topic)
            for alarm in self.alarms:
                alarm.add_alarm_action(action)
                alarm.add_ok_action(action)

        self.dashboard = GatewayDashboard(
            self,
            "Dashboard",
            prefix=prefix,
            api_name=api_name,
            stage_name=stage_name,
            functions=functions,
            alarms=self.alarms,
            tiers=self.tiers,
            jobs_queue=jobs_queue,
            jobs_dlq=jobs_dlq,
        )

    def _api(self, name: str, statistic: str = "Sum", period: Duration = ONE_MINUTE, **kwargs) -> cloudwatch.Metric:
        return api_metric(self.api_name, self.stage_name, name, statistic, period, **kwargs)

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        evaluation_periods: int,
        description: str,
        datapoints_to_alarm: int | None = None,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        self.alarms.append(alarm)
        return alarm
