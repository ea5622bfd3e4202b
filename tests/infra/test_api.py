"""REST API: resources, API keys, validators and models, stage settings, usage plans, gateway responses."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from infra.constructs.api import inline_refs
from infra.settings import load_schema
from tests.infra.conftest import api_function, render


def path_of(synth, resource_ref: dict) -> str:
    """The full path of an AWS::ApiGateway::Resource (or the root)."""
    if "Fn::GetAtt" in resource_ref:  # the root resource
        return ""
    resource = synth.doc["Resources"][resource_ref["Ref"]]["Properties"]
    return path_of(synth, resource["ParentId"]) + "/" + resource["PathPart"]


def methods(synth) -> dict[str, dict]:
    found = {}
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        found[f"{props['HttpMethod']} {path_of(synth, props['ResourceId'])}"] = props
    return found


def expected_methods(config) -> set[str]:
    fixed = {"GET /v1/health", "GET /v1/models", "POST /v1/chat", "POST /v1/chat/completions", "POST /v1/chat/orchestrated"}
    jobs = {"POST /v1/jobs", "GET /v1/jobs/{id}", "DELETE /v1/jobs/{id}"}
    streams = {"POST /v1/chat/stream"} | {f"POST {path}/stream" for path in config["routes"]}
    return fixed | jobs | streams | {f"POST {path}" for path in config["routes"]}


def streamed(name: str) -> bool:
    """Methods on the streaming function (tests/infra/test_streaming.py checks their integrations)."""
    return name == "POST /v1/chat/completions" or name.endswith("/stream")


def test_regional_rest_api(synth):
    synth.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}, "ApiKeySourceType": "HEADER"}
    )


def test_resources_and_methods(synth, gateway_config):
    assert set(methods(synth)) == expected_methods(gateway_config)
    assert {"POST /v1/classify", "POST /v1/generate", "POST /v1/analyze"} <= set(methods(synth))


def test_api_key_on_every_method_but_health(synth):
    for name, props in methods(synth).items():
        if name == "GET /v1/health":
            assert props.get("ApiKeyRequired", False) is False
        else:
            assert props["ApiKeyRequired"] is True, name
        assert props["AuthorizationType"] == "NONE"


def test_lambda_proxy_integration(synth):
    function_id, _ = api_function(synth)
    jobs_function_id, _ = api_function(synth, "handlers.jobs_api.handler")
    for name, props in methods(synth).items():
        if name == "POST /v1/chat/orchestrated" or streamed(name):
            continue  # Step Functions, no Lambda in front (test_routing_workflow.py); streaming (test_streaming.py)
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY", name
        assert integration["IntegrationHttpMethod"] == "POST"
        expected = jobs_function_id if "/v1/jobs" in name else function_id
        assert expected in json.dumps(integration["Uri"]), name
        assert integration["TimeoutInMillis"] == 29000


def test_request_validator_and_model_on_every_post(synth, gateway_config):
    validator_id, validator = synth.one("AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestBody"] is True
    models = {key: res["Properties"] for key, res in synth.resources("AWS::ApiGateway::Model").items()}
    posts = {name: props for name, props in methods(synth).items() if name.startswith("POST ")}
    # chat, chat/completions, chat/orchestrated, chat/stream, jobs; each route and its /stream
    assert len(posts) == 5 + 2 * len(gateway_config["routes"])
    for name, props in posts.items():
        assert props["RequestValidatorId"] == {"Ref": validator_id}, name
        model_ref = props["RequestModels"]["application/json"]["Ref"]
        expected = "OpenAIChatCompletionRequest" if name == "POST /v1/chat/completions" else "ChatRequest"
        assert models[model_ref]["Name"] == expected, name
    for name, props in methods(synth).items():
        if name.startswith("GET "):
            assert "RequestModels" not in props


def test_models_are_the_schema_files_with_refs_inlined(synth):
    models = {res["Properties"]["Name"]: res["Properties"] for res in synth.resources("AWS::ApiGateway::Model").values()}
    for name, schema_file in {
        "ChatRequest": "chat-request.json",
        "OpenAIChatCompletionRequest": "openai-chat-request.json",
    }.items():
        model = models[name]
        assert model["ContentType"] == "application/json"
        schema = model["Schema"]
        text = json.dumps(schema)
        assert "$ref" not in text and "definitions" not in schema
        assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
        jsonschema.Draft4Validator.check_schema(schema)
        assert schema["required"] == load_schema(schema_file)["required"]


def test_inlined_chat_model_validates_like_the_original():
    original = load_schema("chat-request.json")
    inlined = inline_refs(original)
    good = {
        "messages": [
            {"role": "user", "content": [{"text": "hi"}, {"image": {"format": "png", "source": {"bytes": "aGk="}}}]},
        ],
        "system": [{"text": "be brief"}],
    }
    bad = [
        {"messages": [{"role": "user", "content": [{"text": ""}]}]},
        {"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "x"}}}]}]},
        {"messages": [{"role": "robot", "content": [{"text": "hi"}]}]},
        {"messages": []},
        {},
    ]
    for validator in (jsonschema.Draft4Validator(original), jsonschema.Draft4Validator(inlined)):
        assert validator.is_valid(good)
        for doc in bad:
            assert not validator.is_valid(doc), doc


def test_inline_refs_rejects_external_and_recursive_refs():
    with pytest.raises(ValueError, match="only #/definitions"):
        inline_refs({"properties": {"a": {"$ref": "other.json#/x"}}})
    with pytest.raises(ValueError, match="recursive"):
        inline_refs(
            {"definitions": {"node": {"properties": {"next": {"$ref": "#/definitions/node"}}}}, "$ref": "#/definitions/node"}
        )


def test_stage_throttling_logging_tracing(synth, gateway_config):
    log_group_ids = set(synth.resources("AWS::Logs::LogGroup"))
    _, stage = synth.one("AWS::ApiGateway::Stage")
    props = stage["Properties"]
    assert props["StageName"] == "dev"
    assert props["TracingEnabled"] is True
    [settings] = props["MethodSettings"]
    assert settings["HttpMethod"] == "*" and settings["ResourcePath"] == "/*"
    assert settings["ThrottlingRateLimit"] == gateway_config["stage"]["rateLimit"]
    assert settings["ThrottlingBurstLimit"] == gateway_config["stage"]["burstLimit"]
    assert settings["LoggingLevel"] == "INFO"
    assert settings["DataTraceEnabled"] is False
    assert settings["MetricsEnabled"] is True
    access = props["AccessLogSetting"]
    destination = render(access["DestinationArn"])
    assert any(destination.endswith(f":log-group:${{{log_group}}}") for log_group in log_group_ids), destination
    # The format is itself a JSON object (cdk-nag's Serverless-APIGWStructuredLogging parses it).
    log_format = json.loads(access["Format"])
    assert log_format["requestId"] == "$context.requestId"
    assert log_format["errorMessage"] == "$context.error.message"
    assert log_format["status"] == "$context.status"
    # Execution logging needs the account-level CloudWatch role.
    _, account = synth.one("AWS::ApiGateway::Account")
    assert "CloudWatchRoleArn" in account["Properties"]


def test_usage_plans_with_throttle_and_daily_quota(synth, gateway_config):
    plans = {
        res["Properties"]["UsagePlanName"]: (key, res["Properties"])
        for key, res in synth.resources("AWS::ApiGateway::UsagePlan").items()
    }
    assert len(plans) == len(gateway_config["plans"]) >= 2
    stage_id, _ = synth.one("AWS::ApiGateway::Stage")
    rest_api_id, _ = synth.one("AWS::ApiGateway::RestApi")
    plan_keys = [res["Properties"] for res in synth.resources("AWS::ApiGateway::UsagePlanKey").values()]
    for name, plan in gateway_config["plans"].items():
        plan_id, props = plans[f"fm-gateway-dev-{name}"]
        assert props["Throttle"] == {"RateLimit": plan["rateLimit"], "BurstLimit": plan["burstLimit"]}
        assert props["Quota"] == {"Limit": plan["quotaPerDay"], "Period": "DAY"}
        [api_stage] = props["ApiStages"]
        assert (api_stage["ApiId"], api_stage["Stage"]) == ({"Ref": rest_api_id}, {"Ref": stage_id})
        keys = [pk for pk in plan_keys if pk["UsagePlanId"] == {"Ref": plan_id}]
        assert len(keys) == 1 and keys[0]["KeyType"] == "API_KEY"
    assert len(synth.resources("AWS::ApiGateway::ApiKey")) == len(gateway_config["plans"])


def gateway_responses(synth) -> dict[str, dict]:
    return {
        res["Properties"]["ResponseType"]: res["Properties"]
        for res in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }


def render_template(template: str, message: str = "Forbidden") -> dict:
    """What API Gateway would send: variables substituted (messageString is already a quoted string)."""
    text = template.replace("$context.error.messageString", json.dumps(message))
    text = text.replace("$context.error.validationErrorString", "[object has missing required properties]")
    text = text.replace("$context.requestId", "req-1")
    assert not re.search(r"\$context", text), text
    return json.loads(text)


@pytest.mark.parametrize(
    ("response_type", "status", "error_type"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", "403", "forbidden"),
        ("INVALID_API_KEY", "403", "forbidden"),
        ("THROTTLED", "429", "throttled"),
        ("QUOTA_EXCEEDED", "429", "quota_exceeded"),
        ("BAD_REQUEST_BODY", "400", "invalid_request"),
        ("REQUEST_TOO_LARGE", "413", "request_too_large"),
        ("INTEGRATION_TIMEOUT", "504", "timeout"),
        ("DEFAULT_4XX", None, "invalid_request"),
        ("DEFAULT_5XX", None, "internal_error"),
    ],
)
def test_gateway_responses_follow_the_error_contract(synth, response_type, status, error_type):
    response = gateway_responses(synth)[response_type]
    assert response.get("StatusCode") == status
    body = render_template(response["ResponseTemplates"]["application/json"])
    assert body == {"error": {"type": error_type, "message": body["error"]["message"], "requestId": "req-1"}}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if response_type == "BAD_REQUEST_BODY":
        assert "$context.error.validationErrorString" in response["ResponseTemplates"]["application/json"]


def test_429_responses_carry_retry_after(synth):
    responses = gateway_responses(synth)
    for response_type in ("THROTTLED", "QUOTA_EXCEEDED"):
        retry_after = responses[response_type]["ResponseParameters"]["gatewayresponse.header.Retry-After"]
        assert re.fullmatch(r"'\d+'", retry_after), retry_after
