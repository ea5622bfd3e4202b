"""Model health in the template (issue 14): the health table, its least-privilege grant to the functions that call
models, their environment, the per-tier alarm and the per-tier dashboard row."""

from __future__ import annotations

import json

from infra.constructs.state_tables import HEALTH_TABLE_ACTIONS
from infra.settings import tier_candidates
from tests.conftest import CONFIG_FILE
from tests.infra.conftest import as_list, render, statements_of

MODEL_FUNCTIONS = (
    "handlers.api.handler",
    "handlers.jobs_worker.handler",
    "handlers.routing_tasks.handler",
)


def health_table(synth) -> tuple[str, dict]:
    found = {key: res for key, res in synth.resources("AWS::DynamoDB::Table").items() if "HealthTable" in key}
    assert len(found) == 1
    return next(iter(found.items()))


def test_health_table_is_encrypted_on_demand_with_ttl(synth):
    _, table = health_table(synth)
    props = table["Properties"]
    key_id, _ = synth.one("AWS::KMS::Key")
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["SSESpecification"] == {"KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}, "SSEEnabled": True, "SSEType": "KMS"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def model_functions(synth) -> dict[str, dict]:
    functions = {}
    for key, res in synth.resources("AWS::Lambda::Function").items():
        handler = res["Properties"].get("Handler")
        variables = res["Properties"].get("Environment", {}).get("Variables", {})
        if handler in MODEL_FUNCTIONS or "AWS_LWA_INVOKE_MODE" in variables:  # the streaming function runs run.sh
            functions[key] = res
    assert len(functions) == 4
    return functions


def test_functions_that_call_models_may_add_to_and_batch_read_the_health_table_only(synth):
    table_id, _ = health_table(synth)
    for function in model_functions(synth).values():
        assert function["Properties"]["Environment"]["Variables"]["FMGW_HEALTH_TABLE"] == {"Ref": table_id}
        statements = statements_of(synth, function["Properties"]["Role"]["Fn::GetAtt"][0])
        on_table = [st for st in statements if f"${{{table_id}.Arn}}" in as_list(st.get("Resource", []))]
        assert len(on_table) == 1
        assert sorted(as_list(on_table[0]["Action"])) == sorted(HEALTH_TABLE_ACTIONS)
        assert as_list(on_table[0]["Resource"]) == [f"${{{table_id}.Arn}}"]
        through_dynamodb = [
            st
            for st in statements
            if any(a.startswith("kms:") for a in as_list(st["Action"]))
            and str(st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", "")).startswith("dynamodb.")
        ]
        assert through_dynamodb  # the table key, only through DynamoDB (the worker has the jobs tables' too)


def test_no_other_role_touches_the_health_table(synth):
    table_id, _ = health_table(synth)
    roles = {fn["Properties"]["Role"]["Fn::GetAtt"][0] for fn in model_functions(synth).values()}
    for key, res in synth.resources("AWS::IAM::Policy").items():
        attached = {ref["Ref"] for ref in res["Properties"].get("Roles", [])}
        text = json.dumps(render(res["Properties"]["PolicyDocument"]["Statement"]))
        if f"${{{table_id}.Arn}}" in text:
            assert attached <= roles, key


def test_an_alarm_per_tier_when_no_candidate_is_healthy(synth):
    alarms = [
        alarm["Properties"]
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "NoHealthyCandidate"
    ]
    tiers = json.loads(CONFIG_FILE.read_text())["tiers"]
    assert sorted(dim["Value"] for props in alarms for dim in props["Dimensions"] if dim["Name"] == "Tier") == sorted(tiers)
    for props in alarms:
        assert props["Namespace"] == "FMGateway" and props["Statistic"] == "Sum" and props["Threshold"] == 1
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"


def test_a_dashboard_row_per_tier_with_each_candidate(synth):
    _, dashboard = synth.one("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    candidates = tier_candidates(json.loads(CONFIG_FILE.read_text()))
    for tier, models in candidates.items():
        assert f"Tier {tier}: calls and failures by kind" in body
        assert f"Tier {tier}: latency p50 / p99" in body
        assert f"Tier {tier}: breaker transitions" in body
        for _, key in models:
            assert key in body
    for metric in ("ModelCalls", "ModelThrottles", "ModelLatencyMs", "ModelTtftMs", "BreakerOpened", "NoHealthyCandidate"):
        assert metric in body


def test_tier_candidates_follow_successors_and_name_inference_profiles():
    doc = json.loads(CONFIG_FILE.read_text())
    doc["tiers"]["simple"] = ["claude-3-opus", "nova-lite"]  # a retired alias: its successor is what runs
    candidates = dict(tier_candidates(doc)["simple"])
    successor = doc["models"]["claude-3-opus"]["successor"]
    assert "claude-3-opus" not in candidates and successor in candidates
    assert candidates["nova-lite"] == f"us.{doc['models']['nova-lite']['modelId']}"
