"""REST API: resources, API keys, validators and models, stage settings, usage plans, gateway responses."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from fmgateway.values.errors import error_object
from infra.constructs.gateway_responses import GATEWAY_RESPONSES
from infra.openapi import inline_refs
from infra.settings import load_schema
from tests.infra.conftest import api_function, as_list, render, statements_of


def path_of(synth, resource_ref: dict) -> str:
    """The full path of an AWS::ApiGateway::Resource (or the root)."""
    if "Fn::GetAtt" in resource_ref:  # the root resource
        return ""
    resource = synth.doc["Resources"][resource_ref["Ref"]]["Properties"]
    return path_of(synth, resource["ParentId"]) + "/" + resource["PathPart"]


def methods(synth, catch_all: bool = False) -> dict[str, dict]:
    """Every method by "VERB /path"; the 405 catch-alls (ANY) only with ``catch_all``."""
    found = {}
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        if props["HttpMethod"] == "ANY" and not catch_all:
            continue
        found[f"{props['HttpMethod']} {path_of(synth, props['ResourceId'])}"] = props
    return found


def expected_methods(config) -> set[str]:
    fixed = {
        "GET /v1/health",
        "GET /v1/openapi.json",
        "GET /v1/models",
        "POST /v1/chat",
        "POST /v1/chat/completions",
        "POST /v1/chat/orchestrated",
    }
    jobs = {"POST /v1/jobs", "GET /v1/jobs/{id}", "DELETE /v1/jobs/{id}"}
    streams = {"POST /v1/chat/stream"} | {f"POST {path}/stream" for path in config["routes"]}
    native = {"POST /v1/embeddings"} | {
        f"POST /model/{{modelId}}/{name}" for name in ("converse", "invoke", "converse-stream", "invoke-with-response-stream")
    }
    return fixed | jobs | streams | native | {f"POST {path}" for path in config["routes"]}


def streamed(name: str) -> bool:
    """Methods on the streaming function (tests/infra/test_streaming.py checks their integrations)."""
    return name == "POST /v1/chat/completions" or name.endswith(("/stream", "-stream"))


def test_regional_rest_api(synth):
    synth.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}, "ApiKeySourceType": "AUTHORIZER"}
    )


def test_resources_and_methods(synth, gateway_config):
    assert set(methods(synth)) == expected_methods(gateway_config)
    assert {"POST /v1/classify", "POST /v1/generate", "POST /v1/analyze"} <= set(methods(synth))


PUBLIC = {"GET /v1/health", "GET /v1/openapi.json"}


def test_key_authorizer_on_every_method_but_the_public_ones(synth):
    authorizer_id, authorizer = synth.one("AWS::ApiGateway::Authorizer")
    for name, props in methods(synth).items():
        if name in PUBLIC:
            assert props.get("ApiKeyRequired", False) is False and props["AuthorizationType"] == "NONE", name
            assert "AuthorizerId" not in props, name
        else:
            assert props["ApiKeyRequired"] is True, name
            assert props["AuthorizationType"] == "CUSTOM", name
            assert props["AuthorizerId"] == {"Ref": authorizer_id}, name


def test_key_authorizer_is_an_uncached_request_authorizer_of_the_authorizer_function(synth):
    _, authorizer = synth.one("AWS::ApiGateway::Authorizer")
    props = authorizer["Properties"]
    assert props["Type"] == "REQUEST"
    # uncached: the cache needs every identity source on every request, and a request carries one of two headers
    assert props["AuthorizerResultTtlInSeconds"] == 0
    assert not props.get("IdentitySource")
    function_id, _ = api_function(synth, "handlers.authorizer.handler")
    assert function_id in json.dumps(props["AuthorizerUri"])
    permissions = [
        res["Properties"]
        for res in synth.resources("AWS::Lambda::Permission").values()
        if res["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert permissions and all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)


def test_key_authorizer_reads_only_usage_plans_and_keys(synth):
    function_id, function = api_function(synth, "handlers.authorizer.handler")
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for s in statements_of(synth, role_id) if "apigateway:GET" in as_list(s["Action"])]
    [statement] = statements
    assert as_list(statement["Action"]) == ["apigateway:GET"]
    assert sorted(as_list(statement["Resource"])) == [
        "arn:aws:apigateway:us-east-1::/apikeys",
        "arn:aws:apigateway:us-east-1::/usageplans",
        "arn:aws:apigateway:us-east-1::/usageplans/*/keys",
    ]


def test_every_resource_with_methods_answers_other_methods_with_405(synth):
    by_path: dict[str, set[str]] = {}
    for name in methods(synth):
        verb, path = name.split(" ", 1)
        by_path.setdefault(path, set()).add(verb)
    catch_alls = {
        name.split(" ", 1)[1]: props for name, props in methods(synth, catch_all=True).items() if name.startswith("ANY ")
    }
    assert set(catch_alls) == set(by_path)
    for path, props in catch_alls.items():
        assert props["AuthorizationType"] == "NONE" and props.get("ApiKeyRequired") is False, path
        integration = props["Integration"]
        assert integration["Type"] == "MOCK" and integration["PassthroughBehavior"] == "NEVER"
        assert set(integration["RequestTemplates"].values()) == {'{"statusCode": 405}'}
        assert {"application/json", "text/plain", "application/octet-stream"} <= set(integration["RequestTemplates"])
        [response] = integration["IntegrationResponses"]
        assert response["StatusCode"] == "405"
        allow = response["ResponseParameters"]["method.response.header.Allow"]
        assert set(allow.strip("'").split(", ")) == by_path[path], path
        body = response["ResponseTemplates"]["application/json"]
        rendered = json.loads(
            body.replace("$context.httpMethod", "PUT").replace("$context.resourcePath", path).replace("$context.requestId", "r")
        )
        assert rendered["error"]["code"] == "method_not_allowed" and rendered["error"]["requestId"] == "r"
        assert rendered["error"]["type"] == "invalid_request_error" and rendered["error"]["param"] is None
        assert rendered["error"]["message"].endswith("use " + allow.strip("'"))
        assert response["ResponseParameters"]["method.response.header.x-request-id"] == "context.requestId"
        assert props["MethodResponses"] == [
            {
                "StatusCode": "405",
                "ResponseParameters": {"method.response.header.Allow": True, "method.response.header.x-request-id": True},
            }
        ]


def test_local_mode_and_the_stack_send_the_same_key_and_path_messages():
    from fmgateway.aws import access, http
    from infra.constructs import gateway_responses
    from local import api_gateway

    assert json.loads(gateway_responses.UNAUTHORIZED_MESSAGE) == access.UNAUTHORIZED_MESSAGE
    assert json.loads(gateway_responses.FORBIDDEN_MESSAGE) == access.FORBIDDEN_MESSAGE
    assert json.loads(gateway_responses.NOT_FOUND_MESSAGE) == api_gateway.NOT_FOUND_MESSAGE
    assert json.loads(gateway_responses.AUTHORIZER_FAILED_MESSAGE) == api_gateway.AUTHORIZER_FAILED_MESSAGE
    assert json.loads(gateway_responses.REQUEST_TOO_LARGE_MESSAGE).endswith(http.LARGE_INPUT_HINT)


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
    # the Bedrock Runtime paths take Bedrock's own bodies, checked by the functions (tests/infra/test_native_routes.py)
    posts = {name: props for name, props in methods(synth).items() if name.startswith("POST /v")}
    # chat, chat/completions, chat/orchestrated, chat/stream, jobs, embeddings; each route and its /stream
    assert len(posts) == 6 + 2 * len(gateway_config["routes"])
    special = {"POST /v1/chat/completions": "OpenAIChatCompletionRequest", "POST /v1/embeddings": "OpenAIEmbeddingsRequest"}
    for name, props in posts.items():
        assert props["RequestValidatorId"] == {"Ref": validator_id}, name
        model_ref = props["RequestModels"]["application/json"]["Ref"]
        expected = special.get(name, "ChatRequest")
        assert models[model_ref]["Name"] == expected, name
    for name, props in methods(synth).items():
        if name.startswith("GET "):
            assert "RequestModels" not in props


def test_models_are_the_schema_files_with_refs_inlined(synth):
    models = {res["Properties"]["Name"]: res["Properties"] for res in synth.resources("AWS::ApiGateway::Model").values()}
    for name, schema_file in {
        "ChatRequest": "chat-request.json",
        "OpenAIChatCompletionRequest": "openai-chat-request.json",
        "OpenAIEmbeddingsRequest": "openai-embeddings-request.json",
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
    ("response_type", "status", "kind", "code"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", "404", "invalid_request_error", "not_found"),
        ("UNAUTHORIZED", "401", "authentication_error", "unauthorized"),
        ("ACCESS_DENIED", "403", "permission_error", "forbidden"),
        ("AUTHORIZER_FAILURE", "503", "service_unavailable_error", "service_unavailable"),
        ("AUTHORIZER_CONFIGURATION_ERROR", "503", "service_unavailable_error", "service_unavailable"),
        ("INVALID_API_KEY", "403", "permission_error", "forbidden"),
        ("THROTTLED", "429", "rate_limit_error", "throttled"),
        ("QUOTA_EXCEEDED", "429", "rate_limit_error", "quota_exceeded"),
        ("BAD_REQUEST_BODY", "400", "invalid_request_error", "invalid_request"),
        ("UNSUPPORTED_MEDIA_TYPE", "415", "invalid_request_error", "invalid_request"),
        ("REQUEST_TOO_LARGE", "413", "invalid_request_error", "request_too_large"),
        ("INTEGRATION_TIMEOUT", "504", "server_error", "timeout"),
        ("INTEGRATION_FAILURE", "502", "server_error", "internal_error"),
        ("DEFAULT_4XX", None, "invalid_request_error", "invalid_request"),
        ("DEFAULT_5XX", None, "server_error", "internal_error"),
    ],
)
def test_gateway_responses_follow_the_error_contract(synth, response_type, status, kind, code):
    """OpenAI's error object and the request id, as the functions answer (``fmgateway.values.errors.error_object``);
    ``param`` null (the messages are API Gateway's own), ``x-request-id`` on every one (the openai SDK's request_id)."""
    response = gateway_responses(synth)[response_type]
    assert response.get("StatusCode") == status
    body = render_template(response["ResponseTemplates"]["application/json"])
    message = body["error"]["message"]
    # the message at the top level too: botocore reads it there (boto3 showed an empty message on a 401 or 403)
    type_status = int(status) if status else (500 if response_type == "DEFAULT_5XX" else 400)
    assert body == {"error": error_object(type_status, code, message, "req-1"), "message": message}
    assert body["error"]["type"] == kind and list(body["error"]) == ["message", "type", "param", "code", "requestId"]
    assert isinstance(message, str) and message
    assert response["ResponseParameters"]["gatewayresponse.header.x-request-id"] == "context.requestId"
    if response_type == "BAD_REQUEST_BODY":
        assert "$context.error.validationErrorString" in response["ResponseTemplates"]["application/json"]


def test_every_gateway_response_type_is_in_the_error_contract(synth):
    """Gateway responses belong to the API: one template per response type serves every route."""
    responses = gateway_responses(synth)
    assert len(responses) == len(GATEWAY_RESPONSES)
    for response in responses.values():
        assert render_template(response["ResponseTemplates"]["application/json"])["error"]["requestId"] == "req-1"
        assert response["ResponseParameters"]["gatewayresponse.header.x-request-id"] == "context.requestId"


def test_429_responses_carry_retry_after(synth):
    responses = gateway_responses(synth)
    for response_type in ("THROTTLED", "QUOTA_EXCEEDED"):
        retry_after = responses[response_type]["ResponseParameters"]["gatewayresponse.header.Retry-After"]
        assert re.fullmatch(r"'\d+'", retry_after), retry_after


def test_unknown_paths_are_404_never_missing_authentication_token(synth):
    response = gateway_responses(synth)["MISSING_AUTHENTICATION_TOKEN"]
    template = response["ResponseTemplates"]["application/json"]
    assert "$context.error" not in template  # API Gateway's own text would be "Missing Authentication Token"
    assert render_template(template)["error"]["message"].startswith("Not Found")


def test_401_says_how_to_send_the_key(synth):
    response = gateway_responses(synth)["UNAUTHORIZED"]
    message = render_template(response["ResponseTemplates"]["application/json"])["error"]["message"]
    assert "x-api-key" in message and "Authorization: Bearer <key>" in message
    assert response["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"


def test_header_key_source_has_no_authorizer():
    """The apiKeySource=header context: API Gateway's plain x-api-key check, no authorizer function."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.settings import cdk_json_context
    from infra.stack import create_stack

    app = App(context={**cdk_json_context(), "apiKeySource": "header", "environment": "plain"})
    doc = Template.from_stack(create_stack(app, account=None)).to_json()
    resources = doc["Resources"].values()
    assert not [r for r in resources if r["Type"] == "AWS::ApiGateway::Authorizer"]
    [api] = [r for r in resources if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert api["Properties"]["ApiKeySourceType"] == "HEADER"
    handlers = [r["Properties"].get("Handler") for r in resources if r["Type"] == "AWS::Lambda::Function"]
    assert "handlers.authorizer.handler" not in handlers
    for r in resources:
        if r["Type"] == "AWS::ApiGateway::Method" and r["Properties"]["HttpMethod"] != "ANY":
            assert r["Properties"]["AuthorizationType"] == "NONE"
