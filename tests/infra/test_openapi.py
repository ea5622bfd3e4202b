"""The API description (infra/openapi.py): valid OpenAPI 3.1, in the Lambda bundle, and the same API as the REST API
the stack synthesizes: operations, request models (the same schema files), validators, parameters, authorization."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from infra import openapi
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
            assert ref == f"#/components/schemas/{model['Name']}", name
            # the same schema file, #/definitions inlined: the model carries $schema (draft-04), the document does not
            assert {k: v for k, v in model["Schema"].items() if k != "$schema"} == components[model["Name"]], name
            assert body["required"] is True
        else:
            assert body is None, name
        validated = "RequestValidatorId" in props
        assert validated == (body is not None or bool(operation.get("parameters"))), name
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
