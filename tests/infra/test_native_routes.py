"""The Bedrock Runtime paths and /v1/embeddings in the template (issue 11): non-stream paths on the API function,
stream paths streamed from the streaming function, the modelId parameter required, the embeddings request model, the
event-stream binary media type, and the embedding models in both functions' Bedrock grants."""

from __future__ import annotations

from infra.settings import load_schema
from tests.infra.conftest import api_function, as_list, render, statements_of
from tests.infra.test_streaming import methods_by_path, streaming_function

NATIVE = "/model/{modelId}"


def test_non_stream_paths_are_on_the_api_function_and_need_a_key(synth):
    sync_id, _ = api_function(synth)
    methods = methods_by_path(synth)
    for path in (f"{NATIVE}/converse", f"{NATIVE}/invoke", "/v1/embeddings"):
        props = methods[path]["Properties"]
        assert sync_id in render(props["Integration"]["Uri"]), path
        assert props["Integration"].get("ResponseTransferMode", "BUFFERED") == "BUFFERED", path
        assert props["ApiKeyRequired"] is True and props["AuthorizationType"] == "CUSTOM", path


def test_stream_paths_stream_from_the_streaming_function(synth):
    function_id, function = streaming_function(synth)
    methods = methods_by_path(synth)
    for path in (f"{NATIVE}/converse-stream", f"{NATIVE}/invoke-with-response-stream"):
        integration = methods[path]["Properties"]["Integration"]
        assert integration["ResponseTransferMode"] == "STREAM", path
        uri = render(integration["Uri"])
        assert function_id in uri and uri.endswith("/response-streaming-invocations"), path
        assert integration["TimeoutInMillis"] == function["Properties"]["Timeout"] * 1000


def test_model_id_is_a_required_path_parameter_and_bodies_are_checked_by_the_functions(synth):
    methods = methods_by_path(synth)
    for name in ("converse", "invoke", "converse-stream", "invoke-with-response-stream"):
        props = methods[f"{NATIVE}/{name}"]["Properties"]
        assert props["RequestParameters"] == {"method.request.path.modelId": True}
        assert "RequestValidatorId" in props and "RequestModels" not in props


def test_embeddings_take_the_openai_embeddings_model(synth):
    props = methods_by_path(synth)["/v1/embeddings"]["Properties"]
    models = {key: res["Properties"] for key, res in synth.resources("AWS::ApiGateway::Model").items()}
    model = models[props["RequestModels"]["application/json"]["Ref"]]
    assert model["Name"] == "OpenAIEmbeddingsRequest"
    assert model["Schema"]["properties"] == load_schema("openai-embeddings-request.json")["properties"]


def test_event_stream_answers_are_binary(synth):
    synth.template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["application/vnd.amazon.eventstream"]}
    )


def test_both_functions_may_invoke_and_stream_the_embedding_models(synth, gateway_config):
    for function_id, _ in (api_function(synth), streaming_function(synth)):
        role = synth.doc["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        bedrock = [st for st in statements_of(synth, role) if st.get("Sid") == "InvokeConfiguredModels"]
        assert len(bedrock) == 1
        assert set(as_list(bedrock[0]["Action"])) == {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
        resources = as_list(bedrock[0]["Resource"])
        for entry in gateway_config["embeddings"]["models"].values():
            assert any(arn.endswith(f"::foundation-model/{entry['modelId']}") for arn in resources), entry["modelId"]


def test_api_gateways_own_errors_carry_the_bedrock_error_type_the_functions_send(synth):
    from fmgateway.native.invocation import ERROR_CODES

    found = 0
    for response in synth.resources("AWS::ApiGateway::GatewayResponse").values():
        props = response["Properties"]
        status = props.get("StatusCode")
        if status is None:
            continue
        code = (props.get("ResponseParameters") or {}).get("gatewayresponse.header.x-amzn-ErrorType")
        assert code == f"'{ERROR_CODES[int(status)]}'", props["ResponseType"]
        found += 1
    assert found >= 10
