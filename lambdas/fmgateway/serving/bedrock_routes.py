"""The Bedrock Runtime REST paths, so that an unmodified boto3 ``bedrock-runtime`` client with ``endpoint_url`` set to the
gateway works: ``POST /model/{modelId}/converse`` and ``/invoke`` on the API function, ``/converse-stream`` and
``/invoke-with-response-stream`` on the streaming function (AWS event-stream framing). Logic in
``fmgateway.native.invocation`` and ``fmgateway.embeddings.invocation``; these routes parse, call, and shape the response.

Errors keep the gateway's contract (``{"error": {...}}``) and add what botocore reads: the ``x-amzn-ErrorType``
header (Bedrock's exception name) and a top-level ``message``, so AWS code sees e.g. ``ValidationException``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fmgateway import runtime
from fmgateway.aws import http
from fmgateway.aws.telemetry import logger, metrics
from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.converse import request_metadata
from fmgateway.core import streaming
from fmgateway.core.streaming import ChatStream
from fmgateway.embeddings import invocation as embeddings
from fmgateway.native import eventstream, invocation
from fmgateway.openai_surface import request as openai_request
from fmgateway.openai_surface.answer import gateway_headers
from fmgateway.serving.answers import account, identified, run
from fmgateway.serving.streams import streamed
from fmgateway.values.errors import GatewayError, InvalidRequest
from fmgateway.values.exchange import ChatRequest, ChatResult

STREAM_PATH = re.compile(r"^/model/(.+)/(converse-stream|invoke-with-response-stream)$")
# InvokeModel options sent as headers: honoured at their defaults, otherwise refused by name (never silently dropped)
OPTION_HEADERS = {
    "x-amzn-bedrock-trace": "DISABLED",
    "x-amzn-bedrock-guardrailidentifier": None,
    "x-amzn-bedrock-guardrailversion": None,
    "x-amzn-bedrock-performanceconfig-latency": "standard",
    "x-amzn-bedrock-service-tier": None,
}
METADATA_HEADER = "X-Amzn-Bedrock-Request-Metadata"  # InvokeModel's requestMetadata: a JSON object, honoured


def bedrock_errors(route: http.Route) -> http.Route:
    """The route's errors as the gateway's error response plus what botocore reads (``x-amzn-ErrorType``, ``message``)."""

    def wrapped(event: dict) -> dict:
        try:
            return route(event)
        except GatewayError as err:
            if err.status >= 500:
                logger.warning("request failed", extra={"status": err.status, "error": err.message})
                metrics.add_metric(name=f"Errors{err.status}", unit="Count", value=1)
            body = {**err.body(http.request_id(event)), "message": err.message}
            return http.respond(err.status, body, {**err.headers(), "x-amzn-ErrorType": invocation.error_code(err)})

    return wrapped


def _model_id(event: dict) -> str:
    params = event.get("pathParameters") or {}
    if params.get("modelId"):
        return params["modelId"]
    match = STREAM_PATH.match(event.get("path") or "") or re.match(r"^/model/(.+)/(converse|invoke)$", event.get("path") or "")
    return match.group(1) if match else ""


def _body(event: dict) -> dict[str, Any]:
    return http.json_body(event, runtime.gateway().config.get().max_request_bytes)


def _check_options(event: dict) -> None:
    for name, value in (event.get("headers") or {}).items():
        lowered = name.lower()
        if lowered in OPTION_HEADERS and value != OPTION_HEADERS[lowered]:
            raise InvalidRequest(f"header {name}: not supported by the gateway's InvokeModel (send it without this option)")
    content_type = http.header(event, "content-type")
    if content_type and not content_type.lower().startswith("application/json"):
        raise InvalidRequest(f"header Content-Type: {content_type} is not supported; InvokeModel bodies are application/json")


def _caller_metadata(event: dict) -> dict[str, str] | None:
    """InvokeModel's requestMetadata header, checked by the rules of Converse's ``requestMetadata``."""
    raw = http.header(event, METADATA_HEADER)
    if raw is None:
        return None
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise InvalidRequest(f"header {METADATA_HEADER}: must be a JSON object of string keys and values") from None
    return request_metadata.check(metadata, root=f"header {METADATA_HEADER}")


def _headers(result: ChatResult) -> dict[str, str]:
    return {**invocation.bedrock_headers(result), **gateway_headers(result)}


# ---- API function: converse and invoke -----------------------------------------------------------------------------


def _converse_request(event: dict) -> ChatRequest:
    """The request of a Converse path: the model id resolved, the body checked as on /v1/chat."""
    config = runtime.gateway().config.get()
    return invocation.converse_request(config, invocation.resolve(config, _model_id(event)), _body(event))


def converse(event: dict) -> dict:
    result = run(_converse_request(event), event)
    return http.respond(200, invocation.converse_body(result), _headers(result))


def _invoke_input(event: dict) -> tuple[GatewayConfig, invocation.Target, dict[str, Any]]:
    """What an InvokeModel path reads: the configuration, the resolved model id, the native body (headers checked)."""
    config = runtime.gateway().config.get()
    target = invocation.resolve(config, _model_id(event))
    _check_options(event)
    return config, target, _body(event)


def invoke(event: dict) -> dict:
    gateway = runtime.gateway()
    config, target, body = _invoke_input(event)
    if target.embedding is not None:
        return _invoke_embedding(event, target, body)
    family, request = invocation.invoke_request(config, target, body, _caller_metadata(event))
    prepared = invocation.fit(gateway, gateway.prepare(identified(event, request)), family)
    raw, result = invocation.invoke(gateway, family, body, prepared)
    account(result)
    headers = {"Content-Type": "application/json", **_headers(result)}
    return {"statusCode": 200, "headers": headers, "body": raw.decode("utf-8")}


def _invoke_embedding(event: dict, target: invocation.Target, body: dict[str, Any]) -> dict:
    gateway = runtime.gateway()
    assert target.embedding is not None
    request = embeddings.from_native(target.embedding.family, body)
    identity = identified(event, ChatRequest(messages=[], metadata=_caller_metadata(event)))
    prepared = embeddings.prepare(gateway, target.embedding.alias, request, where="modelId", identity=identity)
    answer, result = embeddings.run(gateway, prepared, request)
    account(result)
    headers = {"Content-Type": "application/json", **_headers(result)}
    return {"statusCode": 200, "headers": headers, "body": json.dumps(answer.native, ensure_ascii=False)}


def openai_embeddings(event: dict) -> dict:
    """``POST /v1/embeddings``: the OpenAI request and response (errors in the gateway's usual shape)."""
    gateway = runtime.gateway()
    body = _body(event)
    name, request, encoding = embeddings.from_openai(body)
    identity = identified(event, ChatRequest(messages=[], metadata=openai_request.caller_metadata(body)))
    prepared = embeddings.prepare(gateway, name, request, identity=identity)
    answer, result = embeddings.run(gateway, prepared, request)
    account(result)
    if body.get("user"):  # OpenAI's end-user id: recorded in the log, beside the answer's line
        logger.info("embeddings", extra={"endUser": body["user"], "inputs": len(request.texts), "model": result.model.alias})
    return http.respond(200, embeddings.openai_response(answer, result, encoding), _headers(result))


ROUTES: dict[str, dict[str, http.Route]] = {
    "/model/{modelId}/converse": {"POST": bedrock_errors(converse)},
    "/model/{modelId}/invoke": {"POST": bedrock_errors(invoke)},
    "/v1/embeddings": {"POST": openai_embeddings},
}


# ---- streaming function: converse-stream and invoke-with-response-stream --------------------------------------------


def _streamed(stream: ChatStream, frames: Iterator[bytes], extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {
        "Content-Type": eventstream.CONTENT_TYPE,
        "x-gateway-model-id": stream.model.invoke_id if stream.model else "",
        **(extra or {}),
    }
    return streamed(stream, frames, headers)


def converse_stream(event: dict) -> dict:
    gateway = runtime.gateway()
    stream = streaming.open_stream(gateway, gateway.prepare(identified(event, _converse_request(event))))
    return _streamed(stream, invocation.converse_frames(stream))


def invoke_stream(event: dict) -> dict:
    gateway = runtime.gateway()
    config, target, body = _invoke_input(event)
    if target.embedding is not None:
        raise InvalidRequest(
            f"modelId: {target.embedding.alias} is an embedding model; embeddings are not streamed (use /invoke)"
        )
    family, request = invocation.invoke_request(config, target, body, _caller_metadata(event))
    stream = streaming.open_stream(gateway, invocation.fit(gateway, gateway.prepare(identified(event, request)), family))
    return _streamed(stream, invocation.invoke_frames(stream, family), {"X-Amzn-Bedrock-Content-Type": "application/json"})


def stream_routes(path: str) -> dict[str, http.Route] | None:
    """The streaming function sees the request path itself (the Web Adapter forwards it), so it matches the pattern."""
    match = STREAM_PATH.match(path)
    if match is None:
        return None
    route = converse_stream if match.group(2) == "converse-stream" else invoke_stream
    return {"POST": bedrock_errors(route)}
