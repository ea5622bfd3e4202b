"""The API Lambda: runtime, architecture, tracing, logging, Powertools layer, environment, bundle."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra.bundle import LAMBDA_DIR
from tests.infra.conftest import api_function


def test_runtime_architecture_sizing_tracing(synth):
    synth.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "handlers.api.handler",
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "MemorySize": 512,  # right-sized: bench/rightsizing.py
            "Timeout": 29,
            "TracingConfig": {"Mode": "Active"},
        },
    )


def test_json_logging_to_an_explicit_one_month_log_group(synth):
    _, function = api_function(synth)
    logging = function["Properties"]["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == "INFO"
    log_group_id = logging["LogGroup"]["Ref"]
    log_group = synth.doc["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_powertools_layer_from_public_ssm_parameter(synth):
    _, function = api_function(synth)
    layers = function["Properties"]["Layers"]
    assert len(layers) == 1
    parameter = synth.doc["Parameters"][layers[0]["Ref"]]
    assert parameter == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": "/aws/service/powertools/python/arm64/python3.13/3.37.0",
    }
    # The layer is published per Python version: its parameter names the function's runtime.
    assert function["Properties"]["Runtime"] in parameter["Default"].split("/")


def test_environment_contract(synth):
    _, function = api_function(synth)
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "fm-gateway"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "FMGateway"
    assert variables["POWERTOOLS_TRACE_DISABLED"] == "true"  # xraySdk off: no Tracer, ~100 ms less cold start
    for name, resource_type in {
        "FMGW_BREAKER_TABLE": "AWS::DynamoDB::Table",
        "FMGW_CACHE_TABLE": "AWS::DynamoDB::Table",
        "FMGW_APPCONFIG_APPLICATION": "AWS::AppConfig::Application",
        "FMGW_APPCONFIG_ENVIRONMENT": "AWS::AppConfig::Environment",
        "FMGW_APPCONFIG_PROFILE": "AWS::AppConfig::ConfigurationProfile",
    }.items():
        assert synth.doc["Resources"][variables[name]["Ref"]]["Type"] == resource_type, name
    breaker, cache = variables["FMGW_BREAKER_TABLE"]["Ref"], variables["FMGW_CACHE_TABLE"]["Ref"]
    assert breaker != cache
    assert "TimeToLiveSpecification" in synth.doc["Resources"][cache]["Properties"]
    assert "FMGW_CONFIG_FILE" not in variables


def test_role_has_no_managed_policies_and_writes_only_its_log_group(synth):
    _, function = api_function(synth)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = synth.doc["Resources"][role_id]
    assert "ManagedPolicyArns" not in role["Properties"]
    log_group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    synth.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Effect": "Allow",
                            "Resource": {"Fn::GetAtt": [log_group_id, "Arn"]},
                        }
                    ]
                )
            },
        },
    )


def test_bundle_holds_core_handlers_and_schemas_without_caches(synth):
    assert (LAMBDA_DIR / "handlers" / "api.py").is_file()
    assert (LAMBDA_DIR / "fmgateway" / "__init__.py").is_file()
    assert (LAMBDA_DIR / "schemas" / "gateway-config.json").is_file()
    assert not list(LAMBDA_DIR.rglob("__pycache__"))
    assert not list(LAMBDA_DIR.rglob("*.pyc"))


def test_functions_are_right_sized_from_the_measurement(synth):
    """README "Right-sized functions": the deployed sizes are the ones bench/rightsizing.py reports as deployed."""
    from bench.rightsizing import DEPLOYED

    sizes = {
        properties["Handler"]: properties["MemorySize"]
        for resource in synth.doc["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and "Handler" in (properties := resource["Properties"])
    }
    assert sizes["handlers.api.handler"] == DEPLOYED["api"] == 512
    assert sizes["handlers.routing_tasks.handler"] == DEPLOYED["routing-tasks"] == 512
    assert sizes["handlers.jobs_api.handler"] == DEPLOYED["jobs-api"] == 1024
    assert sizes["handlers.jobs_worker.handler"] == DEPLOYED["jobs-worker"] == 1024
    assert sizes["run.sh"] == DEPLOYED["streaming"] == 1024  # the streaming function, started by the Web Adapter
    assert sizes["handlers.authorizer.handler"] == 256
