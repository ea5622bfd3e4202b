"""The keyed REST API the gateway's routes are added to: regional, one stage, JSON access logs, the API-key check.

Owns the ``RestApi`` and its stage (throttle, access and execution logs, tracing), the Lambda REQUEST authorizer (or,
without one, API Gateway's own ``x-api-key`` check), the request validator and the request models from ``schemas/``
(draft-04, internal ``#/definitions`` references inlined, since API Gateway does not resolve them), and the method
conventions: every method is keyed unless public, and every resource with methods answers the others with 405 and
``Allow`` (a MOCK ``ANY``). Which routes exist is ``infra/constructs/api.py``'s (and ``native_routes.py``'s) business.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import jsii
from aws_cdk import Acknowledgment, Duration, IResolveContext, IStringProducer, Lazy, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.compliance import acknowledge, encrypted_log_group
from infra.constructs.gateway_responses import JSON, REQUEST_ID_HEADERS, error_template
from infra.openapi import inline_refs
from infra.settings import load_schema

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


class KeyedRestApi(Construct):
    """The REST API. Every method is created by ``add_method``: keyed (the API-key authorizer, or the plain header
    check) unless public, and its resource answers any other method with 405 and ``Allow``. Methods created directly on
    a resource inherit the key requirement and the authorizer from the API's default method options. ``methods`` maps
    ``"<VERB> <path>"`` to each method the routes add."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        stage_name: str,
        stage: Mapping[str, Any],
        key: kms.IKey,
        removal_policy: RemovalPolicy,
        binary_media_types: Sequence[str] = (),
        key_authorizer: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = encrypted_log_group(self, "AccessLogs", key=key, removal_policy=removal_policy)
        self.authorizer = self._key_authorizer(prefix, key_authorizer) if key_authorizer is not None else None
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=prefix,
            description="FM Gateway: one stable API in front of Amazon Bedrock",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=list(binary_media_types) or None,
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
        self.body_validator = self.api.add_request_validator(
            "BodyValidator",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        self.methods: dict[str, apigw.Method] = {}

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

    def add_public_get(self, resource: apigw.IResource, integration: apigw.Integration, reason: str) -> apigw.Method:
        """A GET without key or authorizer, with the scanners' findings about that excused for ``reason``."""
        method = self.add_method(resource, "GET", integration, public=True)
        acknowledge(method, reason, nag=("AwsSolutions-APIG4", "AwsSolutions-COG4"), checkov=("CKV_AWS_59",))
        return method

    def add_post(
        self,
        resource: apigw.IResource,
        integration: apigw.Integration,
        model: apigw.IModel,
        request_parameters: Mapping[str, bool] | None = None,
    ) -> apigw.Method:
        """A keyed POST whose body the API validates against ``model``."""
        return self.add_method(
            resource,
            "POST",
            integration,
            request_validator=self.body_validator,
            request_models={JSON: model},
            request_parameters=dict(request_parameters) if request_parameters else None,
        )

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
                    response_parameters={
                        "method.response.header.Allow": "'" + allow + "'",
                        **{f"method.response.header.{name}": value for name, value in REQUEST_ID_HEADERS.items()},
                    },
                    response_templates={JSON: error_template(405, "method_not_allowed", message)},
                )
            ],
        )
        method = resource.add_method(
            "ANY",
            mock,
            authorization_type=apigw.AuthorizationType.NONE,
            api_key_required=False,
            method_responses=[
                apigw.MethodResponse(
                    status_code="405",
                    response_parameters={
                        "method.response.header.Allow": True,
                        **{f"method.response.header.{name}": True for name in REQUEST_ID_HEADERS},
                    },
                )
            ],
        )
        acknowledge(
            method,
            "The 405 catch-all of this resource: a MOCK integration that only answers 'method not allowed' with the "
            "Allow header; it reaches no backend and reads no data, so it needs neither a key nor an authorizer.",
            nag=("AwsSolutions-APIG4", "AwsSolutions-COG4"),
            checkov=("CKV_AWS_59",),
        )

    def request_model(self, construct_id: str, name: str, schema_file: str) -> apigw.Model:
        """A request model of the API: ``schemas/<schema_file>`` verbatim, ``#/definitions`` inlined."""
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
