"""Alarms and dashboard."""

from __future__ import annotations

import json

from tests.infra.conftest import render


def alarms_by_metric(synth) -> dict[str, dict]:
    return {
        alarm["Properties"]["MetricName"]: alarm["Properties"] for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
    }


def test_api_alarms_watch_the_stage(synth):
    alarms = alarms_by_metric(synth)
    for metric in ("5XXError", "Latency"):
        props = alarms[metric]
        assert props["Namespace"] == "AWS/ApiGateway"
        assert sorted(props["Dimensions"], key=lambda d: d["Name"]) == [
            {"Name": "ApiName", "Value": "fm-gateway-dev"},
            {"Name": "Stage", "Value": "dev"},
        ]
        assert props["TreatMissingData"] == "notBreaching"
    assert alarms["5XXError"]["Statistic"] == "Sum"
    assert alarms["Latency"]["ExtendedStatistic"] == "p99"
    synth.template.has_resource_properties("AWS::ApiGateway::RestApi", {"Name": "fm-gateway-dev"})


def test_lambda_errors_alarm_per_function(synth):
    errors = [
        alarm["Properties"]
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "Errors"
    ]
    functions = sorted(synth.resources("AWS::Lambda::Function"))
    assert sorted(props["Dimensions"][0]["Value"]["Ref"] for props in errors) == functions
    for props in errors:
        assert props["Namespace"] == "AWS/Lambda"
        assert props["Dimensions"][0]["Name"] == "FunctionName"
        assert props["Threshold"] == 1


def test_gateway_metric_alarms_fire_above_zero(synth):
    alarms = alarms_by_metric(synth)
    for metric in ("Degraded", "Errors503"):
        props = alarms[metric]
        assert props["Namespace"] == "FMGateway"
        assert props["Dimensions"] == [{"Name": "service", "Value": "fm-gateway"}]
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Threshold"] == 0
        assert props["Statistic"] == "Sum"


def test_alarm_count_and_no_alarm_topic_without_alarm_email(synth):
    # API 5xx, API latency, Degraded, Errors503, one Errors alarm per function, three on the jobs queues, one on the
    # sweeper's DLQ.
    functions = synth.resources("AWS::Lambda::Function")
    tiers = 3  # one NoHealthyCandidate alarm per tier of config/gateway.json
    assert len(synth.resources("AWS::CloudWatch::Alarm")) == 4 + len(functions) + 3 + 1 + tiers
    topics = synth.resources("AWS::SNS::Topic")
    # only the job-notification and customization-notice topics
    assert [key for key in topics if not key.startswith(("Jobs", "Customization"))] == []


def test_dashboard_covers_api_lambda_and_gateway_metrics(synth):
    _, dashboard = synth.one("AWS::CloudWatch::Dashboard")
    body = render(dashboard["Properties"]["DashboardBody"])
    widgets = json.loads(body)["widgets"]
    text = json.dumps(widgets)
    for metric in ("5XXError", "4XXError", "Latency", "Count", "Errors", "Duration", "Throttles"):
        assert f'"{metric}"' in text, metric
    for metric in ("Requests", "Fallbacks", "Degraded", "CostMicroUsd", "OverheadMs", "Errors502", "Errors503", "Errors504"):
        assert f'"{metric}"' in text, metric
    assert '"p99"' in text and '"p50"' in text
