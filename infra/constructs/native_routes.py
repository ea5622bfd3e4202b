"""The REST API's Bedrock Runtime paths and ``/v1/embeddings`` (issue 11), added to the keyed REST API.

``POST /model/{modelId}/converse`` and ``/invoke`` on the API function, ``/converse-stream`` and
``/invoke-with-response-stream`` on the streaming function (response streaming: AWS event-stream bytes), so a boto3
``bedrock-runtime`` client with ``endpoint_url`` set to the stage works. Their bodies are Bedrock's own (Converse, or a
model family's InvokeModel body), which the functions check (400 naming the field), so these methods carry no request
model, only the required ``modelId`` path parameter. ``POST /v1/embeddings`` has the OpenAI embeddings model.
Every method takes the API key like the rest (the authorizer reads ``x-api-key`` first, so a SigV4 ``Authorization``
header that boto3 adds does not get in the way). The Bedrock error code of API Gateway's own errors
(``x-amzn-ErrorType``) is set with the gateway responses (``infra/constructs/gateway_responses.py``).
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw

from infra.constructs.rest_api import KeyedRestApi

MODEL_ID = {"method.request.path.modelId": True}
NON_STREAM = ("converse", "invoke")
STREAM = ("converse-stream", "invoke-with-response-stream")
EVENT_STREAM = "application/vnd.amazon.eventstream"


def add_native_routes(api: KeyedRestApi, integration: apigw.Integration, streaming: apigw.Integration | None) -> None:
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
    model = api.request_model("OpenAIEmbeddingsRequestModel", "OpenAIEmbeddingsRequest", "openai-embeddings-request.json")
    api.methods["POST /v1/embeddings"] = api.add_post(api.api.root.resource_for_path("/v1/embeddings"), integration, model)
