"""The CloudWatch metrics the gateway's alarms and dashboard share: the gateway's own EMF metrics (overall, per model,
per tier) and the API Gateway stage metrics, with the periods and thresholds both use."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_

from infra.constructs.functions import METRICS_NAMESPACE, SERVICE_NAME

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
JOBS_QUEUE_MAX_AGE_SECONDS = 900  # a job waiting 15 minutes to start (or to be retried) is late


def gateway_metric(name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES) -> cloudwatch.Metric:
    """A custom metric the handlers emit with Powertools (EMF): namespace FMGateway, dimension service=fm-gateway."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period,
    )


def model_metric(name: str, health_key: str, statistic: str = "Sum", label: str | None = None) -> cloudwatch.Metric:
    """A per-model health metric (``fmgateway.aws.health_metrics``): dimensions Model (the health key) and service."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"Model": health_key, "service": SERVICE_NAME},
        statistic=statistic,
        period=ONE_MINUTE,
        label=label,
    )


def tier_metric(name: str, tier: str, period: Duration = ONE_MINUTE) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"Tier": tier, "service": SERVICE_NAME},
        statistic="Sum",
        period=period,
    )


def api_metric(
    api_name: str, stage_name: str, name: str, statistic: str = "Sum", period: Duration = ONE_MINUTE, **kwargs
) -> cloudwatch.Metric:
    """An API Gateway stage metric with literal dimensions.

    ``Stage.metric_*`` would reference the stage resource; the 5xx alarm is also AppConfig's rollback monitor, and the
    function reads the AppConfig environment, so a reference would close a cycle (alarm -> stage -> deployment ->
    methods -> function -> AppConfig environment -> alarm). The names are known at synth time.
    """
    return cloudwatch.Metric(
        namespace="AWS/ApiGateway",
        metric_name=name,
        dimensions_map={"ApiName": api_name, "Stage": stage_name},
        statistic=statistic,
        period=period,
        **kwargs,
    )


def function_name(function: lambda_.Function) -> str:
    """The name alarms and widgets give a function: the id of its construct's scope (e.g. ``ApiHandler``)."""
    return function.node.scope.node.id if function.node.scope else function.node.id
