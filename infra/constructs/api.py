"""The REST API: regional, Lambda proxy integration, API keys + usage plans, JSON-schema request validation.

Resources: ``GET /v1/health`` (no key), ``GET /v1/models``, ``POST /v1/chat``, ``POST /v1/chat/completions`` and one
``POST`` per static route of the configuration; with a jobs handler also ``POST /v1/jobs`` (optional
``Idempotency-Key`` header) and ``GET``/``DELETE /v1/jobs/{id}``, on their own function. Request models come from
``schemas/`` (draft-04) with their internal ``#/definitions`` references inlined, since API Gateway does not resolve
them. Gateway responses follow the gateway's error contract ``{"error": {"type", "message", "requestId"}}``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, cast

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.compliance import acknowledge, encrypted_log_group
from infra.settings import load_schema

DRAFT4 = "http://json-schema.org/draft-04/schema#"
JSON = "application/json"


def inline_refs(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Replace every internal ``{"$ref": "#/definitions/<name>"}`` with a copy of the definition, recursively, and drop
    ``definitions``; the root keeps ``$schema`` (draft-04). Cyclic or unknown references raise ValueError."""
    definitions = schema.get("definitions", {})

    def resolve(node: Any, trail: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, trail) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            prefix = "#/definitions/"
            if not isinstance(ref, str) or not ref.startswith(prefix) or ref[len(prefix) :] not in definitions:
                raise ValueError(f"cannot inline $ref {ref!r}: only #/definitions/<name> of the same schema is supported")
            name = ref[len(prefix) :]
            if name in trail:
                raise ValueError(f"cannot inline recursive $ref {ref!r} ({' -> '.join((*trail, name))})")
            # Draft-04: siblings of $ref are ignored, so the definition replaces the node.
            return resolve(copy.deepcopy(definitions[name]), (*trail, name))
        return {key: resolve(value, trail) for key, value in node.items() if key not in ("definitions", "$schema")}

    inlined = resolve(dict(schema), ())
    return {"$schema": DRAFT4, **inlined}


# $context.error.messageString is already a quoted JSON string; $context.error.validationErrorString is not.
MESSAGE = "$context.error.messageString"
VALIDATION_ERROR = '"$context.error.validationErrorString"'


def error_template(error_type: str, message: str = MESSAGE) -> str:
    """A gateway response body in the error contract; ``message`` is a JSON value (a quoted string or a variable that
    renders as one)."""
    return '{"error": {"type": "' + error_type + '", "message": ' + message + ', "requestId": "$context.requestId"}}'


# (construct id, response type, status code or None to keep API Gateway's, error type, message, extra headers)
GATEWAY_RESPONSES: tuple[tuple[str, apigw.ResponseType, str | None, str, str, dict[str, str]], ...] = (
    ("MissingAuthenticationToken", apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "403", "forbidden", MESSAGE, {}),
    ("InvalidApiKey", apigw.ResponseType.INVALID_API_KEY, "403", "forbidden", MESSAGE, {}),
    ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", MESSAGE, {}),
    ("Throttled", apigw.ResponseType.THROTTLED, "429", "throttled", MESSAGE, {"Retry-After": "'1'"}),
    ("QuotaExceeded", apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", MESSAGE, {"Retry-After": "'3600'"}),
    ("BadRequestBody", apigw.ResponseType.BAD_REQUEST_BODY, "400", "invalid_request", VALIDATION_ERROR, {}),
    ("BadRequestParameters", apigw.ResponseType.BAD_REQUEST_PARAMETERS, "400", "invalid_request", VALIDATION_ERROR, {}),
    ("UnsupportedMediaType", apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, "415", "invalid_request", MESSAGE, {}),
    ("RequestTooLarge", apigw.ResponseType.REQUEST_TOO_LARGE, "413", "request_too_large", MESSAGE, {}),
    ("ResourceNotFound", apigw.ResponseType.RESOURCE_NOT_FOUND, "404", "not_found", MESSAGE, {}),
    ("IntegrationTimeout", apigw.ResponseType.INTEGRATION_TIMEOUT, "504", "timeout", MESSAGE, {}),
    ("IntegrationFailure", apigw.ResponseType.INTEGRATION_FAILURE, "502", "internal_error", MESSAGE, {}),
    ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, None, "invalid_request", MESSAGE, {}),
    ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, None, "internal_error", MESSAGE, {}),
)

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "apiKeyId": "$context.identity.apiKeyId",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "errorType": "$context.error.responseType",
    # $context.error.message inside quotes renders exactly as $context.error.messageString (its quoted value), and keeps
    # the format itself a JSON document that log tooling and cdk-nag (Serverless-APIGWStructuredLogging) can parse.
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}


def access_log_format() -> str:
    """One JSON object per request; the format is itself a JSON object whose values are ``$context`` variables."""
    return json.dumps(ACCESS_LOG_FIELDS)


class GatewayApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        stage_name: str,
        handler: lambda_.IFunction,
        config: Mapping[str, Any],
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        jobs_handler: lambda_.IFunction | None = None,
        orchestrated_integration: apigw.Integration | None = None,
        streaming_handler: lambda_.IFunction | None = None,
        streaming_timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = encrypted_log_group(self, "AccessLogs", key=key, removal_policy=removal_policy)
        stage = config.get("stage", {})
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=prefix,
            description="FM Gateway: one stable API in front of Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
            # Execution logging needs the account-level API Gateway CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=stage.get("rateLimit"),
                throttling_burst_limit=stage.get("burstLimit"),
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(access_log_format()),
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
            ),
        )
        self.stage = self.api.deployment_stage
        self._acknowledge_api()

        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False, timeout=Duration.seconds(29))
        self.body_validator = self.api.add_request_validator(
            "BodyValidator",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        chat_model = self._model("ChatRequestModel", "ChatRequest", "chat-request.json")
        openai_model = self._model("OpenAIChatRequestModel", "OpenAIChatCompletionRequest", "openai-chat-request.json")

        self.methods: dict[str, apigw.Method] = {}
        v1 = self.api.root.add_resource("v1")
        health = v1.add_resource("health").add_method("GET", integration, api_key_required=False)
        self.methods["GET /v1/health"] = health
        acknowledge(
            health,
            "GET /v1/health is the unauthenticated liveness probe: it returns a static status, calls no model and reads "
            "no data; the stage throttle still applies.",
            nag=("AwsSolutions-APIG4", "AwsSolutions-COG4"),
            checkov=("CKV_AWS_59",),
        )
        self.methods["GET /v1/models"] = self._acknowledge_api_key_auth(
            v1.add_resource("models").add_method("GET", integration, api_key_required=True)
        )
        chat = v1.add_resource("chat")
        self.methods["POST /v1/chat"] = self._post(chat, integration, chat_model)
        streaming = self._streaming_integration(streaming_handler, streaming_timeout) if streaming_handler else None
        completions = chat.add_resource("completions")
        self.methods["POST /v1/chat/completions"] = self._post(completions, streaming or integration, openai_model)
        if orchestrated_integration is not None:
            # Step Functions StartSyncExecution, no Lambda in front; the response template sets status and Retry-After
            self.methods["POST /v1/chat/orchestrated"] = self._acknowledge_api_key_auth(
                chat.add_resource("orchestrated").add_method(
                    "POST",
                    orchestrated_integration,
                    api_key_required=True,
                    request_validator=self.body_validator,
                    request_models={JSON: chat_model},
                    method_responses=[
                        apigw.MethodResponse(status_code="200", response_parameters={"method.response.header.Retry-After": False})
                    ],
                )
            )
        for path in config.get("routes", {}):
            resource = self.api.root.resource_for_path(path)
            self.methods[f"POST {path}"] = self._post(resource, integration, chat_model)
        if streaming is not None:
            self._stream_routes(chat, config, streaming, chat_model)
        if jobs_handler is not None:
            jobs_integration = apigw.LambdaIntegration(
                jobs_handler, proxy=True, allow_test_invoke=False, timeout=Duration.seconds(29)
            )
            jobs = v1.add_resource("jobs")
            self.methods["POST /v1/jobs"] = self._post(
                jobs, jobs_integration, chat_model, request_parameters={"method.request.header.Idempotency-Key": False}
            )
            job = jobs.add_resource("{id}")
            for verb in ("GET", "DELETE"):
                self.methods[f"{verb} /v1/jobs/{{id}}"] = self._acknowledge_api_key_auth(
                    job.add_method(
                        verb,
                        jobs_integration,
                        api_key_required=True,
                        request_validator=self.body_validator,
                        request_parameters={"method.request.path.id": True},
                    )
                )

        self._gateway_responses()
        self.usage_plans: dict[str, apigw.UsagePlan] = {}
        self.api_keys: dict[str, apigw.IApiKey] = {}
        for name, plan in config["plans"].items():
            usage_plan = self.api.add_usage_plan(
                f"Plan-{name}",
                name=f"{prefix}-{name}",
                description=f"FM Gateway '{name}' plan",
                throttle=apigw.ThrottleSettings(rate_limit=plan["rateLimit"], burst_limit=plan["burstLimit"]),
                quota=apigw.QuotaSettings(limit=plan["quotaPerDay"], period=apigw.Period.DAY),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.stage)],
            )
            key = self.api.add_api_key(
                f"Key-{name}", api_key_name=f"{prefix}-{name}", description=f"API key of the '{name}' plan"
            )
            usage_plan.add_api_key(key)
            self.usage_plans[name], self.api_keys[name] = usage_plan, key

    @staticmethod
    def _streaming_integration(handler: lambda_.IFunction, timeout: Duration | None) -> apigw.Integration:
        """Response streaming (proxy only): the answer passes on as the function writes it, for up to ``timeout``."""
        return apigw.LambdaIntegration(
            handler,
            proxy=True,
            allow_test_invoke=False,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            timeout=timeout or Duration.minutes(5),
        )

    def _stream_routes(
        self, chat: apigw.IResource, config: Mapping[str, Any], streaming: apigw.Integration, model: apigw.IModel
    ) -> None:
        """``POST /v1/chat/stream`` and ``POST <route>/stream`` for every static route, on the streaming function."""
        self.methods["POST /v1/chat/stream"] = self._post(chat.add_resource("stream"), streaming, model)
        for path in config.get("routes", {}):
            resource = self.api.root.resource_for_path(f"{path}/stream")
            self.methods[f"POST {path}/stream"] = self._post(resource, streaming, model)

    def _model(self, construct_id: str, name: str, schema_file: str) -> apigw.Model:
        model = self.api.add_model(
            construct_id,
            content_type=JSON,
            model_name=name,
            description=f"schemas/{schema_file}, #/definitions inlined",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4),
        )
        # The schema files are the one source of truth; set them verbatim (inlined) rather than re-typing them.
        cast(apigw.CfnModel, model.node.default_child).schema = inline_refs(load_schema(schema_file))
        return model

    def _post(
        self,
        resource: apigw.IResource,
        integration: apigw.Integration,
        model: apigw.IModel,
        request_parameters: Mapping[str, bool] | None = None,
    ) -> apigw.Method:
        method = resource.add_method(
            "POST",
            integration,
            api_key_required=True,
            request_validator=self.body_validator,
            request_models={JSON: model},
            request_parameters=dict(request_parameters) if request_parameters else None,
        )
        return self._acknowledge_api_key_auth(method)

    def _gateway_responses(self) -> None:
        for construct_id, response_type, status, error_type, message, headers in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                construct_id,
                type=response_type,
                status_code=status,
                response_headers=headers or None,
                templates={JSON: error_template(error_type, message)},
            )

    def _acknowledge_api(self) -> None:
        acknowledge(
            self.stage,
            "No API Gateway cache: it keys on path, query and headers, never on a POST body, so it cannot serve model "
            "answers (POST); the two GETs (/v1/health, /v1/models) are cheap, and a cache cluster bills by the hour.",
            checkov=("CKV_AWS_120",),
        )
        Validations.of(self.stage).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG3",
                reason="No WAF web ACL in this stack: callers are identified by API keys and limited by usage-plan and "
                "stage throttles; an organisation-wide WAF (Firewall Manager) can be associated with the stage.",
            )
        )
        cloud_watch_role = self.api.node.try_find_child("CloudWatchRole")
        if cloud_watch_role is not None:
            Validations.of(cloud_watch_role).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                    reason="The account-level role API Gateway uses to write execution and access logs; AWS's managed "
                    "policy for exactly this purpose, trusted only by apigateway.amazonaws.com.",
                )
            )

    @staticmethod
    def _acknowledge_api_key_auth(method: apigw.Method) -> apigw.Method:
        Validations.of(method).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG4",
                reason="The gateway's authorization model is API keys bound to usage plans (per-consumer throttles and "
                "daily quotas); this method requires an API key.",
            ),
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason="Consumers are services, not Cognito users: access is by API key + usage plan, which this method "
                "requires.",
            ),
        )
        return method
