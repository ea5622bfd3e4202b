"""Embeddings through the one candidate loop: ``POST /v1/embeddings`` (OpenAI shape) and InvokeModel with a Titan Text
Embeddings or Cohere Embed body on the Bedrock-native path.

The plan is the catalog's embedding chain (``fmgateway.config.embedding_catalog``): a route, or a model followed by the other
models of its embedding space, never another space. ``Gateway.choose`` tries them with an embedding invocation step,
so the breakers, retries, budget and failure isolation are those of every other call. A batch is split to the model's
``maxBatch`` texts per call and reassembled in input order; one model answers the whole request, so every vector of an
answer is from the same model.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any, NamedTuple

from fmgateway.config.embedding_catalog import EmbeddingModel
from fmgateway.core.gateway import Gateway
from fmgateway.core.prepared import Prepared
from fmgateway.native.bodies import check_fields, header_tokens, require
from fmgateway.routing.planner import Plan
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvalidRequest, InvocationError
from fmgateway.values.exchange import ChatRequest, ChatResult

OPENAI_FIELDS = frozenset({"input", "model", "dimensions", "encoding_format", "user"})
MAX_INPUTS = 2048  # OpenAI's limit on one request's inputs
TITAN_FIELDS = frozenset({"inputText", "dimensions", "normalize", "embeddingTypes"})
COHERE_FIELDS = frozenset({"texts", "input_type", "truncate", "embedding_types"})
COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


class Embeddings(NamedTuple):
    vectors: list[list[float]]
    input_tokens: int
    native: dict[str, Any] | None  # the model's own answer, for the Bedrock-native path


class EmbeddingRequest(NamedTuple):
    """What to embed and how: the texts, the vector size, and the native body when the caller sent one."""

    texts: list[str]
    dimensions: int | None = None
    native_family: str | None = None
    native_body: dict[str, Any] | None = None


# ---- requests -----------------------------------------------------------------------------------------------------


def from_openai(body: dict[str, Any]) -> tuple[str, EmbeddingRequest, str]:
    """(model or route name, request, encoding format) of an OpenAI embeddings body; a 400 names any bad field."""
    check_fields(body, OPENAI_FIELDS, "OpenAI embeddings")
    model = body.get("model")
    require(isinstance(model, str) and model != "", "body.model", "required: an embedding model alias, Bedrock id or route")
    raw = body.get("input")
    texts: list[Any] = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    require(0 < len(texts) <= MAX_INPUTS, "body.input", f"a string or a list of 1-{MAX_INPUTS} strings")
    for index, text in enumerate(texts):
        require(isinstance(text, str), f"body.input[{index}]", "must be a string (token arrays are not supported)")
        require(text.strip() != "", f"body.input[{index}]", "must not be blank")
    dimensions = body.get("dimensions")
    if dimensions is not None:
        require(
            isinstance(dimensions, int) and not isinstance(dimensions, bool) and dimensions > 0,
            "body.dimensions",
            "a positive integer",
        )
    encoding = str(body.get("encoding_format") or "float")
    require(encoding in ("float", "base64"), "body.encoding_format", "'float' or 'base64'")
    user = body.get("user")
    require(user is None or isinstance(user, str), "body.user", "a string")
    return str(model), EmbeddingRequest(texts, dimensions), encoding


def from_native(family: str, body: dict[str, Any]) -> EmbeddingRequest:
    """A Titan Text Embeddings or Cohere Embed InvokeModel body."""
    if family == "titan-embed":
        check_fields(body, TITAN_FIELDS, "Amazon Titan Text Embeddings")
        require(
            isinstance(body.get("inputText"), str) and body["inputText"].strip() != "", "body.inputText", "a non-blank string"
        )
        dimensions = body.get("dimensions")
        require(dimensions is None or isinstance(dimensions, int), "body.dimensions", "an integer")
        return EmbeddingRequest([body["inputText"]], dimensions, family, body)
    check_fields(body, COHERE_FIELDS, "Cohere Embed")
    texts = body.get("texts")
    require(
        isinstance(texts, list) and texts and all(isinstance(t, str) and t.strip() for t in texts),
        "body.texts",
        "a non-empty list of non-blank strings",
    )
    require(body.get("input_type") in COHERE_INPUT_TYPES, "body.input_type", f"one of {', '.join(COHERE_INPUT_TYPES)}")
    return EmbeddingRequest(list(texts or ()), None, family, body)


# ---- the plan -----------------------------------------------------------------------------------------------------


def prepare(
    gateway: Gateway,
    name: str,
    request: EmbeddingRequest,
    where: str = "body.model",
    identity: ChatRequest | None = None,
) -> Prepared:
    """The candidates for ``name`` (a route, a model) that can take ``request``; 400 for an unknown name (as
    ``body.model`` on the chat routes; the native paths answer 404 before this), and when the model asked for (or every
    candidate) cannot take it. ``identity``: a request whose metadata and caller (the caller's tags, the tenant and
    request id) every call carries as requestMetadata, as chat calls do."""
    started = time.perf_counter()
    config = gateway.config.get()
    catalog = config.embeddings
    found = catalog.chain(catalog.default_route if name == "auto" and catalog.default_route else name)
    if found is None:
        configured = ", ".join([*catalog.routes, *catalog.models]) or "none"
        raise InvalidRequest(f"{where}: unknown embedding model or route '{name}'; configured: {configured}")
    route, chain = found
    kept, rejected = [], {}
    for entry in chain:
        reason = unfit_reason(entry, request)
        if reason:
            rejected[entry.alias] = reason
        else:
            kept.append(entry)
    if not kept or (name not in catalog.routes and chain[0].alias in rejected):
        detail = "; ".join(f"{alias}: {reason}" for alias, reason in rejected.items())
        raise InvalidRequest(f"no embedding model of '{route}' can take this request ({detail})")
    notes = [f"{alias} skipped: {reason}" for alias, reason in rejected.items()]
    plan = Plan("embeddings", route, [Candidate(entry.model) for entry in kept], notes)
    timeouts = gateway.configure(config)
    marker = ChatRequest(messages=[{"role": "user", "content": [{"text": f"embeddings {route}"}]}])
    if identity is not None:
        marker = marker._replace(metadata=identity.metadata, caller=identity.caller)
    return Prepared(marker, config, plan, {"maxTokens": 1}, started, started + timeouts.get("requestBudgetSeconds", 26))


def unfit_reason(entry: EmbeddingModel, request: EmbeddingRequest) -> str | None:
    if request.native_family is not None and request.native_family != entry.family:
        return f"takes {entry.family} bodies, not {request.native_family}"
    dimensions = request.dimensions
    if dimensions is not None and dimensions not in entry.dimensions:
        return f"body.dimensions: {dimensions} is not one of {list(entry.dimensions)}"
    for index, text in enumerate(request.texts):
        if len(text) > entry.max_input_chars:
            return f"body.input[{index}]: {len(text)} characters, more than the model's {entry.max_input_chars}"
    return None


def batches(texts: list[str], size: int) -> list[list[str]]:
    """Consecutive slices of at most ``size`` texts, in order."""
    return [texts[start : start + size] for start in range(0, len(texts), size)]


# ---- the invocation step ------------------------------------------------------------------------------------------


def embedding_step(gateway: Gateway, request: EmbeddingRequest):
    models = gateway.config.get().embeddings.models

    def step(candidate: Candidate, converse: dict[str, Any], deadline: float) -> Embeddings:
        entry = models[candidate.alias]
        metadata = converse.get("requestMetadata")  # the caller's tags and the gateway's fmgw-* keys, as on Converse
        vectors: list[list[float]] = []
        tokens = 0
        natives: list[dict[str, Any]] = []
        for part in batches(request.texts, entry.max_batch):
            body = _body(entry, request, part)
            invoker = gateway.invokers.for_candidate(candidate)
            raw, headers = invoker.invoke_model(candidate.invoke_id, body, deadline=deadline, metadata=metadata)
            try:
                answer = json.loads(raw)
            except ValueError:
                raise InvocationError("model_error", "InvalidResponse", f"{candidate.alias} answered with no JSON") from None
            part_vectors, part_tokens = _read(entry, answer, headers)
            if len(part_vectors) != len(part):
                raise InvocationError("model_error", "InvalidResponse", f"{len(part)} texts, {len(part_vectors)} vectors")
            vectors += part_vectors
            tokens += part_tokens
            natives.append(answer)
        native = _merged(entry, natives) if request.native_body is not None else None
        return Embeddings(vectors, tokens, native)

    return step


def _body(entry: EmbeddingModel, request: EmbeddingRequest, texts: list[str]) -> dict[str, Any]:
    if request.native_body is not None:  # the caller's own body, to a model of its family: sent as it is, batch aside
        return {**request.native_body, "texts": texts} if entry.family == "cohere-embed" else request.native_body
    if entry.family == "titan-embed":
        return {"inputText": texts[0], "dimensions": request.dimensions or entry.default_dimensions, "normalize": True}
    return {"texts": texts, "input_type": "search_document", "truncate": "NONE"}


def _read(entry: EmbeddingModel, answer: dict[str, Any], headers: dict[str, str]) -> tuple[list[list[float]], int]:
    if entry.family == "titan-embed":
        vector = answer.get("embedding") or (answer.get("embeddingsByType") or {}).get("float") or []
        return [vector], int(answer.get("inputTextTokenCount") or header_tokens(headers, "input"))
    vectors = answer.get("embeddings")
    if isinstance(vectors, dict):  # embedding_types given: {"float": [...], "int8": [...]}
        vectors = vectors.get("float") or next(iter(vectors.values()), [])
    return list(vectors or []), header_tokens(headers, "input")


def _merged(entry: EmbeddingModel, natives: list[dict[str, Any]]) -> dict[str, Any]:
    """Cohere answers of a split batch as one answer, in order (Titan takes one text: one answer)."""
    if len(natives) == 1:
        return natives[0]
    merged = dict(natives[0])
    if isinstance(merged.get("embeddings"), dict):
        merged["embeddings"] = {kind: [v for n in natives for v in n["embeddings"][kind]] for kind in merged["embeddings"]}
    else:
        merged["embeddings"] = [vector for native in natives for vector in native.get("embeddings", [])]
    merged["texts"] = [text for native in natives for text in native.get("texts", [])]
    return merged


# ---- running it ---------------------------------------------------------------------------------------------------


def run(gateway: Gateway, prepared: Prepared, request: EmbeddingRequest) -> tuple[Embeddings, ChatResult]:
    """The embeddings and their accounting (a ``ChatResult`` with no message: model, attempts, usage, cost)."""
    outcome = gateway.choose(prepared, embedding_step(gateway, request))
    if isinstance(outcome, ChatResult):  # unreachable in practice: embeddings are never cached, so the last resort raises
        raise InvalidRequest("no embedding answer")
    answer: Embeddings = outcome.response
    model = outcome.candidate.model
    usage = {"inputTokens": answer.input_tokens, "outputTokens": 0, "totalTokens": answer.input_tokens}
    result = ChatResult(
        message={"role": "assistant", "content": []},
        stop_reason="end_turn",
        usage=usage,
        model=model,
        route=prepared.plan.route,
        attempts=outcome.attempts,
        degraded=False,
        cost_usd=model.cost_usd(answer.input_tokens, 0),
        overhead_ms=(time.perf_counter() - prepared.started - outcome.model_seconds) * 1000,
        notes=prepared.plan.notes,
    )
    return answer, result


def openai_response(answer: Embeddings, result: ChatResult, encoding: str) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": index, "embedding": _encode(vector) if encoding == "base64" else vector}
        for index, vector in enumerate(answer.vectors)
    ]
    tokens = result.usage["inputTokens"]
    return {
        "object": "list",
        "data": data,
        "model": result.model.alias,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encode(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the vector as little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
