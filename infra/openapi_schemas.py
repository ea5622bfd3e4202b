"""What the API description says beyond ``schemas/``: the rules only JSON Schema 2020-12 can express (``schemas/`` stays
draft-04, API Gateway's model dialect), the task routes' body, and the schemas of the 200 answers.

Each rule here is the one the functions apply, taken from the code that applies it, so the document cannot drift:
``fmgateway.openai_surface.fields`` (which OpenAI fields are refused, ``SERVICE_TIERS``),
``fmgateway.converse.request_metadata`` (the key rules), ``fmgateway.converse.validation`` (canonical base64).
The answers' schemas follow what builds them (``ChatResult.body``, ``openai_surface.answer.to_response``, the
embeddings answer, ``JobService.view``, the models list, health); ``tests/integration/test_openapi_answers.py``
validates real answers against them.
"""

from __future__ import annotations

import copy
from typing import Any

from fmgateway.converse import request_metadata
from fmgateway.openai_surface.fields import REFUSED, SERVICE_TIERS

# Canonical standard base64, as ``validation.is_strict_base64``: whole quanta of 4, padding only at the end, and no
# stray bits in the last quantum (the character before == carries 2 bits, the one before = carries 4).
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
DRAFT4_BASE64_PATTERN = "^[A-Za-z0-9+/]*={0,2}$"
# JSON Schema 2020-12 counts 5.0 as an integer; the functions validate with draft-04, where it is not (boto3 would
# send a float maxTokens Bedrock refuses): a listed exception of the Schemathesis run (clients/schemathesis_run)
INTEGER_NOTE = "an integer written without a fraction: 5.0 is refused (400), though JSON Schema 2020-12 counts it"
# The content parts the OpenAI surface translates (which one a role may carry is a listed exception)
OPENAI_PARTS = ("text", "image_url", "file", "refusal")
# Fields the task routes refuse: the route names the tier
TASK_REFUSED = ("model", "tier")


def _with_base64_rule(node: Any) -> Any:
    if isinstance(node, list):
        return [_with_base64_rule(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_base64_rule(value) for key, value in node.items()}
    if out.get("pattern") == DRAFT4_BASE64_PATTERN:
        out["pattern"] = BASE64_PATTERN
    return out


def request_metadata_schema(draft4: dict[str, Any]) -> dict[str, Any]:
    """``requestMetadata``: the draft-04 object plus its key rules (``request_metadata.check``)."""
    allowed = request_metadata.ALLOWED
    return {
        **draft4,
        "maxProperties": request_metadata.MAX_CALLER_PAIRS,
        "propertyNames": {
            "minLength": 1,
            "maxLength": request_metadata.MAX_KEY,
            "pattern": f"^{allowed}*$",
            "not": {"pattern": "^[fF][mM][gG][wW]-", "description": "fmgw- keys are the gateway's own"},
        },
    }


def chat_request(draft4: dict[str, Any]) -> dict[str, Any]:
    """ChatRequest in 2020-12: canonical base64, ``requestMetadata`` key rules."""
    schema = _with_base64_rule(draft4)
    props = schema["properties"]
    props["requestMetadata"] = request_metadata_schema(props["requestMetadata"])
    inference = props["inferenceConfig"]["properties"]
    inference["maxTokens"] = {**inference["maxTokens"], "description": INTEGER_NOTE}
    return schema


def task_request(chat: dict[str, Any]) -> dict[str, Any]:
    """The task routes' body: ChatRequest without ``model`` and ``tier`` (the route names the tier; both are refused)."""
    schema = copy.deepcopy(chat)
    for name in TASK_REFUSED:
        schema["properties"].pop(name, None)
    schema["required"] = [name for name in schema.get("required", []) if name not in TASK_REFUSED]
    schema["description"] = "the /v1/chat body without model and tier: the route names the tier"
    return schema


def _nothing(harmless: tuple[Any, ...]) -> dict[str, Any]:
    """The values of a refused field that ask for nothing (``fields._asks_nothing``); none: the field is refused."""
    if not harmless:
        return {"not": {}, "description": "always refused"}
    return {"enum": list(harmless), "description": "refused unless it asks for nothing"}


def openai_chat_request(draft4: dict[str, Any]) -> dict[str, Any]:
    """OpenAIChatCompletionRequest in 2020-12, as ``fields.refusals`` and ``request.translate`` check it: ``model``
    required, no unknown top-level field, refused fields only with the values that ask for nothing."""
    schema = _with_base64_rule(draft4)
    props = schema["properties"]
    schema["required"] = sorted({*schema.get("required", []), "model"})
    schema["additionalProperties"] = False
    for name, (harmless, why) in REFUSED.items():
        props[name] = {**_nothing(harmless), "description": f"{_nothing(harmless)['description']}: {why}"}
    props["audio"] = {"type": "null", "description": "audio output is not available through Bedrock Converse"}
    props["modalities"] = {
        "type": ["array", "null"],
        "items": {"const": "text"},
        "minItems": 1,
        "maxItems": 1,
        "description": 'null or ["text"]: no audio output through Bedrock Converse',
    }
    message = props["messages"]["items"]["properties"]
    for field in ("audio", "function_call"):  # request.to_converse: refused on a message unless null
        message[field] = {"type": "null", "description": "refused unless null: Bedrock Converse has no counterpart"}
    roles = [role for role in message["role"]["enum"] if role != "function"]  # the deprecated role is refused
    message["role"] = {**message["role"], "enum": roles}
    part = message["content"]["items"]
    part["required"] = ["type"]
    part["properties"]["type"] = {"enum": list(OPENAI_PARTS), "description": "text, image_url, file, refusal (by role)"}
    # each part carries the field its type names (request.content_blocks)
    part["allOf"] = [{"if": {"properties": {"type": {"const": kind}}}, "then": {"required": [kind]}} for kind in OPENAI_PARTS]
    options = copy.deepcopy(props["stream_options"])
    options["properties"]["include_obfuscation"] = {"enum": [False, None], "description": "the gateway pads no chunks"}
    props["stream_options"] = {**options, "description": "only with stream: true"}
    schema["dependentSchemas"] = {  # request.translate: stream_options only with stream: true
        "stream_options": {
            "anyOf": [
                {"properties": {"stream_options": {"type": "null"}}},
                {"required": ["stream"], "properties": {"stream": {"const": True}}},
            ]
        }
    }
    props["n"] = {**props["n"], "maximum": 1, "description": "only 1 (Bedrock Converse returns one answer)"}
    props["service_tier"] = {
        "enum": [*SERVICE_TIERS, None],
        "description": "auto (none sent), default, flex or priority (Bedrock's serviceTier); scale and fast are refused",
    }
    return schema


# --- answers -------------------------------------------------------------------------------------------------------

_INT = {"type": "integer", "minimum": 0}
CONVERSE_USAGE = {
    "type": "object",
    "required": ["inputTokens", "outputTokens", "totalTokens"],
    "properties": {"inputTokens": _INT, "outputTokens": _INT, "totalTokens": _INT},
}
GATEWAY_BLOCK = {
    "type": "object",
    "description": "how the gateway answered: the model, the route, every attempt, cost and overhead",
    "required": ["model", "modelId", "backend", "route", "attempts", "degraded", "usage", "costUsd", "overheadMs"],
    "properties": {
        "model": {"type": "string", "description": "the catalog alias that answered"},
        "modelId": {"type": "string", "description": "the Bedrock model or inference profile id invoked"},
        "backend": {"type": "string"},
        "route": {"type": "string"},
        "attempts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["model", "outcome"],
                "properties": {
                    "model": {"type": "string"},
                    "outcome": {"type": "string"},
                    "code": {"type": ["string", "null"]},
                    "ms": {"type": "number"},
                },
            },
        },
        "degraded": {"type": "boolean"},
        "usage": CONVERSE_USAGE,
        "costUsd": {"type": "number", "minimum": 0},
        "overheadMs": {"type": "number"},
        "routing": {"type": "object"},
        "strategy": {"type": "object"},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}
CHAT_RESPONSE = {
    "type": "object",
    "description": "Converse's answer (output, stopReason, usage, and any response fields asked for) plus the gateway block",
    "required": ["output", "stopReason", "usage", "gateway"],
    "properties": {
        "output": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {
                    "type": "object",
                    "required": ["role", "content"],
                    "properties": {"role": {"const": "assistant"}, "content": {"type": "array", "items": {"type": "object"}}},
                }
            },
        },
        "stopReason": {"type": "string"},
        "usage": CONVERSE_USAGE,
        "gateway": {"$ref": "#/components/schemas/GatewayBlock"},
    },
}
CHAT_COMPLETION = {
    "type": "object",
    "description": "OpenAI's chat.completion",
    "required": ["id", "object", "created", "model", "choices", "usage"],
    "properties": {
        "id": {"type": "string", "pattern": "^chatcmpl-"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["index", "message", "finish_reason"],
                "properties": {
                    "index": _INT,
                    "message": {
                        "type": "object",
                        "required": ["role", "content"],
                        "properties": {
                            "role": {"const": "assistant"},
                            "content": {"type": ["string", "null"]},
                            "refusal": {"type": ["string", "null"]},
                            "tool_calls": {"type": "array", "items": {"type": "object", "required": ["id", "type", "function"]}},
                        },
                    },
                    "finish_reason": {"enum": ["stop", "length", "tool_calls", "content_filter", "function_call"]},
                    "logprobs": {"type": "null"},
                },
            },
        },
        "usage": {
            "type": "object",
            "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
            "properties": {"prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT},
        },
        "system_fingerprint": {"type": ["string", "null"]},
    },
}
EMBEDDINGS_LIST = {
    "type": "object",
    "description": "OpenAI's embeddings list (encoding_format base64: each embedding a base64 string of float32)",
    "required": ["object", "data", "model", "usage"],
    "properties": {
        "object": {"const": "list"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["object", "index", "embedding"],
                "properties": {
                    "object": {"const": "embedding"},
                    "index": _INT,
                    "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]},
                },
            },
        },
        "model": {"type": "string"},
        "usage": {
            "type": "object",
            "required": ["prompt_tokens", "total_tokens"],
            "properties": {"prompt_tokens": _INT, "total_tokens": _INT},
        },
    },
}
JOB_STATUS = {"enum": ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]}
JOB_ACCEPTED = {
    "type": "object",
    "required": ["jobId", "status", "statusUrl"],
    "properties": {"jobId": {"type": "string"}, "status": JOB_STATUS, "statusUrl": {"type": "string"}},
}
JOB = {
    "type": "object",
    "description": "a job: result inline when small, else resultUrl (a presigned S3 URL)",
    "required": ["jobId", "status", "createdAt", "updatedAt", "attempts", "metadata", "error"],
    "properties": {
        "jobId": {"type": "string"},
        "status": JOB_STATUS,
        "createdAt": {"type": "string"},
        "updatedAt": {"type": "string"},
        "attempts": _INT,
        "metadata": {"type": ["object", "null"]},
        "error": {"type": ["object", "string", "null"]},
        "result": {"$ref": "#/components/schemas/ChatResponse"},
        "resultUrl": {"type": "string"},
    },
}
MODEL_LIST = {
    "type": "object",
    "description": "OpenAI's models list, each entry with the catalog's fields (lifecycle, tiers, breaker, health ...)",
    "required": ["object", "data"],
    "properties": {
        "object": {"const": "list"},
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "object", "created", "owned_by"],
                "properties": {
                    "id": {"type": "string"},
                    "object": {"const": "model"},
                    "created": {"type": "integer"},
                    "owned_by": {"type": "string"},
                    "lifecycle": {"type": "string"},
                    "tiers": {"type": "array", "items": {"type": "string"}},
                    "breaker": {"type": "string"},
                },
            },
        },
    },
}
HEALTH = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
OPENAPI_DOCUMENT = {"type": "object", "required": ["openapi", "paths"], "properties": {"openapi": {"type": "string"}}}

RESPONSES = {
    "GatewayBlock": GATEWAY_BLOCK,
    "ChatResponse": CHAT_RESPONSE,
    "ChatCompletion": CHAT_COMPLETION,
    "EmbeddingsList": EMBEDDINGS_LIST,
    "JobAccepted": JOB_ACCEPTED,
    "Job": JOB,
    "ModelList": MODEL_LIST,
    "Health": HEALTH,
}
# (method, path) -> the 200 (or 202) answer's component; the task routes and /v1/chat/orchestrated answer as /v1/chat
ANSWERS = {
    ("GET", "/v1/health"): "Health",
    ("GET", "/v1/models"): "ModelList",
    ("POST", "/v1/chat"): "ChatResponse",
    ("POST", "/v1/chat/orchestrated"): "ChatResponse",
    ("POST", "/v1/chat/completions"): "ChatCompletion",
    ("POST", "/v1/embeddings"): "EmbeddingsList",
    ("POST", "/v1/jobs"): "JobAccepted",
    ("GET", "/v1/jobs/{id}"): "Job",
    ("DELETE", "/v1/jobs/{id}"): "Job",
}
