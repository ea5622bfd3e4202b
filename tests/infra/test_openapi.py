"""The API description (infra/openapi.py): valid OpenAPI 3.1, in the Lambda bundle, and the same API as the REST API
the stack synthesizes: operations, request models (the same schema files), validators, parameters, authorization."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from infra import openapi, openapi_schemas
from tests.infra.test_api import methods


@pytest.fixture(scope="module")
def document(gateway_config):
    return openapi.document(gateway_config)


def test_it_validates_as_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_its_operations_are_the_rest_apis_methods(synth, document):
    in_document = {f"{verb.upper()} {path}" for path, item in document["paths"].items() for verb in item}
    assert in_document == set(methods(synth))


def test_request_models_and_validators_match(synth, document):
    models = {key: res["Properties"] for key, res in synth.resources("AWS::ApiGateway::Model").items()}
    components = document["components"]["schemas"]
    for name, props in methods(synth).items():
        verb, path = name.split(" ", 1)
        operation = document["paths"][path][verb.lower()]
        body = operation.get("requestBody")
        if "RequestModels" in props:
            model = models[props["RequestModels"]["application/json"]["Ref"]]
            ref = body["content"]["application/json"]["schema"]["$ref"]
            # the same schema file, #/definitions inlined: the model carries $schema (draft-04), the document does not,
            # and adds what only 2020-12 can say (openapi.REFINED); the task routes' body is ChatRequest less model, tier
            draft4 = {k: v for k, v in model["Schema"].items() if k != "$schema"}
            refined = openapi.REFINED.get(model["Name"], lambda schema: schema)(copy.deepcopy(draft4))
            if ref == f"#/components/schemas/{openapi.CONVERSE}":
                assert model["Name"] == "ChatRequest", name
                refined = openapi_schemas.task_request(refined)
            else:
                assert ref == f"#/components/schemas/{model['Name']}", name
            assert refined == components[ref.rsplit("/", 1)[1]], name
            assert body["required"] is True
        elif body is not None:  # the Bedrock-native paths: their bodies are checked by the functions
            assert path.startswith("/model/"), name
        validated = "RequestValidatorId" in props
        assert validated == ("RequestModels" in props or bool(operation.get("parameters"))), name
        required = {
            key.rsplit(".", 1)[1]: value for key, value in (props.get("RequestParameters") or {}).items()
        }  # method.request.header.Idempotency-Key -> False
        documented = {p["name"]: p["required"] for p in operation.get("parameters", [])}
        assert required == documented, name


def test_public_operations_need_no_key_and_the_rest_do(synth, document):
    for name, props in methods(synth).items():
        verb, path = name.split(" ", 1)
        operation = document["paths"][path][verb.lower()]
        public = props["AuthorizationType"] == "NONE" and not props.get("ApiKeyRequired")
        assert (operation.get("security") == []) == public, name
    assert {"apiKeyHeader", "bearerKey"} == set(document["components"]["securitySchemes"])


def test_the_bundle_serves_the_document_generated_at_synth(synth, gateway_config):
    from infra.bundle import LAMBDA_DIR, build_lock

    with build_lock():  # another synth may be restaging the bundle
        bundled = json.loads(Path(LAMBDA_DIR, "openapi.json").read_text())
    assert bundled["paths"] == openapi.document(gateway_config)["paths"]


def test_the_chat_request_model_takes_every_forwarded_converse_field(synth, document):
    """Issue 10: API Gateway's validator (the model of the synthesized API) and the document accept every Converse field
    the gateway forwards, the new content blocks included, and still refuse a wrong shape of each."""
    import copy

    import jsonschema

    from fmgateway.values.exchange import FORWARDED_FIELDS
    from tests.unit.test_converse_fields import FULL

    models = {
        res["Properties"]["Name"]: res["Properties"]["Schema"] for res in synth.resources("AWS::ApiGateway::Model").values()
    }
    for schema in (models["ChatRequest"], {"$schema": openapi.DRAFT4, **document["components"]["schemas"]["ChatRequest"]}):
        assert set(FORWARDED_FIELDS) | {"requestMetadata"} <= set(schema["properties"])
        validator = jsonschema.Draft4Validator(schema)
        assert list(validator.iter_errors(FULL)) == []
        for field, wrong in [
            ("toolConfig", {"tools": [{"toolSpec": {"name": "x"}}]}),
            ("serviceTier", {"type": "gold"}),
            ("guardrailConfig", {"trace": "on"}),
            ("requestMetadata", {"k": "a;b"}),
            ("outputConfig", {"textFormat": {"type": "json_object"}}),
        ]:
            body = copy.deepcopy(FULL)
            body[field] = wrong
            assert list(validator.iter_errors(body)), field


def test_max_cost_usd_is_in_the_request_model_and_the_document(synth, document):
    """Issue 14: the per-request cost ceiling is a documented, validated body field (400 below its minimum)."""
    field = document["components"]["schemas"]["ChatRequest"]["properties"]["maxCostUsd"]
    assert field["type"] == "number" and field["minimum"] > 0
    models = [json.loads(json.dumps(res["Properties"]["Schema"])) for res in synth.resources("AWS::ApiGateway::Model").values()]
    assert any("maxCostUsd" in model.get("properties", {}) for model in models)


# --- issue 20, point 3: the document is complete and true (one test per item) ------------------------------------------

HELLO = {"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}
OPENAI_HELLO = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}


def valid(document, name: str, instance) -> bool:
    """``instance`` against a component, in the document's dialect (JSON Schema 2020-12)."""
    import jsonschema

    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def body_ref(document, path: str, verb: str = "post") -> str:
    return document["paths"][path][verb]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]


def test_409_is_documented_on_job_submit_and_cancel(document):
    assert "409" in document["paths"]["/v1/jobs"]["post"]["responses"]
    assert "409" in document["paths"]["/v1/jobs/{id}"]["delete"]["responses"]
    assert "409" not in document["paths"]["/v1/jobs/{id}"]["get"]["responses"]


def test_model_is_required_on_chat_completions(document):
    assert "model" in document["components"]["schemas"]["OpenAIChatCompletionRequest"]["required"]
    assert valid(document, "OpenAIChatCompletionRequest", OPENAI_HELLO)
    assert not valid(document, "OpenAIChatCompletionRequest", {"messages": OPENAI_HELLO["messages"]})


def test_stream_answers_are_documented_as_server_sent_events(document, gateway_config):
    assert "text/event-stream" in document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    streamed = [path for path in document["paths"] if path.startswith("/v1/") and path.endswith("/stream")]
    assert len(streamed) == 1 + len(gateway_config["routes"])
    for path in streamed:
        assert set(document["paths"][path]["post"]["responses"]["200"]["content"]) == {"text/event-stream"}, path


def test_task_routes_document_a_body_without_model_and_tier(document, gateway_config):
    """The task routes (and the Bedrock-native Converse paths) refuse model and tier: their body is ConverseRequest."""
    from fmgateway.converse import validation
    from fmgateway.values.errors import InvalidRequest

    task_paths = [*gateway_config["routes"], *(f"{path}/stream" for path in gateway_config["routes"])]
    for path in [*task_paths, "/model/{modelId}/converse", "/model/{modelId}/converse-stream"]:
        assert body_ref(document, path) == openapi.CONVERSE, path
    assert body_ref(document, "/v1/chat") == "ChatRequest"
    assert valid(document, openapi.CONVERSE, HELLO)
    for extra in ({"model": "auto"}, {"tier": "simple"}):
        assert not valid(document, openapi.CONVERSE, {**HELLO, **extra}), extra
        assert valid(document, "ChatRequest", {**HELLO, **extra}), extra
    from fmgateway.serving.converse_routes import _no_choice

    for field in ("model", "tier"):  # what the task routes do with them
        with pytest.raises(InvalidRequest, match=f"body.{field}"):
            _no_choice({"resource": "/v1/classify"}, {**HELLO, field: "simple"}, "POST /v1/chat")
    assert validation.chat_body(dict(HELLO))


def test_idempotency_key_has_the_servers_length_limits(document):
    from handlers import jobs_api

    (header,) = [p for p in document["paths"]["/v1/jobs"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": jobs_api.MAX_IDEMPOTENCY_KEY}


def test_the_bedrock_native_paths_document_their_bodies(document):
    for action in ("converse", "converse-stream", "invoke", "invoke-with-response-stream"):
        body = document["paths"][f"/model/{{modelId}}/{action}"]["post"].get("requestBody")
        assert body and body["required"] is True and "application/json" in body["content"], action


def test_openai_fields_always_refused_are_documented_as_refused(document):
    """The schema and fields.refusals agree on every refused field, over values that ask for nothing and others."""
    from fmgateway.config import schemas
    from fmgateway.openai_surface import fields
    from fmgateway.values.errors import InvalidRequest

    schema = document["components"]["schemas"]["OpenAIChatCompletionRequest"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(fields.FIELDS)
    assert schema["properties"]["service_tier"]["enum"] == [*fields.SERVICE_TIERS, None]
    samples = [None, 0, 0.0, 0.5, 1, False, True, {}, {"a": 1}, [], ["text"], ["audio"], ["text", "audio"], "x", "auto",
               "default", "flex", "priority", "scale", "fast"]  # fmt: skip
    for name in [*fields.REFUSED, "audio", "modalities", "service_tier", "n", "bogus_field"]:
        for value in samples:
            body = {**OPENAI_HELLO, name: value}
            try:  # as request.translate: the field table, then the draft-04 schema
                fields.refusals(body)
                schemas.validate("openai-chat-request", body)
                accepted = True
            except InvalidRequest:
                accepted = False
            if accepted:  # the server may still refuse a wrong type elsewhere; the document must not refuse what passes
                assert valid(document, "OpenAIChatCompletionRequest", body), (name, value)
            elif name in (*fields.REFUSED, "audio", "modalities", "service_tier", "bogus_field"):
                assert not valid(document, "OpenAIChatCompletionRequest", body), (name, value)


def test_stream_options_only_with_stream_true(document):
    name = "OpenAIChatCompletionRequest"
    assert valid(document, name, {**OPENAI_HELLO, "stream": True, "stream_options": {"include_usage": True}})
    assert valid(document, name, {**OPENAI_HELLO, "stream_options": None})
    assert not valid(document, name, {**OPENAI_HELLO, "stream_options": {}})
    assert not valid(document, name, {**OPENAI_HELLO, "stream": False, "stream_options": {}})
    assert not valid(document, name, {**OPENAI_HELLO, "stream": True, "stream_options": {"include_obfuscation": True}})


def test_an_openai_content_part_carries_the_field_its_type_names(document):
    name = "OpenAIChatCompletionRequest"
    for part, ok in [({"type": "text", "text": "hi"}, True), ({"type": "text"}, False), ({"type": "file", "text": "x"}, False),
                     ({"type": "", "text": "x"}, False), ({"text": "x"}, False)]:  # fmt: skip
        body = {**OPENAI_HELLO, "messages": [{"role": "user", "content": [part]}]}
        assert valid(document, name, body) == ok, part


def test_a_messages_audio_and_function_call_are_refused_unless_null(document):
    for field in ("audio", "function_call"):
        message = {"role": "assistant", "content": "x", field: {"name": "f"}}
        body = {**OPENAI_HELLO, "messages": [*OPENAI_HELLO["messages"], message]}
        assert not valid(document, "OpenAIChatCompletionRequest", body), field
        assert valid(
            document, "OpenAIChatCompletionRequest", {**body, "messages": [*body["messages"][:-1], {**message, field: None}]}
        )


def test_request_metadata_key_rules_are_in_the_schema(document):
    from fmgateway.converse import request_metadata
    from fmgateway.values.errors import InvalidRequest

    cases = [{"k": "v"}, {"fmgw-x": "v"}, {"FMGW-x": "v"}, {"": "v"}, {"a;b": "v"}, {"k" * 256: "v"}, {"k" * 257: "v"},
             {"k": "a;b"}, {"k": "v" * 257}, {"k": 1}, {f"k{i}": "v" for i in range(11)},
             {f"k{i}": "v" for i in range(12)}, {"a b:c@d$e#f=g/h+i,j.k-l_m": ""}]  # fmt: skip
    for metadata in cases:
        try:
            request_metadata.check(metadata)
            accepted = True
        except InvalidRequest:
            accepted = False
        for name in ("ChatRequest", openapi.CONVERSE):
            assert valid(document, name, {**HELLO, "requestMetadata": metadata}) == accepted, metadata


def test_base64_pattern_is_the_servers_strict_base64(document):
    import base64
    import random

    from fmgateway.converse.validation import is_strict_base64

    rng = random.Random(20)
    samples = ["QUJD", "QUJ", "QUI=", "QUJ=", "QQ==", "QR==", "QUJDRA==", "====", "QU=D", "QUJD====", "Q", "A+/="]
    samples += [base64.b64encode(rng.randbytes(rng.randint(1, 9))).decode() for _ in range(50)]
    samples += ["".join(rng.choice("AQgwJ+/=") for _ in range(rng.choice((4, 8)))) for _ in range(300)]
    for text in samples:
        image = {"image": {"format": "png", "source": {"bytes": text}}}
        body = {"messages": [{"role": "user", "content": [image]}]}
        assert valid(document, "ChatRequest", body) == is_strict_base64(text), text


def test_a_float_max_tokens_is_a_documented_exception(document):
    """Decision (item 10): 5.0 stays refused (draft-04, as API Gateway's model; boto3 would send Bedrock a float). JSON
    Schema 2020-12 cannot tell 5.0 from 5, so the field's description says it, and the Schemathesis run lists it."""
    from fmgateway.converse import validation
    from fmgateway.values.errors import InvalidRequest

    body = {**HELLO, "inferenceConfig": {"maxTokens": 5.0}}
    assert valid(document, "ChatRequest", body)
    with pytest.raises(InvalidRequest, match="maxTokens"):
        validation.chat_body(body)
    field = document["components"]["schemas"]["ChatRequest"]["properties"]["inferenceConfig"]["properties"]["maxTokens"]
    assert "5.0" in field["description"]
    listed = Path(__file__).resolve().parents[2] / "clients" / "schemathesis_run" / "test_schemathesis.py"
    assert "maxTokens" in listed.read_text()


def test_the_main_answers_have_schemas(document):
    for (verb, path), name in openapi_schemas.ANSWERS.items():
        responses = document["paths"][path][verb.lower()]["responses"]
        ok = responses.get("200") or responses["202"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}, path
    for path in document["paths"]:
        if path.startswith("/v1/") and (path.endswith(("classify", "generate", "analyze"))):
            assert document["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ChatResponse"
            }
