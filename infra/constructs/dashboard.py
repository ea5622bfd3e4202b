"""The gateway's CloudWatch dashboard: API traffic and latency, the alarms' states, each function, the gateway's own EMF
metrics, one row per tier and the async-jobs queues.

A tier's row (``tiers``: tier -> its candidates as (alias, health key)) shows calls and failures by kind, latency and
time-to-first-token percentiles, and breaker transitions of each candidate, from the per-model EMF metrics of
``fmgateway.aws.health_metrics`` (dimensions ``Model`` = the health key, ``service``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.metrics import (
    JOBS_QUEUE_MAX_AGE_SECONDS,
    ONE_MINUTE,
    api_metric,
    function_name,
    gateway_metric,
    model_metric,
    tier_metric,
)


class GatewayDashboard(cloudwatch.Dashboard):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        api_name: str,
        stage_name: str,
        functions: Sequence[lambda_.Function],
        alarms: Sequence[cloudwatch.IAlarm],
        tiers: Mapping[str, Sequence[tuple[str, str]]] | None = None,
        jobs_queue: sqs.IQueue | None = None,
        jobs_dlq: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id, dashboard_name=prefix, default_interval=Duration.hours(3))
        self._api_name, self._stage_name = api_name, stage_name
        minute = {"period": ONE_MINUTE}
        self.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    self._api("Count", label="requests"),
                    self._api("4XXError", label="4xx"),
                    self._api("5XXError", label="5xx"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[
                    self._api("Latency", "p50", label="p50"),
                    self._api("Latency", "p99", label="p99"),
                    self._api("IntegrationLatency", "p99", label="integration p99"),
                ],
                width=8,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=8),
        )
        for function in functions:
            name = function_name(function)
            self.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name}: invocations, errors, throttles",
                    left=[
                        function.metric_invocations(statistic="Sum", **minute),
                        function.metric_errors(statistic="Sum", **minute),
                        function.metric_throttles(statistic="Sum", **minute),
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: duration (ms)",
                    left=[
                        function.metric_duration(statistic="p50", label="p50", **minute),
                        function.metric_duration(statistic="p99", label="p99", **minute),
                    ],
                    width=12,
                ),
            )
        self.add_widgets(
            cloudwatch.GraphWidget(
                title="Gateway: requests, fallbacks, degraded",
                left=[gateway_metric(name, period=ONE_MINUTE) for name in ("Requests", "Fallbacks", "Degraded")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Gateway: errors by status",
                left=[gateway_metric(name, period=ONE_MINUTE) for name in ("Errors502", "Errors503", "Errors504")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Gateway: overhead (ms) and cost (micro-USD)",
                left=[
                    gateway_metric("OverheadMs", statistic="p50", period=ONE_MINUTE).with_(label="overhead p50"),
                    gateway_metric("OverheadMs", statistic="p99", period=ONE_MINUTE).with_(label="overhead p99"),
                ],
                right=[gateway_metric("CostMicroUsd", period=ONE_MINUTE).with_(label="cost (micro-USD)")],
                width=8,
            ),
        )
        for tier, candidates in (tiers or {}).items():
            self.add_widgets(*self._tier_widgets(tier, candidates))
        if jobs_queue is not None or jobs_dlq is not None:
            self.add_widgets(*self._jobs_widgets(jobs_queue, jobs_dlq))

    def _api(self, name: str, statistic: str = "Sum", period: Duration = ONE_MINUTE, **kwargs) -> cloudwatch.Metric:
        return api_metric(self._api_name, self._stage_name, name, statistic, period, **kwargs)

    @staticmethod
    def _tier_widgets(tier: str, candidates: Sequence[tuple[str, str]]) -> list[cloudwatch.IWidget]:
        """One dashboard row for a tier: each candidate's traffic and failures, latency, and breaker."""
        failures = ("ModelThrottles", "ModelUnavailable", "ModelTimeouts", "ModelErrors")
        return [
            cloudwatch.GraphWidget(
                title=f"Tier {tier}: calls and failures by kind",
                left=[model_metric("ModelCalls", key, label=f"{alias} calls") for alias, key in candidates],
                right=[
                    model_metric(name, key, label=f"{alias} {name.removeprefix('Model').lower()}")
                    for alias, key in candidates
                    for name in failures
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"Tier {tier}: latency p50 / p99 and time to first token p50 (ms)",
                left=[
                    model_metric("ModelLatencyMs", key, statistic, label=f"{alias} {statistic}")
                    for alias, key in candidates
                    for statistic in ("p50", "p99")
                ],
                right=[model_metric("ModelTtftMs", key, "p50", label=f"{alias} TTFT p50") for alias, key in candidates],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"Tier {tier}: breaker transitions, requests with no healthy candidate",
                left=[
                    model_metric(name, key, label=f"{alias} {name.removeprefix('Breaker').lower()}")
                    for alias, key in candidates
                    for name in ("BreakerOpened", "BreakerClosed")
                ],
                right=[tier_metric("NoHealthyCandidate", tier).with_(label="no healthy candidate")],
                width=8,
            ),
        ]

    @staticmethod
    def _jobs_widgets(queue: sqs.IQueue | None, dlq: sqs.IQueue | None) -> list[cloudwatch.IWidget]:
        minute = {"period": ONE_MINUTE}
        widgets: list[cloudwatch.IWidget] = []
        if queue is not None:
            widgets += [
                cloudwatch.GraphWidget(
                    title="Jobs queue: waiting, in flight, sent, deleted",
                    left=[
                        queue.metric_approximate_number_of_messages_visible(statistic="Maximum", label="waiting", **minute),
                        queue.metric_approximate_number_of_messages_not_visible(statistic="Maximum", label="in flight", **minute),
                    ],
                    right=[
                        queue.metric_number_of_messages_sent(statistic="Sum", label="sent", **minute),
                        queue.metric_number_of_messages_deleted(statistic="Sum", label="deleted", **minute),
                    ],
                    width=8,
                ),
                cloudwatch.GraphWidget(
                    title="Jobs queue: age of oldest message (s)",
                    left=[queue.metric_approximate_age_of_oldest_message(statistic="Maximum", label="oldest", **minute)],
                    left_annotations=[cloudwatch.HorizontalAnnotation(value=JOBS_QUEUE_MAX_AGE_SECONDS, label="alarm")],
                    width=8,
                ),
            ]
        if dlq is not None:
            widgets.append(
                cloudwatch.GraphWidget(
                    title="Jobs DLQ: arrivals and backlog",
                    left=[
                        dlq.metric_number_of_messages_received(statistic="Sum", label="received (poisoned jobs)", **minute),
                        dlq.metric_approximate_number_of_messages_visible(statistic="Maximum", label="waiting", **minute),
                    ],
                    width=8,
                )
            )
        return widgets
