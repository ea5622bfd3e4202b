"""The API description: an OpenAPI 3.1 document generated from ``schemas/`` and the configuration at build time.

One source: the request schemas are the files of ``schemas/`` (draft-04, ``#/definitions`` inlined), the same ones the
REST API's models are set from (``infra/constructs/rest_api.py``), and the operations are those the REST API creates (the
fixed routes, the configuration's task routes, the jobs routes). ``make synth`` writes the document into the Lambda
bundle (``openapi.json``), which the API function serves at ``GET /v1/openapi.json``; local mode generates it at start.
``tests/infra/test_openapi.py`` checks it against the synthesized REST API (paths, methods, models, validators,
parameters, authorization) and validates it as OpenAPI 3.1.

OpenAPI 3.1 because its schema dialect (JSON Schema 2020-12) accepts the draft-04 schemas as they are (type arrays
such as ``["integer", "null"]`` included), which 3.0's schema subset does not. No AWS CDK import here: local mode uses it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fmgateway.values.errors import INVALID_REQUEST_ERROR, OPENAI_TYPES, SERVER_ERROR
from infra import openapi_schemas
from infra.settings import load_schema

DRAFT4 = "http://json-schema.org/draft-04/schema#"
OPENAPI_VERSION = "3.1.0"
ERROR_TYPES = sorted({INVALID_REQUEST_ERROR, SERVER_ERROR, *OPENAI_TYPES.values()})
# schema file -> API Gateway model name (also the document's component name)
MODELS = {
    "chat-request.json": "ChatRequest",
    "openai-chat-request.json": "OpenAIChatCompletionRequest",
    "openai-embeddings-request.json": "OpenAIEmbeddingsRequest",
}
CHAT, OPENAI, EMBEDDINGS = "chat-request.json", "openai-chat-request.json", "openai-embeddings-request.json"
# The /v1/chat body without model and tier: the task routes and /model/{modelId}/converse(-stream) (the route or the
# path names the model); API Gateway validates these with ChatRequest, the functions refuse the two fields.
CONVERSE = "ConverseRequest"
# What the document says beyond the draft-04 file (2020-12 rules the functions apply), per component
REFINED = {
    "ChatRequest": openapi_schemas.chat_request,
    "OpenAIChatCompletionRequest": openapi_schemas.openai_chat_request,
}
# A native InvokeModel body: the model family's own (Anthropic Messages, Nova, Titan, Cohere ...), checked by the function
NATIVE_BODY = {"type": "object", "description": "the model family's InvokeModel body, as Bedrock documents it"}
MAX_IDEMPOTENCY_KEY = 200  # handlers/jobs_api.py
EVENT_STREAM = "application/vnd.amazon.eventstream"
MODEL_ID = {
    "name": "modelId",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "a catalog alias, a tier, auto, or a Bedrock model / inference profile id the catalog knows (URL-encoded)",
}
PUBLIC_PATHS = frozenset({("GET", "/v1/health"), ("GET", "/v1/openapi.json")})


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


def operations(
    config: Mapping[str, Any], *, orchestrated: bool = True, jobs: bool = True, streaming: bool = True
) -> list[dict[str, Any]]:
    """The REST API's operations: (method, path, summary, request schema file or None, status, parameters)."""
    ops: list[dict[str, Any]] = [
        {"method": "GET", "path": "/v1/health", "summary": "Liveness (no key)"},
        {"method": "GET", "path": "/v1/openapi.json", "summary": "This API description (no key)"},
        {"method": "GET", "path": "/v1/models", "summary": "The model catalog (OpenAI models.list compatible)"},
        {"method": "POST", "path": "/v1/chat", "summary": "Converse-shaped chat with routing and fallback", "body": CHAT},
        {
            "method": "POST",
            "path": "/v1/chat/completions",
            "summary": "OpenAI Chat Completions (stream: true answers server-sent events)",
            "body": OPENAI,
        },
    ]
    if orchestrated:
        ops.append(
            {
                "method": "POST",
                "path": "/v1/chat/orchestrated",
                "summary": "The /v1/chat body, run by the routing state machine",
                "body": CHAT,
            }
        )
    for path, tier in config.get("routes", {}).items():
        ops.append({"method": "POST", "path": path, "summary": f"Task route: tier '{tier}'", "body": CONVERSE})
    if streaming:
        sse = "text/event-stream"
        ops.append({"method": "POST", "path": "/v1/chat/stream", "summary": "/v1/chat as ConverseStream events (SSE)",
                    "body": CHAT, "produces": sse})  # fmt: skip
        for path, tier in config.get("routes", {}).items():
            ops.append({"method": "POST", "path": f"{path}/stream", "summary": f"Task route '{tier}', streamed (SSE)",
                        "body": CONVERSE, "produces": sse})  # fmt: skip
    ops += native_operations(streaming)
    if jobs:
        idempotency = {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            "description": "the same key with the same body answers the same job; with another body, 409",
        }
        job_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        ops += [
            {
                "method": "POST",
                "path": "/v1/jobs",
                "summary": "Submit an async job",
                "body": CHAT,
                "status": "202",
                "parameters": [idempotency],
                "conflict": "Idempotency-Key already used with a different request body",
            },
            {"method": "GET", "path": "/v1/jobs/{id}", "summary": "A job's status and result", "parameters": [job_id]},
            {
                "method": "DELETE",
                "path": "/v1/jobs/{id}",
                "summary": "Cancel a job not yet started",
                "parameters": [job_id],
                "conflict": "The job has started or finished: only a queued job can be cancelled",
            },
        ]
    return ops


def native_operations(streaming: bool = True) -> list[dict[str, Any]]:
    """/v1/embeddings and the Bedrock Runtime paths (boto3 ``bedrock-runtime`` with ``endpoint_url``); their bodies are
    Bedrock's own (Converse, or the model family's InvokeModel body), checked by the functions."""
    ops: list[dict[str, Any]] = [
        {"method": "POST", "path": "/v1/embeddings", "summary": "OpenAI embeddings (Titan, Cohere)", "body": EMBEDDINGS},
        {"method": "POST", "path": "/model/{modelId}/converse", "summary": "Bedrock Converse", "parameters": [MODEL_ID],
         "body": CONVERSE},
        {"method": "POST", "path": "/model/{modelId}/invoke", "summary": "Bedrock InvokeModel (native body, translated "
         "across families on fallback; Titan / Cohere embedding bodies)", "parameters": [MODEL_ID], "native": True},
    ]  # fmt: skip
    if streaming:
        ops += [
            {"method": "POST", "path": "/model/{modelId}/converse-stream", "summary": "Bedrock ConverseStream (AWS event "
             "stream)", "parameters": [MODEL_ID], "produces": EVENT_STREAM, "body": CONVERSE},
            {"method": "POST", "path": "/model/{modelId}/invoke-with-response-stream", "summary": "Bedrock "
             "InvokeModelWithResponseStream (AWS event stream)", "parameters": [MODEL_ID], "produces": EVENT_STREAM,
             "native": True},
        ]  # fmt: skip
    return ops


# OpenAI's error object plus the gateway's request id (fmgateway.values.errors.error_object; README "Errors on every
# route"). The Bedrock-native paths and API Gateway's own answers also carry the message at the top level (botocore).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code", "requestId"],
            "properties": {
                "message": {"type": "string"},
                "type": {"enum": ERROR_TYPES, "description": "OpenAI's error type for the status"},
                "param": {
                    "type": ["string", "null"],
                    "description": "the request field the error is about, as messages[2].name (no body. prefix)",
                },
                "code": {"type": "string", "description": "the gateway's name of the error (invalid_request, throttled ...)"},
                "requestId": {"type": "string", "description": "API Gateway's request id, also the x-request-id header"},
            },
        },
        "message": {"type": "string"},
    },
}
REQUEST_ID_HEADER = {"x-request-id": {"description": "the request id (error.requestId)", "schema": {"type": "string"}}}
ERRORS = {
    "400": "Invalid request (the message names the field)",
    "401": "No API key (x-api-key or Authorization: Bearer)",
    "403": "Unknown or disabled API key",
    "404": "Not found",
    "405": "Method not allowed (Allow header)",
    "413": "Body too large: send large images and documents by S3 reference (s3Location)",
    "429": "Usage plan throttle or quota (Retry-After)",
    "502": "Model error",
    "503": "No candidate could answer (Retry-After)",
    "504": "Request budget spent",
}


def model_schema(schema_file: str) -> dict[str, Any]:
    """A request model's schema as API Gateway carries it: the file, ``#/definitions`` inlined, without ``$schema``."""
    return {key: value for key, value in inline_refs(load_schema(schema_file)).items() if key != "$schema"}


def request_schemas() -> dict[str, dict[str, Any]]:
    """The request components: each model's schema with the 2020-12 rules the functions apply (``REFINED``), and the
    ConverseRequest derived from ChatRequest."""
    schemas = {name: REFINED.get(name, lambda schema: schema)(model_schema(file)) for file, name in MODELS.items()}
    schemas[CONVERSE] = openapi_schemas.task_request(schemas["ChatRequest"])
    return schemas


def _ok(op: dict[str, Any]) -> dict[str, Any]:
    """The success answer: its schema where the answer is JSON; server-sent events for stream: true."""
    produces = op.get("produces", "application/json")
    name = openapi_schemas.ANSWERS.get((op["method"], op["path"]))
    if name is None and op.get("body") == CONVERSE and produces == "application/json" and op["path"].startswith("/v1/"):
        name = "ChatResponse"  # the task routes answer as /v1/chat
    content: dict[str, Any] = {produces: {"schema": {"$ref": f"#/components/schemas/{name}"}} if name else {}}
    if op["path"] == "/v1/openapi.json":
        content = {"application/json": {"schema": openapi_schemas.OPENAPI_DOCUMENT}}
    if op["path"] == "/v1/chat/completions":
        content["text/event-stream"] = {
            "schema": {
                "type": "string",
                "description": "stream: true: chat.completion.chunk objects as server-sent events, then data: [DONE]",
            }
        }
    description = "Accepted" if op.get("status") == "202" else "OK"
    return {"description": description, "headers": REQUEST_ID_HEADER, "content": content}


def document(
    config: Mapping[str, Any],
    *,
    title: str = "FM Gateway",
    orchestrated: bool = True,
    jobs: bool = True,
    streaming: bool = True,
) -> dict[str, Any]:
    error_ref = {"$ref": "#/components/schemas/Error"}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations(config, orchestrated=orchestrated, jobs=jobs, streaming=streaming):
        public = (op["method"], op["path"]) in PUBLIC_PATHS
        errors = dict(ERRORS)
        if op.get("conflict"):
            errors["409"] = op["conflict"]
        responses: dict[str, Any] = {op.get("status", "200"): _ok(op)}
        for status, description in sorted(errors.items()):
            if public and status in ("401", "403", "429"):
                continue
            content = {"application/json": {"schema": error_ref}}
            responses[status] = {"description": description, "headers": REQUEST_ID_HEADER, "content": content}
        operation: dict[str, Any] = {"summary": op["summary"], "responses": responses}
        if public:
            operation["security"] = []
        if op.get("parameters"):
            operation["parameters"] = op["parameters"]
        if op.get("body"):
            name = MODELS.get(op["body"], op["body"])
            ref = {"$ref": f"#/components/schemas/{name}"}
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
        elif op.get("native"):
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": NATIVE_BODY}}}
        paths.setdefault(op["path"], {})[op["method"].lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": str(config.get("version", "0")),
            "description": "One stable API in front of Amazon Bedrock. Send the API key as x-api-key or as "
            'Authorization: Bearer <key>. Errors: {"error": {"message", "type", "param", "code", "requestId"}} '
            "(OpenAI's error object and the request id); every response has the x-request-id header.",
        },
        "security": [{"apiKeyHeader": []}, {"bearerKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearerKey": {"type": "http", "scheme": "bearer", "description": "the API key as a bearer token"},
            },
            "schemas": {**request_schemas(), **openapi_schemas.RESPONSES, "Error": ERROR_SCHEMA},
        },
    }


def write(config: Mapping[str, Any], path: Path, **options: Any) -> Path:
    path.write_text(json.dumps(document(config, **options), indent=1) + "\n")
    return path
