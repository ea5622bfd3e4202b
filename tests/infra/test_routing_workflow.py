"""The orchestrated routing workflow as deployed: the state machine is the ASL file with its substitutions, Express,
logged and traced; POST /v1/chat/orchestrated integrates StartSyncExecution directly with the mapping templates of
statemachines/; IAM is limited to what the machine and its tasks need."""

from __future__ import annotations

import json
from pathlib import Path

from infra.constructs.routing_workflow import (
    DEFINITION_FILE,
    MAX_WRAPPED_BODY_CHARS,
    REQUEST_TEMPLATE_FILE,
    RESPONSE_TEMPLATE_FILE,
)
from tests.infra.conftest import api_function, as_list, render, statements_of


def state_machine(synth):
    [found] = [item for item in synth.resources("AWS::StepFunctions::StateMachine").items() if item[0].startswith("Routing")]
    return found


def test_express_with_logging_and_tracing(synth):
    _, machine = state_machine(synth)
    props = machine["Properties"]
    assert props["StateMachineType"] == "EXPRESS"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False  # no prompts in logs
    log_group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert synth.doc["Resources"][log_group]["Properties"]["RetentionInDays"] == 30


def test_the_deployed_definition_is_the_file_with_its_substitutions(synth):
    _, machine = state_machine(synth)
    props = machine["Properties"]
    assert "DefinitionString" not in props and "Definition" not in props
    key = props["DefinitionS3Location"]["Key"]
    staged = Path(synth.stack.node.root.outdir) / f"asset.{key.removesuffix('.json')}.json"
    assert staged.read_text() == DEFINITION_FILE.read_text()
    substitutions = render(props["DefinitionSubstitutions"])
    assert substitutions["BreakerTableName"].startswith("${StateBreakerTable")
    tasks_id = api_function(synth, "handlers.routing_tasks.handler")[0]
    assert substitutions["RoutingTasksFunctionArn"] == "${" + tasks_id + ".Arn}"
    placeholders = {name for name in substitutions}
    text = DEFINITION_FILE.read_text()
    assert all("${" + name + "}" in text for name in placeholders)


def test_orchestrated_method_integrates_start_sync_execution_with_validator_and_templates(synth):
    methods = synth.resources("AWS::ApiGateway::Method").values()
    method = next(res for res in methods if "StartSyncExecution" in json.dumps(res["Properties"]["Integration"].get("Uri")))
    props = method["Properties"]
    assert props["HttpMethod"] == "POST" and props["ApiKeyRequired"] is True
    validator_id, _ = synth.one("AWS::ApiGateway::RequestValidator")
    assert props["RequestValidatorId"] == {"Ref": validator_id}
    model = synth.doc["Resources"][props["RequestModels"]["application/json"]["Ref"]]["Properties"]
    assert model["Name"] == "ChatRequest"  # the same schema as POST /v1/chat
    integration = props["Integration"]
    assert integration["Type"] == "AWS" and integration["TimeoutInMillis"] == 29000
    assert integration["PassthroughBehavior"] == "NEVER"
    machine_id, _ = state_machine(synth)
    request = render(integration["RequestTemplates"]["application/json"])
    expected = REQUEST_TEMPLATE_FILE.read_text().replace("${StateMachineArn}", "${" + machine_id + "}")
    assert request == expected.replace("${MaxWrappedBodyChars}", str(MAX_WRAPPED_BODY_CHARS))
    (response,) = integration["IntegrationResponses"]
    assert response["ResponseTemplates"]["application/json"] == RESPONSE_TEMPLATE_FILE.read_text()
    role = integration["Credentials"]["Fn::GetAtt"][0]
    statements = statements_of(synth, role)
    assert [a for st in statements for a in as_list(st["Action"])] == ["states:StartSyncExecution"]
    assert [r for st in statements for r in as_list(st["Resource"])] == ["${" + machine_id + "}"]


def test_state_machine_role_reads_breaker_items_and_invokes_its_tasks_only(synth):
    _, machine = state_machine(synth)
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = statements_of(synth, role)
    by_action = {a: st for st in statements for a in as_list(st["Action"])}
    assert as_list(by_action["dynamodb:GetItem"]["Resource"]) == ["${StateBreakerTableFDF94BC0.Arn}"]
    tasks_id = api_function(synth, "handlers.routing_tasks.handler")[0]
    assert sorted(as_list(by_action["lambda:InvokeFunction"]["Resource"])) == sorted(
        ["${" + tasks_id + ".Arn}", "${" + tasks_id + ".Arn}:*"]
    )
    assert by_action["kms:Decrypt"]["Condition"]["StringEquals"]["kms:ViaService"].startswith("dynamodb.")
    data_actions = {a for a in by_action if a.split(":")[0] in ("dynamodb", "lambda", "bedrock", "s3", "sqs", "sns")}
    assert data_actions == {"dynamodb:GetItem", "lambda:InvokeFunction"}


def test_routing_tasks_function_shares_the_core_state_and_config(synth):
    _, function = api_function(synth, "handlers.routing_tasks.handler")
    env = function["Properties"]["Environment"]["Variables"]
    assert {"FMGW_BREAKER_TABLE", "FMGW_CACHE_TABLE", "FMGW_APPCONFIG_APPLICATION"} <= set(env)
    assert function["Properties"]["Timeout"] == 28
