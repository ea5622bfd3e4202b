"""AppConfig: application, environment, freeform hosted profile with a JSON-schema validator, strategy, deployment,
and read access limited to that profile."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra.settings import CONFIG_SCHEMA
from tests.infra.conftest import api_function, as_list, statements_of


def test_application_environment_profile(synth):
    app_id, app = synth.one("AWS::AppConfig::Application")
    assert app["Properties"]["Name"] == "fm-gateway-dev"
    _, env = synth.one("AWS::AppConfig::Environment")
    assert env["Properties"]["Name"] == "dev"
    assert env["Properties"]["ApplicationId"] == {"Ref": app_id}
    _, profile = synth.one("AWS::AppConfig::ConfigurationProfile")
    props = profile["Properties"]
    assert props["Name"] == "gateway"
    assert props["LocationUri"] == "hosted"
    assert props["Type"] == "AWS.Freeform"
    assert props["ApplicationId"] == {"Ref": app_id}


def test_json_schema_validator_is_the_config_schema(synth):
    _, profile = synth.one("AWS::AppConfig::ConfigurationProfile")
    validators = profile["Properties"]["Validators"]
    assert len(validators) == 1
    assert validators[0]["Type"] == "JSON_SCHEMA"
    assert json.loads(validators[0]["Content"]) == json.loads(CONFIG_SCHEMA.read_text())


def test_hosted_version_holds_the_config_file(synth, gateway_config):
    _, version = synth.one("AWS::AppConfig::HostedConfigurationVersion")
    props = version["Properties"]
    assert props["ContentType"] == "application/json"
    assert json.loads(props["Content"]) == gateway_config
    assert props["VersionLabel"] == gateway_config["version"]


def test_deployment_strategy_and_deployment(synth):
    strategy_id, strategy = synth.one("AWS::AppConfig::DeploymentStrategy")
    # dev without a configRollout context value: everything at once, no bake.
    assert strategy["Properties"]["GrowthFactor"] == 100
    assert strategy["Properties"]["FinalBakeTimeInMinutes"] == 0
    assert strategy["Properties"]["ReplicateTo"] == "NONE"
    env_id, _ = synth.one("AWS::AppConfig::Environment")
    profile_id, _ = synth.one("AWS::AppConfig::ConfigurationProfile")
    _, deployment = synth.one("AWS::AppConfig::Deployment")
    props = deployment["Properties"]
    assert props["DeploymentStrategyId"] == {"Ref": strategy_id}
    assert props["EnvironmentId"] == {"Ref": env_id}
    assert props["ConfigurationProfileId"] == {"Ref": profile_id}


def test_environment_rolls_back_on_the_api_5xx_alarm(synth):
    _, env = synth.one("AWS::AppConfig::Environment")
    monitors = env["Properties"]["Monitors"]
    assert len(monitors) == 1
    alarm_id = monitors[0]["AlarmArn"]["Fn::GetAtt"][0]
    alarm = synth.doc["Resources"][alarm_id]
    assert alarm["Properties"]["MetricName"] == "5XXError"
    role = synth.doc["Resources"][monitors[0]["AlarmRoleArn"]["Fn::GetAtt"][0]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "appconfig.amazonaws.com"}


def test_function_reads_only_this_profile(synth):
    _, function = api_function(synth)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [st for st in statements_of(synth, role_id) if any(a.startswith("appconfig:") for a in as_list(st["Action"]))]
    assert len(statements) == 1
    assert sorted(as_list(statements[0]["Action"])) == ["appconfig:GetLatestConfiguration", "appconfig:StartConfigurationSession"]
    app_id, _ = synth.one("AWS::AppConfig::Application")
    env_id, _ = synth.one("AWS::AppConfig::Environment")
    profile_id, _ = synth.one("AWS::AppConfig::ConfigurationProfile")
    assert statements[0]["Resource"] == (
        f"arn:aws:appconfig:us-east-1:${{AWS::AccountId}}:application/${{{app_id}}}"
        f"/environment/${{{env_id}}}/configuration/${{{profile_id}}}"
    )
    synth.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"FMGW_APPCONFIG_PROFILE": {"Ref": profile_id}})}},
    )
