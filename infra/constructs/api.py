"""The REST API: regional, Lambda proxy integration, API keys + usage plans, JSON-schema request validation.

Keys: by default a Lambda REQUEST authorizer (``handlers.authorizer``) checks ``x-api-key`` or ``Authorization: Bearer``
on every method but the public ones and returns the key to the usage plans (API key source AUTHORIZER); with the
``apiKeySource=header`` context, API Gateway's own ``x-api-key`` check. Every resource with methods answers the others
with 405 and ``Allow`` (a MOCK ``ANY``), an unknown path is 404: never "Missing Authentication Token".

Resources: ``GET /v1/health`` (no key), ``GET /v1/models``, ``POST /v1/chat``, ``POST /v1/chat/completions`` and one
``POST`` per static route of the configuration; ``POST /v1/embeddings`` and the Bedrock Runtime paths
``/model/{modelId}/...`` (``infra/constructs/native_routes.py``); with a jobs handler also ``POST /v1/jobs`` (optional
``Idempotency-Key`` header) and ``GET``/``DELETE /v1/jobs/{id}``, on their own function. Request models come from
``schemas/`` (draft-04) with their internal ``#/definitions`` references inlined, since API Gateway does not resolve
them. Gateway responses follow the gateway's error contract ``{"error": {"type", "message", "requestId"}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import jsii
from aws_cdk import Acknowledgment, Duration, IResolveContext, IStringProducer, Lazy, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.compliance import acknowledge, encrypted_log_group
from infra.constructs.native_routes import BEDROCK_ERROR_CODES, EVENT_STREAM, add_native_routes
from infra.openapi import DRAFT4, inline_refs  # noqa: F401 - inline_refs: the models' schemas, as the API description's
from infra.settings import load_schema

JSON = "application/json"


# $context.error.messageString is already a quoted JSON string; $context.error.validationErrorString is not.
MESSAGE = "$context.error.messageString"
VALIDATION_ERROR = '"$context.error.validationErrorString"'


def error_template(error_type: str, message: str = MESSAGE) -> str:
    """A gateway response body in the error contract; ``message`` is a JSON value (a quoted string or a variable that
    renders as one)."""
    return '{"error": {"type": "' + error_type + '", "message": ' + message + ', "requestId": "$context.requestId"}}'


# The 401 and 403 of the API-key authorizer; lambdas/fmgateway/access.py has the same text for local mode (a test
# checks that they agree).
UNAUTHORIZED_MESSAGE = (
    "\"Unauthorized: send the API key as the x-api-key header or as 'Authorization: Bearer <key>' "
    '(AWS SigV4 signatures are not accepted)"'
)
FORBIDDEN_MESSAGE = '"Forbidden: the API key is not valid for this API or is disabled"'
# With a 405 catch-all (ANY) on every resource that has methods, API Gateway answers MISSING_AUTHENTICATION_TOKEN only
# for a path that is no resource of the API: a 404, not a 403 about tokens.
NOT_FOUND_MESSAGE = '"Not Found: no such resource; the API is described at GET /v1/openapi.json"'
AUTHORIZER_FAILED_MESSAGE = '"the API key check failed; retry shortly"'
# API Gateway's own payload limit (10 MB); the functions refuse bodies over limits.maxRequestBytes with the same hint.
REQUEST_TOO_LARGE_MESSAGE = (
    '"Request Too Long; send large images and documents by S3 reference instead: source.s3Location.uri = '
    's3://<bucket>/<key>, in a bucket the gateway allows (limits.s3InputBuckets)"'
)

# (construct id, response type, status code or None to keep API Gateway's, error type, message, extra headers)
GATEWAY_RESPONSES: tuple[tuple[str, apigw.ResponseType, str | None, str, str, dict[str, str]], ...] = (
    ("MissingAuthenticationToken", apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", NOT_FOUND_MESSAGE, {}),
    (
        "Unauthorized",
        apigw.ResponseType.UNAUTHORIZED,
        "401",
        "unauthorized",
        UNAUTHORIZED_MESSAGE,
        {"WWW-Authenticate": "'Bearer'"},
    ),
    ("InvalidApiKey", apigw.ResponseType.INVALID_API_KEY, "403", "forbidden", MESSAGE, {}),
    ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", FORBIDDEN_MESSAGE, {}),
    (
        "AuthorizerFailure",
        apigw.ResponseType.AUTHORIZER_FAILURE,
        "503",
        "service_unavailable",
        AUTHORIZER_FAILED_MESSAGE,
        {"Retry-After": "'1'"},
    ),
    (
        "AuthorizerConfigurationError",
        apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
        "503",
        "service_unavailable",
        AUTHORIZER_FAILED_MESSAGE,
        {"Retry-After": "'1'"},
    ),
    ("Throttled", apigw.ResponseType.THROTTLED, "429", "throttled", MESSAGE, {"Retry-After": "'1'"}),
    ("QuotaExceeded", apigw.ResponseType.QUOTA_EXCEEDED, "429", "quota_exceeded", MESSAGE, {"Retry-After": "'3600'"}),
    ("BadRequestBody", apigw.ResponseType.BAD_REQUEST_BODY, "400", "invalid_request", VALIDATION_ERROR, {}),
    ("BadRequestParameters", apigw.ResponseType.BAD_REQUEST_PARAMETERS, "400", "invalid_request", VALIDATION_ERROR, {}),
    ("UnsupportedMediaType", apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, "415", "invalid_request", MESSAGE, {}),
    ("RequestTooLarge", apigw.ResponseType.REQUEST_TOO_LARGE, "413", "request_too_large", REQUEST_TOO_LARGE_MESSAGE, {}),
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


MOCK_CONTENT_TYPES = (
    JSON,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/octet-stream",
    "application/xml",
)


@jsii.implements(IStringProducer)
class _AllowedMethods:
    """The methods of one resource other than its 405 catch-all, at synth time: methods added after the catch-all
    (by another construct, later in the stack) are listed too."""

    def __init__(self, api: apigw.RestApi, path: str) -> None:
        self._api, self._path = api, path

    def produce(self, context: IResolveContext) -> str:
        verbs = [m.http_method for m in self._api.methods if m.resource.path == self._path and m.http_method != "ANY"]
        return ", ".join(dict.fromkeys(verbs))


class GatewayApi(Construct):
    """The REST API. Every method is created by ``add_method``: keyed (the API-key authorizer, or the plain header
    check) unless public, and its resource answers any other method with 405 and ``Allow``. Methods created directly on
    a resource inherit the key requirement and the authorizer from the API's default method options."""

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
        key_authorizer: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = encrypted_log_group(self, "AccessLogs", key=key, removal_policy=removal_policy)
        stage = config.get("stage", {})
        self.authorizer = self._key_authorizer(prefix, key_authorizer) if key_authorizer is not None else None
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=prefix,
            description="FM Gateway: one stable API in front of Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=[EVENT_STREAM],  # the Bedrock-native stream paths answer AWS event-stream bytes
            # AUTHORIZER: the usage plans meter and throttle the key the authorizer returns (usageIdentifierKey)
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER if self.authorizer else apigw.ApiKeySourceType.HEADER,
            default_method_options=apigw.MethodOptions(authorizer=self.authorizer, api_key_required=True),
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
        self._not_allowed: set[str] = set()

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
        self.methods["GET /v1/health"] = self._public_get(
            v1.add_resource("health"),
            integration,
            "GET /v1/health is the unauthenticated liveness probe: it returns a static status, calls no model and reads "
            "no data; the stage throttle still applies.",
        )
        self.methods["GET /v1/openapi.json"] = self._public_get(
            v1.add_resource("openapi.json"),
            integration,
            "GET /v1/openapi.json is the public API description (generated from schemas/ at build time): a static "
            "document, no model call, no data; the stage throttle still applies.",
        )
        self.methods["GET /v1/models"] = self.add_method(v1.add_resource("models"), "GET", integration)
        chat = v1.add_resource("chat")
        self.methods["POST /v1/chat"] = self._post(chat, integration, chat_model)
        streaming = self._streaming_integration(streaming_handler, streaming_timeout) if streaming_handler else None
        completions = chat.add_resource("completions")
        self.methods["POST /v1/chat/completions"] = self._post(completions, streaming or integration, openai_model)
        if orchestrated_integration is not None:
            # Step Functions StartSyncExecution, no Lambda in front; the response template sets status and Retry-After
            self.methods["POST /v1/chat/orchestrated"] = self.add_method(
                chat.add_resource("orchestrated"),
                "POST",
                orchestrated_integration,
                request_validator=self.body_validator,
                request_models={JSON: chat_model},
                method_responses=[
                    apigw.MethodResponse(status_code="200", response_parameters={"method.response.header.Retry-After": False})
                ],
            )
        for path in config.get("routes", {}):
            resource = self.api.root.resource_for_path(path)
            self.methods[f"POST {path}"] = self._post(resource, integration, chat_model)
        if streaming is not None:
            self._stream_routes(chat, config, streaming, chat_model)
        add_native_routes(self, integration, streaming)  # /model/{modelId}/..., /v1/embeddings
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
                self.methods[f"{verb} /v1/jobs/{{id}}"] = self.add_method(
                    job,
                    verb,
                    jobs_integration,
                    request_validator=self.body_validator,
                    request_parameters={"method.request.path.id": True},
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

    def add_method(
        self,
        resource: apigw.IResource,
        http_method: str,
        integration: apigw.Integration,
        *,
        public: bool = False,
        **options: Any,
    ) -> apigw.Method:
        """A method of the API: keyed unless ``public`` (no authorizer, no key: health and the API description), and
        the resource's 405 catch-all added on its first method."""
        if public:
            options.update(authorization_type=apigw.AuthorizationType.NONE, api_key_required=False)
        method = resource.add_method(http_method, integration, **options)
        if not public:
            self._acknowledge_api_key_auth(method)
        self.add_method_not_allowed(resource)
        return method

    def _public_get(self, resource: apigw.IResource, integration: apigw.Integration, reason: str) -> apigw.Method:
        """A GET without key or authorizer, with the scanners' findings about that excused for ``reason``."""
        method = self.add_method(resource, "GET", integration, public=True)
        acknowledge(method, reason, nag=("AwsSolutions-APIG4", "AwsSolutions-COG4"), checkov=("CKV_AWS_59",))
        return method

    def add_method_not_allowed(self, resource: apigw.IResource) -> None:
        """``ANY`` on ``resource``: a MOCK integration that answers 405 with ``Allow`` (the resource's other methods,
        resolved at synth) in the error shape. API Gateway prefers a resource's explicit methods over ANY."""
        if resource.path in self._not_allowed:
            return
        self._not_allowed.add(resource.path)
        allow = Lazy.uncached_string(_AllowedMethods(self.api, resource.path))
        message = '"$context.httpMethod is not allowed on $context.resourcePath; use ' + allow + '"'
        mock = apigw.MockIntegration(
            # The mock's status comes from a request template, chosen by Content-Type: one for every common type,
            # and NEVER passthrough, so that any other type is API Gateway's 415 (in the error shape), never a 500.
            request_templates={content_type: '{"statusCode": 405}' for content_type in MOCK_CONTENT_TYPES},
            passthrough_behavior=apigw.PassthroughBehavior.NEVER,
            integration_responses=[
                apigw.IntegrationResponse(
                    status_code="405",
                    response_parameters={"method.response.header.Allow": "'" + allow + "'"},
                    response_templates={JSON: error_template("method_not_allowed", message)},
                )
            ],
        )
        method = resource.add_method(
            "ANY",
            mock,
            authorization_type=apigw.AuthorizationType.NONE,
            api_key_required=False,
            method_responses=[
                apigw.MethodResponse(status_code="405", response_parameters={"method.response.header.Allow": True})
            ],
        )
        acknowledge(
            method,
            "The 405 catch-all of this resource: a MOCK integration that only answers 'method not allowed' with the "
            "Allow header; it reaches no backend and reads no data, so it needs neither a key nor an authorizer.",
            nag=("AwsSolutions-APIG4", "AwsSolutions-COG4"),
            checkov=("CKV_AWS_59",),
        )

    def _key_authorizer(self, prefix: str, function: lambda_.IFunction) -> apigw.RequestAuthorizer:
        """The REQUEST authorizer that accepts x-api-key or Authorization: Bearer. Uncached (TTL 0) and without
        identity sources: API Gateway's cache needs every identity source on every request, and a request carries
        one header or the other; the function caches key lookups itself."""
        return apigw.RequestAuthorizer(
            self,
            "KeyAuthorizer",
            authorizer_name=f"{prefix}-api-key",
            handler=function,
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
        )

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
        return self.add_method(
            resource,
            "POST",
            integration,
            request_validator=self.body_validator,
            request_models={JSON: model},
            request_parameters=dict(request_parameters) if request_parameters else None,
        )

    def _gateway_responses(self) -> None:
        for construct_id, response_type, status, error_type, message, headers in GATEWAY_RESPONSES:
            if status in BEDROCK_ERROR_CODES:  # boto3 bedrock-runtime clients read the code from this header
                headers = {**headers, "x-amzn-ErrorType": f"'{BEDROCK_ERROR_CODES[status]}'"}
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

    def _acknowledge_api_key_auth(self, method: apigw.Method) -> apigw.Method:
        checked_by = "the API-key authorizer" if self.authorizer else "API Gateway's x-api-key check"
        acknowledgements = [
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason=f"Consumers are services, not Cognito users: access is by API key ({checked_by}) + usage plan, "
                "which this method requires.",
            )
        ]
        if self.authorizer is None:
            acknowledgements.append(
                Acknowledgment(
                    id="AwsSolutions-APIG4",
                    reason="apiKeySource=header: the gateway's authorization model is API keys bound to usage plans "
                    "(per-consumer throttles and daily quotas); this method requires an API key.",
                )
            )
        Validations.of(method).acknowledge(*acknowledgements)
        return method
