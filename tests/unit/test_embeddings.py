"""Embeddings on the candidate loop: batches split to the model's limit and reassembled in order, fallback only within
one embedding space, the OpenAI fields honoured or refused by name, and the configuration's space rule."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.gateway import Gateway
from fmgateway.embeddings import invocation as embeddings
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.values.errors import ConfigError, InvalidRequest, InvocationError, Unavailable
from fmgateway.values.exchange import ChatRequest
from tests.fakes import StaticSource

TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"


class EmbeddingInvoker:
    """InvokeModel for embedding bodies: a vector per text whose first value is the text's number, so order shows."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.metadata: list[dict | None] = []  # each call's requestMetadata (issue 21: every call findable)
        self.down: set[str] = set()

    def configure(self, settings: dict) -> None:
        pass

    def invoke_model(
        self, invoke_id: str, body: dict, deadline: float | None = None, metadata: dict | None = None
    ) -> tuple[bytes, dict]:
        self.calls.append((invoke_id, body))
        self.metadata.append(metadata)
        if invoke_id in self.down:
            raise InvocationError("unavailable", "ServiceUnavailableException", "down")
        if "texts" in body:
            vectors = [[float(text.split()[-1]), 0.0] for text in body["texts"]]
            return json.dumps({"embeddings": vectors, "texts": body["texts"]}).encode(), {
                "x-amzn-bedrock-input-token-count": str(len(body["texts"]))
            }
        size = body.get("dimensions", 1024)
        vector = [float(body["inputText"].split()[-1])] + [0.0] * (size - 1)
        return json.dumps({"embedding": vector, "inputTextTokenCount": 2}).encode(), {}


@pytest.fixture
def parts(config_doc):
    section = config_doc["embeddings"]
    # a second way to reach Titan v2 (same space), and a route that stays in Cohere's space
    section["models"]["titan-embed-text-v2-us"] = {**section["models"]["titan-embed-text-v2"], "profileScope": "us"}
    section["routes"]["titan"] = ["titan-embed-text-v2", "titan-embed-text-v2-us"]
    invoker = EmbeddingInvoker()
    gateway = Gateway(StaticSource(parse_config(config_doc)), invoker, CircuitBreaker(MemoryBreakerStore()))
    return gateway, invoker


def _embed(gateway, name: str, texts: list[str], **fields):
    request = embeddings.EmbeddingRequest(texts, **fields)
    return embeddings.run(gateway, embeddings.prepare(gateway, name, request), request)


def test_batches_are_consecutive_slices_in_order():
    assert embeddings.batches(list("abcdefg"), 3) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert embeddings.batches(["a"], 96) == [["a"]]


def test_a_cohere_batch_is_split_at_96_texts_and_reassembled_in_order(parts):
    gateway, invoker = parts
    texts = [f"text {i}" for i in range(200)]
    answer, result = _embed(gateway, "english", texts)
    assert [len(body["texts"]) for _, body in invoker.calls] == [96, 96, 8]
    assert [vector[0] for vector in answer.vectors] == list(range(200))
    assert result.usage["inputTokens"] == 200 and result.model.alias == "cohere-embed-english-v3"
    assert result.cost_usd == pytest.approx(200 / 1000 * 0.0001)


def test_titan_takes_one_text_per_call_at_the_requested_dimension(parts):
    gateway, invoker = parts
    answer, _ = _embed(gateway, "titan-embed-text-v2", ["a 1", "b 2", "c 3"], dimensions=256)
    assert [body for _, body in invoker.calls] == [
        {"inputText": text, "dimensions": 256, "normalize": True} for text in ("a 1", "b 2", "c 3")
    ]
    assert [vector[0] for vector in answer.vectors] == [1, 2, 3] and all(len(v) == 256 for v in answer.vectors)


def test_fallback_stays_in_the_embedding_space(parts):
    gateway, invoker = parts
    invoker.down.add(TITAN)
    _, result = _embed(gateway, "titan", ["x 1"])
    assert result.model.alias == "titan-embed-text-v2-us"
    assert [a.outcome for a in result.attempts] == ["unavailable", "ok"]
    invoker.down.add("us." + TITAN)
    with pytest.raises(Unavailable):  # never to Cohere, another space
        _embed(gateway, "titan-embed-text-v2", ["x 1"])
    assert not any(call[0].startswith("cohere") for call in invoker.calls)


def test_a_route_that_mixes_spaces_is_a_config_error(config_doc):
    config_doc["embeddings"]["routes"]["mixed"] = ["titan-embed-text-v2", "cohere-embed-english-v3"]
    with pytest.raises(ConfigError, match="mixes embedding spaces"):
        parse_config(config_doc)


def test_unknown_models_and_unsupported_dimensions_are_refused_by_name(parts):
    gateway, _ = parts
    with pytest.raises(InvalidRequest, match="body.model: unknown embedding model .*titan-embed-text-v2"):
        embeddings.prepare(gateway, "text-embedding-3-small", embeddings.EmbeddingRequest(["x"]))
    with pytest.raises(InvalidRequest, match="dimensions: 300"):
        embeddings.prepare(gateway, "titan-embed-text-v2", embeddings.EmbeddingRequest(["x"], dimensions=300))
    with pytest.raises(InvalidRequest, match=r"input\[1\]"):
        embeddings.prepare(gateway, "english", embeddings.EmbeddingRequest(["x", "y" * 3000]))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "m", "input": "x", "foo": 1}, "body.foo"),
        ({"model": "m", "input": [1, 2]}, "body.input[0]"),
        ({"model": "m", "input": []}, "body.input"),
        ({"model": "m", "input": ["ok", " "]}, "body.input[1]"),
        ({"model": "m", "input": "x", "encoding_format": "int8"}, "body.encoding_format"),
        ({"model": "m", "input": "x", "dimensions": 0}, "body.dimensions"),
        ({"input": "x"}, "body.model"),
    ],
)
def test_openai_fields_are_honoured_or_refused_by_name(body, field):
    with pytest.raises(InvalidRequest) as caught:
        embeddings.from_openai(body)
    assert caught.value.message.startswith(field)


def test_base64_encoding_is_little_endian_float32(parts):
    gateway, _ = parts
    answer, result = _embed(gateway, "titan-embed-text-v2", ["a 1.5"], dimensions=256)
    encoded = embeddings.openai_response(answer, result, "base64")["data"][0]["embedding"]
    decoded = struct.unpack("<256f", base64.b64decode(encoded))
    assert decoded[0] == 1.5 and len(decoded) == 256
    plain = embeddings.openai_response(answer, result, "float")
    assert plain["usage"] == {"prompt_tokens": 2, "total_tokens": 2} and plain["data"][0]["index"] == 0


def test_native_cohere_bodies_keep_their_options_and_come_back_merged(parts):
    gateway, invoker = parts
    body = {"texts": [f"t {i}" for i in range(100)], "input_type": "search_query", "truncate": "END"}
    request = embeddings.from_native("cohere-embed", body)
    answer, _ = embeddings.run(gateway, embeddings.prepare(gateway, COHERE, request), request)
    assert all(sent["input_type"] == "search_query" and sent["truncate"] == "END" for _, sent in invoker.calls)
    assert [v[0] for v in answer.native["embeddings"]] == list(range(100)) and len(answer.native["texts"]) == 100


def test_every_call_of_a_split_batch_carries_the_callers_identity_as_request_metadata(parts):
    from fmgateway.converse import request_metadata

    gateway, invoker = parts
    request = embeddings.from_openai({"model": "english", "input": [f"text {i}" for i in range(100)]})[1]
    identity = request_metadata.identified(ChatRequest(messages=[], metadata={"team": "search"}), "key-1", "req-1")
    prepared = embeddings.prepare(gateway, "english", request, identity=identity)
    embeddings.run(gateway, prepared, request)
    assert len(invoker.metadata) == 2
    for sent in invoker.metadata:
        assert sent["team"] == "search" and sent["fmgw-tenant"] == "key-1" and sent["fmgw-request-id"] == "req-1"
        assert sent["fmgw-model"] == "cohere-embed-english-v3" and sent["fmgw-route"].startswith("embeddings:")
