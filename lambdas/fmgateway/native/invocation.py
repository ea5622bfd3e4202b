"""The Bedrock Runtime paths (``/model/{modelId}/converse|converse-stream|invoke|invoke-with-response-stream``) on the
one candidate loop: what ``modelId`` means, the invocation step for native bodies, and the event-stream answers.

- ``modelId`` is a catalog alias, a tier, ``auto``, or a Bedrock model / inference profile id the catalog knows
  (chat or embedding); anything else is a 404 naming the configured aliases.
- Converse bodies take the ``/v1/chat`` path: the same validation and ``ChatRequest.from_body``.
- InvokeModel bodies are read in their family's shape (the model's family, or the body's own for a tier or ``auto``),
  translated to Converse, and planned as usual; candidates whose family cannot express the request are dropped (a 400
  when it is the model asked for). The step sends the caller's body unchanged to a model of its own family, and a
  translation to any other; the answer comes back in the caller's shape either way.
- Streams run ConverseStream through ``fmgateway.core.streaming`` (fallback until the first token) and are framed as AWS
  event streams: Converse events as they are, InvokeModel chunks rendered in the caller's family.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import unquote

from fmgateway.config.embedding_catalog import EmbeddingModel
from fmgateway.config.gateway_config import TIERS, GatewayConfig
from fmgateway.converse import validation
from fmgateway.core.gateway import Gateway
from fmgateway.core.prepared import Prepared
from fmgateway.core.streaming import ChatStream
from fmgateway.native import bodies, eventstream, families
from fmgateway.native.bodies import Untranslatable
from fmgateway.values.backends import SAGEMAKER
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import GatewayError, InvalidRequest, InvocationError, NotFound, UpstreamTimeout
from fmgateway.values.exchange import ChatRequest, ChatResult


class Target(NamedTuple):
    """What a path's ``modelId`` selects."""

    model_id: str  # as the caller wrote it, decoded
    selector: dict[str, str]  # the ``/v1/chat`` body fields that select the route: {"model": ...} or {"tier": ...}
    family: str | None = None  # the native family of an explicit chat model
    embedding: EmbeddingModel | None = None


def resolve(config: GatewayConfig, raw: str) -> Target:
    model_id = unquote(raw or "")  # botocore percent-encodes ':' (and '/' of an ARN); API Gateway may pass it on encoded
    if model_id in TIERS:
        return Target(model_id, {"tier": model_id})
    if model_id == "auto":
        return Target(model_id, {"model": "auto"})
    model = config.catalog.find(model_id)
    if model is not None:
        # the body is in the shape of the model named, even when a retired one is answered by its successor
        return Target(model_id, {"model": model_id}, families.family_of_model(model))
    embedding = config.embeddings.find(model_id)
    if embedding is not None:
        return Target(model_id, {}, embedding.family, embedding)
    aliases = ", ".join([*config.catalog.models, *config.embeddings.models])
    raise NotFound(
        f"modelId: unknown model '{model_id}'; use an alias ({aliases}), a tier ({', '.join(TIERS)}), auto, or the Bedrock "
        "model or inference profile id of one of them (GET /v1/models lists them)"
    )


def chat_target(target: Target) -> Target:
    if target.embedding is not None:
        raise InvalidRequest(
            f"modelId: {target.embedding.alias} is an embedding model; it takes InvokeModel embedding bodies only"
        )
    return target


# ---- Converse ------------------------------------------------------------------------------------------------------


def converse_request(config: GatewayConfig, target: Target, body: dict[str, Any]) -> ChatRequest:
    """A Converse body, read exactly as ``/v1/chat`` reads its own (one validation, one construction)."""
    chat_target(target)
    for field in ("model", "tier"):
        if field in body:
            raise InvalidRequest(f"body.{field}: the model comes from the path (/model/{{modelId}}/...)")
    validation.chat_body(body, config.s3_input_buckets)
    return ChatRequest.from_body({**body, **target.selector})


def converse_body(result: ChatResult) -> dict[str, Any]:
    """Converse's response shape (the gateway's own block travels in headers: boto3 reads only the modelled fields)."""
    return {
        "output": {"message": result.message},
        "stopReason": result.stop_reason,
        "usage": result.usage,
        "metrics": {"latencyMs": int(round(result_latency_ms(result)))},
        **(result.response_fields or {}),  # trace, additionalModelResponseFields...: Converse's own members
    }


def result_latency_ms(result: ChatResult) -> float:
    return sum(attempt.ms for attempt in result.attempts if attempt.outcome == "ok")


def converse_frames(stream: ChatStream) -> Iterator[bytes]:
    for name, data in stream.events():
        if name == "error":
            yield stream_error(stream.error, converse=True)
            return
        yield eventstream.event(name, data)


# ---- InvokeModel ---------------------------------------------------------------------------------------------------


def invoke_request(
    config: GatewayConfig, target: Target, body: dict[str, Any], metadata: dict[str, str] | None = None
) -> tuple[str, ChatRequest]:
    """The caller's family and the Converse request of a native chat body (``metadata``: the caller's requestMetadata,
    from InvokeModel's ``X-Amzn-Bedrock-Request-Metadata`` header)."""
    chat_target(target)
    family = target.family or families.family_of_body(body)
    if target.family is None and family is None:
        named = (
            f"modelId '{target.model_id}' is a model whose InvokeModel body the gateway does not translate (POST "
            f"/model/{target.model_id}/converse takes it in Converse shape)"
            if "model" in target.selector and target.selector["model"] != "auto"
            else f"modelId '{target.model_id}' names no model"
        )
        raise InvalidRequest(
            f"body: cannot tell which model family this body is for ({named}); send a "
            "body of one of: Anthropic Messages (anthropic_version), Amazon Nova (schemaVersion messages-v1), Titan Text "
            "(inputText + textGenerationConfig), Meta Llama (prompt + max_gen_len), Mistral (prompt + max_tokens)"
        )
    if family not in families.CHAT_FAMILIES:
        raise InvalidRequest(f"body: the gateway has no translation of {family or 'this model'}'s InvokeModel body; use Converse")
    converse = families.module(family).request_to_converse(body)
    validation.conversation(converse["messages"], converse.get("system"), s3_buckets=config.s3_input_buckets)
    request = ChatRequest.from_body({**converse, **target.selector})
    return family, request._replace(metadata=metadata) if metadata else request


def fit(gateway: Gateway, prepared: Prepared, family: str) -> Prepared:
    """Keep the candidates that can answer a ``family`` body: their own family, or one it translates to."""
    plan = prepared.plan
    kept: list[Candidate] = []
    notes = list(plan.notes)
    first_reason = None
    for index, candidate in enumerate(plan.candidates):
        reason = untranslatable(gateway, prepared, candidate, family)
        if reason is None:
            kept.append(candidate)
            continue
        notes.append(f"{candidate.alias} skipped: {reason}")
        if index == 0:
            first_reason = reason
    if first_reason is not None and plan.kind in ("model", "alias"):
        raise InvalidRequest(f"body: cannot be sent to {plan.candidates[0].alias}: {first_reason}")
    if not kept:
        raise InvalidRequest(f"body: no candidate model can take this {family} body ({'; '.join(notes)})")
    return prepared._replace(plan=plan._replace(candidates=kept, notes=notes))


def untranslatable(gateway: Gateway, prepared: Prepared, candidate: Candidate, family: str) -> str | None:
    if candidate.backend == SAGEMAKER:  # an endpoint takes its container's chat format, never a Bedrock body
        return "a SageMaker endpoint takes Converse-shaped requests, not InvokeModel bodies"
    target = families.family_of_model(candidate.model)
    if target == family:
        return None
    if target not in families.CHAT_FAMILIES:
        return f"no InvokeModel body translation for {candidate.model.model_id}"
    try:
        families.module(target).converse_to_request(gateway.body_for(prepared, candidate))
    except Untranslatable as err:
        return str(err)
    return None


class Answer(NamedTuple):
    """What the invoke step returns: the Converse view (for the loop) and the model's own bytes when it is the caller's
    family (sent back unchanged)."""

    converse: dict[str, Any]
    raw: bytes | None


def invoke_step(gateway: Gateway, family: str, original: dict[str, Any]):
    def step(candidate: Candidate, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        target = families.family_of_model(candidate.model) or family
        translation = families.module(target)
        if target == family:  # the caller's own body, its answer length within this model's limit
            payload = original
            for path in getattr(translation, "MAX_TOKENS_PATHS", (translation.MAX_TOKENS,)):
                payload = bodies.capped(payload, path, candidate.model.max_output_tokens)
        else:
            payload = translation.converse_to_request(body)
        metadata = body.get("requestMetadata")  # the caller's tags and the gateway's fmgw-* keys, as on Converse
        invoker = gateway.invokers.for_candidate(candidate)
        raw, headers = invoker.invoke_model(candidate.invoke_id, payload, deadline=deadline, metadata=metadata)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise InvocationError("model_error", "InvalidResponse", f"{candidate.alias} answered with no JSON body") from None
        converse = translation.response_to_converse(answer, headers)
        return {**converse, "native": Answer(converse, raw if target == family else None)}

    return step


def invoke(gateway: Gateway, family: str, original: dict[str, Any], prepared: Prepared) -> tuple[bytes, ChatResult]:
    """Run the loop with the native step; the answer's bytes in the caller's family, and the result for accounting."""
    outcome = gateway.choose(prepared, invoke_step(gateway, family, original))
    if isinstance(outcome, ChatResult):  # degraded: the cached answer, in the caller's shape
        return _render(family, outcome, outcome.model.invoke_id), outcome
    result = gateway.answer(prepared, outcome.candidate, outcome.response, outcome.attempts, outcome.model_seconds)
    answer: Answer = outcome.response["native"]
    if answer.raw is not None:
        return answer.raw, result
    return _render(family, result, outcome.candidate.invoke_id), result


def _render(family: str, result: ChatResult, model_id: str) -> bytes:
    converse = {"output": {"message": result.message}, "stopReason": result.stop_reason, "usage": result.usage}
    body = families.module(family).converse_to_response(converse, model_id)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def invoke_frames(stream: ChatStream, family: str) -> Iterator[bytes]:
    """ConverseStream events as InvokeModelWithResponseStream ``chunk`` events in the caller's family."""
    model_id = stream.model.invoke_id if stream.model else ""
    renderer = families.module(family).StreamRenderer(model_id)
    for name, data in stream.events():
        if name == "error":
            yield stream_error(stream.error, converse=False)
            return
        for chunk in renderer.feed(name, data):
            payload = base64.b64encode(json.dumps(chunk, ensure_ascii=False).encode("utf-8")).decode("ascii")
            yield eventstream.event("chunk", {"bytes": payload})


# ---- headers and errors --------------------------------------------------------------------------------------------


def bedrock_headers(result: ChatResult) -> dict[str, str]:
    """Bedrock's own response headers, from the answering call."""
    return {
        "x-amzn-bedrock-input-token-count": str(result.usage["inputTokens"]),
        "x-amzn-bedrock-output-token-count": str(result.usage["outputTokens"]),
        "x-amzn-bedrock-invocation-latency": str(int(round(result_latency_ms(result)))),
    }


# Bedrock's exception names, so that botocore raises the ClientError code AWS code expects.
ERROR_CODES = {
    400: "ValidationException",
    401: "AccessDeniedException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "ValidationException",
    409: "ConflictException",
    413: "ValidationException",
    415: "ValidationException",
    429: "ThrottlingException",
    502: "ModelErrorException",
    503: "ServiceUnavailableException",
    504: "ModelTimeoutException",
}


def error_code(err: GatewayError) -> str:
    return ERROR_CODES.get(err.status, "InternalServerException")


def stream_error(err: GatewayError | None, converse: bool) -> bytes:
    """An exception event in Bedrock's shape, which botocore raises as ``EventStreamError`` while iterating."""
    message = err.message if err else "the stream failed"
    if isinstance(err, UpstreamTimeout) and not converse:
        return eventstream.exception("modelTimeoutException", {"message": message})
    return eventstream.exception(
        "modelStreamErrorException",
        {"message": message, "originalStatusCode": err.status if err else 500, "originalMessage": message},
    )
