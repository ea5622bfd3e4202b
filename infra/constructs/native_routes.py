"""The REST API's Bedrock Runtime paths and ``/v1/embeddings`` (issue 11), added to ``GatewayApi``.

``POST /model/{modelId}/converse`` and ``/invoke`` on the API function, ``/converse-stream`` and
``/invoke-with-response-stream`` on the streaming function (response streaming: AWS event-stream bytes), so a boto3
``bedrock-runtime`` client with ``endpoint_url`` set to the stage works. Their bodies are Bedrock's own (Converse, or a
model family's InvokeModel body), which the functions check (400 naming the field), so these methods carry no request
model, only the required ``modelId`` path parameter. ``POST /v1/embeddings`` has the OpenAI embeddings model.
Every method takes the API key like the rest (the authorizer reads ``x-api-key`` first, so a SigV4 ``Authorization``
header that boto3 adds does not get in the way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_apigateway as apigw

if TYPE_CHECKING:
    from infra.constructs.api import GatewayApi

MODEL_ID = {"method.request.path.modelId": True}
NON_STREAM = ("converse", "invoke")
STREAM = ("converse-stream", "invoke-with-response-stream")
EVENT_STREAM = "application/vnd.amazon.eventstream"
# Bedrock's exception name per status, sent as x-amzn-ErrorType on API Gateway's own error responses (401, 403, 429 ...)
# as the functions send it (fmgateway.native.invocation.ERROR_CODES; a test checks that they agree), so that boto3 raises
# e.g. ThrottlingException for a usage-plan throttle.
BEDROCK_ERROR_CODES = {
    "400": "ValidationException",
    "401": "AccessDeniedException",
    "403": "AccessDeniedException",
    "404": "ResourceNotFoundException",
    "413": "ValidationException",
    "415": "ValidationException",
    "429": "ThrottlingException",
    "502": "ModelErrorException",
    "503": "ServiceUnavailableException",
    "504": "ModelTimeoutException",
}


def add_native_routes(api: GatewayApi, integration: apigw.Integration, streaming: apigw.Integration | None) -> None:
    model_resource = api.api.root.add_resource("model").add_resource("{modelId}")
    operations = [(name, integration) for name in NON_STREAM]
    if streaming is not None:
        operations += [(name, streaming) for name in STREAM]
    for name, target in operations:
        api.methods[f"POST /model/{{modelId}}/{name}"] = api.add_method(
            model_resource.add_resource(name),
            "POST",
            target,
            request_validator=api.body_validator,
            request_parameters=dict(MODEL_ID),
        )
    # GatewayApi's own helpers: the model from schemas/, a POST validated against it
    model = api._model("OpenAIEmbeddingsRequestModel", "OpenAIEmbeddingsRequest", "openai-embeddings-request.json")
    api.methods["POST /v1/embeddings"] = api._post(api.api.root.resource_for_path("/v1/embeddings"), integration, model)
