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


def test_lambda_errors_alarm(synth):
    props = alarms_by_metric(synth)["Errors"]
    assert props["Namespace"] == "AWS/Lambda"
    function_id, _ = synth.one("AWS::Lambda::Function")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
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


def test_five_alarms_and_no_topic_without_alarm_email(synth):
    assert len(synth.resources("AWS::CloudWatch::Alarm")) == 5
    assert not synth.resources("AWS::SNS::Topic")


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
