"""The gateway's REST API: its routes, gateway responses, and one usage plan + API key per configured plan.

``GatewayApi`` is the keyed REST API of ``infra/constructs/rest_api.py`` (regional, Lambda proxy integration,
JSON-schema request validation; keys checked by a Lambda REQUEST authorizer that reads ``x-api-key`` or
``Authorization: Bearer`` and returns the key to the usage plans, or with the ``apiKeySource=header`` context by API
Gateway's own ``x-api-key`` check) with the routes the gateway exposes. Every resource with methods answers the others
with 405 and ``Allow``, an unknown path is 404: never "Missing Authentication Token".

Resources: ``GET /v1/health`` and ``GET /v1/openapi.json`` (no key), ``GET /v1/models``, ``POST /v1/chat``,
``POST /v1/chat/completions`` and one ``POST`` per static route of the configuration; with a streaming function
``POST /v1/chat/stream`` and ``<route>/stream``; ``POST /v1/chat/orchestrated`` straight to Step Functions
(StartSyncExecution, no Lambda in front); ``POST /v1/embeddings`` and the Bedrock Runtime paths ``/model/{modelId}/...``
(``infra/constructs/native_routes.py``); with a jobs handler also ``POST /v1/jobs`` (optional ``Idempotency-Key``
header) and ``GET``/``DELETE /v1/jobs/{id}``, on their own function. Gateway responses follow the gateway's error
contract (``infra/constructs/gateway_responses.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.gateway_responses import JSON, add_gateway_responses
from infra.constructs.native_routes import EVENT_STREAM, add_native_routes
from infra.constructs.rest_api import KeyedRestApi


class GatewayApi(KeyedRestApi):
    """The REST API with the gateway's routes, its gateway responses, and its usage plans and keys."""

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
        super().__init__(
            scope,
            construct_id,
            prefix=prefix,
            stage_name=stage_name,
            stage=config.get("stage", {}),
            key=key,
            removal_policy=removal_policy,
            binary_media_types=[EVENT_STREAM],  # the Bedrock-native stream paths answer AWS event-stream bytes
            key_authorizer=key_authorizer,
        )
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False, timeout=Duration.seconds(29))
        chat_model = self.request_model("ChatRequestModel", "ChatRequest", "chat-request.json")
        openai_model = self.request_model("OpenAIChatRequestModel", "OpenAIChatCompletionRequest", "openai-chat-request.json")

        v1 = self.api.root.add_resource("v1")
        self.methods["GET /v1/health"] = self.add_public_get(
            v1.add_resource("health"),
            integration,
            "GET /v1/health is the unauthenticated liveness probe: it returns a static status, calls no model and reads "
            "no data; the stage throttle still applies.",
        )
        self.methods["GET /v1/openapi.json"] = self.add_public_get(
            v1.add_resource("openapi.json"),
            integration,
            "GET /v1/openapi.json is the public API description (generated from schemas/ at build time): a static "
            "document, no model call, no data; the stage throttle still applies.",
        )
        self.methods["GET /v1/models"] = self.add_method(v1.add_resource("models"), "GET", integration)
        chat = v1.add_resource("chat")
        self.methods["POST /v1/chat"] = self.add_post(chat, integration, chat_model)
        streaming = self._streaming_integration(streaming_handler, streaming_timeout) if streaming_handler else None
        completions = chat.add_resource("completions")
        self.methods["POST /v1/chat/completions"] = self.add_post(completions, streaming or integration, openai_model)
        if orchestrated_integration is not None:
            # Step Functions StartSyncExecution, no Lambda in front; the response template sets status, Retry-After and
            # x-request-id
            self.methods["POST /v1/chat/orchestrated"] = self.add_method(
                chat.add_resource("orchestrated"),
                "POST",
                orchestrated_integration,
                request_validator=self.body_validator,
                request_models={JSON: chat_model},
                method_responses=[
                    apigw.MethodResponse(
                        status_code="200",
                        response_parameters={
                            "method.response.header.Retry-After": False,
                            "method.response.header.x-request-id": False,
                        },
                    )
                ],
            )
        for path in config.get("routes", {}):
            resource = self.api.root.resource_for_path(path)
            self.methods[f"POST {path}"] = self.add_post(resource, integration, chat_model)
        if streaming is not None:
            self._stream_routes(chat, config, streaming, chat_model)
        add_native_routes(self, integration, streaming)  # /model/{modelId}/..., /v1/embeddings
        if jobs_handler is not None:
            self._jobs_routes(v1, jobs_handler, chat_model)

        add_gateway_responses(self.api)
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
            api_key = self.api.add_api_key(
                f"Key-{name}", api_key_name=f"{prefix}-{name}", description=f"API key of the '{name}' plan"
            )
            usage_plan.add_api_key(api_key)
            self.usage_plans[name], self.api_keys[name] = usage_plan, api_key

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
        self.methods["POST /v1/chat/stream"] = self.add_post(chat.add_resource("stream"), streaming, model)
        for path in config.get("routes", {}):
            resource = self.api.root.resource_for_path(f"{path}/stream")
            self.methods[f"POST {path}/stream"] = self.add_post(resource, streaming, model)

    def _jobs_routes(self, v1: apigw.IResource, jobs_handler: lambda_.IFunction, model: apigw.IModel) -> None:
        """``POST /v1/jobs`` (optional ``Idempotency-Key``) and ``GET``/``DELETE /v1/jobs/{id}`` on the jobs function."""
        jobs_integration = apigw.LambdaIntegration(
            jobs_handler, proxy=True, allow_test_invoke=False, timeout=Duration.seconds(29)
        )
        jobs = v1.add_resource("jobs")
        self.methods["POST /v1/jobs"] = self.add_post(
            jobs, jobs_integration, model, request_parameters={"method.request.header.Idempotency-Key": False}
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
