"""The simulator's InvokeModel and InvokeModelWithResponseStream: each family's native body and answer, as Bedrock
takes and gives them, plus the embedding models (``local.simulator_http`` hands ``/invoke`` and
``/invoke-with-response-stream`` here).

Families follow the model id, as in Bedrock: ``anthropic.*`` (Messages, ``anthropic_version`` required), ``amazon.nova*``
(messages-v1), ``amazon.titan-text*`` (``inputText``), ``meta.*`` (``prompt`` + ``max_gen_len``), ``mistral.*``
(``prompt`` + ``max_tokens``), ``amazon.titan-embed-text*`` and ``cohere.embed*`` (embeddings). A field the family does
not have is a ValidationException, as Bedrock answers (``extraneous key [x] is not permitted``). Shapes are written
here from Bedrock's documentation, independently of the gateway's translations, so tests of one check the other.

Embeddings are deterministic: a vector of the requested dimension drawn from SHA-256 of the base model id (the
profile prefix dropped: one model, one space) and the text, normalized to length 1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
from typing import Any, NamedTuple

from local.simulator_errors import SimError
from local.simulator_eventstream import EventStream
from local.simulator_native_tools import anthropic_tool_use, tool_use_chunks, with_tool_use
from local.simulator_state import CallPlan, SimulatorState
from local.simulator_text import count_tokens, reply_text, texts_of, truncate_tokens, usage_of

CHAT_FIELDS = {
    "anthropic": {
        "anthropic_version",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "anthropic_beta",
        "thinking",
    },
    "nova": {"schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"},
    "titan": {"inputText", "textGenerationConfig"},
    "llama": {"prompt", "max_gen_len", "temperature", "top_p", "images"},
    "mistral": {"prompt", "max_tokens", "temperature", "top_p", "top_k", "stop"},
}
TITAN_EMBED_DIMENSIONS = (256, 512, 1024)
COHERE_DIMENSIONS = 1024
COHERE_MAX_TEXTS, COHERE_MAX_CHARS = 96, 2048


def invoke(
    state: SimulatorState,
    model_id: str,
    operation: str,
    body: dict,
    headers: Any,
    plan: CallPlan,
    started: float,
    answers_as: str | None = None,
) -> tuple[dict, dict[str, str]] | EventStream:
    """InvokeModel's answer and headers, or InvokeModelWithResponseStream's ``chunk`` events (``operation`` not
    ``invoke``); the body's family is that of ``answers_as`` (a capacity ARN's model), else of ``model_id``."""
    served = answers_as or model_id
    embedding = family(served) in ("titan-embed", "cohere-embed")
    try:
        state.features.record(model_id, operation, {"requestMetadata": header_metadata(headers)})
        if embedding and operation != "invoke":
            raise SimError("ValidationException", f"The model {model_id} does not support streaming (simulated).")
        answer, answer_headers = embed(served, body) if embedding else ({}, {})
        parsed = None if embedding else parse_chat(served, body)
        state.apply_faults(plan)
    except SimError as exc:
        state.record(model_id, error=exc.code)
        raise
    latency = plan.latency
    if parsed is not None:
        reply = state.reply_for(model_id, parsed.prompt) or reply_text(model_id, parsed.prompt)
        text, truncated = truncate_tokens(reply, parsed.max_tokens)
        usage = usage_of(parsed.texts, text)
        if operation != "invoke":
            chunks = stream_chunks(parsed, model_id, text, truncated, usage)
            if parsed.family == "anthropic" and (use := anthropic_tool_use(body)) is not None:
                chunks = tool_use_chunks(chunks, use)
            delays = [latency["fixedMs"], *(latency["perTokenMs"] * 3 for _ in chunks[1:])]
            events = [("chunk", chunk_payload(chunk), delay) for chunk, delay in zip(chunks, delays, strict=True)]
            return EventStream(events, usage, plan.faults, chunks)
        answer, answer_headers = chat_response(parsed, model_id, text, truncated, usage)
        if parsed.family == "anthropic" and (use := anthropic_tool_use(body)) is not None:
            answer = with_tool_use(answer, use)
        state.sleep_ms(latency["fixedMs"] + latency["perTokenMs"] * usage["outputTokens"])
    state.record(model_id, success=True)
    answer_headers["X-Amzn-Bedrock-Invocation-Latency"] = str(int((time.monotonic() - started) * 1000))
    return answer, answer_headers


def family(model_id: str) -> str | None:
    for prefix, name in (
        ("anthropic.", "anthropic"),
        ("amazon.nova", "nova"),
        ("amazon.titan-text", "titan"),
        ("amazon.titan-embed-text", "titan-embed"),
        ("cohere.embed", "cohere-embed"),
        ("meta.", "llama"),
        ("mistral.", "mistral"),
    ):
        if prefix in model_id:
            return name
    return None


class Parsed(NamedTuple):
    family: str
    texts: list[str]  # every input text (the input token count)
    prompt: str  # what the reply is derived from
    max_tokens: int


def parse_chat(model_id: str, body: dict) -> Parsed:
    name = family(model_id)
    if name not in CHAT_FIELDS:
        raise SimError("ValidationException", f"The model {model_id} does not support InvokeModel with this body (simulated).")
    extra = sorted(set(body) - CHAT_FIELDS[name])
    if extra:
        raise SimError("ValidationException", f"Malformed input request: extraneous key [{extra[0]}] is not permitted")
    if name in ("anthropic", "nova"):
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise SimError("ValidationException", "Malformed input request: messages must contain at least one message")
        if name == "anthropic" and "anthropic_version" not in body:
            raise SimError("ValidationException", "Malformed input request: required key [anthropic_version] not found")
        texts = texts_of(body.get("system"))
        last_user = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise SimError("ValidationException", f"messages.{index}.role must be 'user' or 'assistant'.")
            texts += texts_of(message.get("content"))
            if message["role"] == "user":
                last_user = "\n".join(texts_of(message.get("content")))
        if name == "anthropic":
            max_tokens = body.get("max_tokens")
            if max_tokens is None:
                raise SimError("ValidationException", "Malformed input request: required key [max_tokens] not found")
        else:
            config = body.get("inferenceConfig") or {}
            max_tokens = config.get("max_new_tokens", config.get("maxTokens", 1024))  # Nova takes both spellings
        return Parsed(name, texts, last_user, _positive(max_tokens))
    key = "inputText" if name == "titan" else "prompt"
    prompt = body.get(key)
    if not isinstance(prompt, str) or not prompt.strip():
        raise SimError("ValidationException", f"Malformed input request: required key [{key}] not found")
    if name == "titan":
        max_tokens = (body.get("textGenerationConfig") or {}).get("maxTokenCount", 512)
    else:
        max_tokens = body.get("max_gen_len" if name == "llama" else "max_tokens", 512)
    return Parsed(name, [prompt], prompt, _positive(max_tokens))


def _positive(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SimError("ValidationException", "Malformed input request: the maximum token count must be an integer >= 1")
    return value


def chat_response(parsed: Parsed, model_id: str, text: str, truncated: bool, usage: dict) -> tuple[dict, dict[str, str]]:
    """The family's InvokeModel answer and Bedrock's headers."""
    name, tokens_in, tokens_out = parsed.family, usage["inputTokens"], usage["outputTokens"]
    if name == "anthropic":
        digest = hashlib.sha256(f"{model_id}\n{text}".encode()).hexdigest()
        body: dict[str, Any] = {
            "id": f"msg_sim_{digest[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if truncated else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }
    elif name == "nova":
        body = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "max_tokens" if truncated else "end_turn",
            "usage": dict(usage),
        }
    elif name == "titan":
        body = {
            "inputTextTokenCount": tokens_in,
            "results": [{"tokenCount": tokens_out, "outputText": text, "completionReason": "LENGTH" if truncated else "FINISH"}],
        }
    elif name == "llama":
        body = {
            "generation": text,
            "prompt_token_count": tokens_in,
            "generation_token_count": tokens_out,
            "stop_reason": "length" if truncated else "stop",
        }
    else:
        body = {"outputs": [{"text": text, "stop_reason": "length" if truncated else "stop"}]}
    return body, token_headers(tokens_in, tokens_out)


def token_headers(tokens_in: int, tokens_out: int, latency_ms: int = 0) -> dict[str, str]:
    return {
        "X-Amzn-Bedrock-Input-Token-Count": str(tokens_in),
        "X-Amzn-Bedrock-Output-Token-Count": str(tokens_out),
        "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
    }


def stream_chunks(parsed: Parsed, model_id: str, text: str, truncated: bool, usage: dict) -> list[dict]:
    """The family's InvokeModelWithResponseStream chunks (each sent as a ``chunk`` event with base64 ``bytes``)."""
    words = text.split(" ")
    pieces = [(" " if i else "") + " ".join(words[i : i + 3]) for i in range(0, len(words), 3)]
    metrics = {
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": usage["inputTokens"],
            "outputTokenCount": usage["outputTokens"],
            "invocationLatency": 0,
            "firstByteLatency": 0,
        }
    }
    name = parsed.family
    if name == "anthropic":
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_sim_stream",
                "type": "message",
                "role": "assistant",
                "model": model_id,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": usage["inputTokens"], "output_tokens": 0},
            },
        }
        return [
            start,
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in pieces),
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens" if truncated else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["outputTokens"]},
            },
            {"type": "message_stop", **metrics},
        ]
    if name == "nova":
        return [
            {"messageStart": {"role": "assistant"}},
            *({"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}} for p in pieces),
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "max_tokens" if truncated else "end_turn"}},
            {"metadata": {"usage": usage}, **metrics},
        ]
    if name == "titan":
        last = {
            "outputText": "",
            "index": 0,
            "totalOutputTextTokenCount": usage["outputTokens"],
            "completionReason": "LENGTH" if truncated else "FINISH",
            "inputTextTokenCount": usage["inputTokens"],
            **metrics,
        }
        return [*({"outputText": p, "index": 0} for p in pieces), last]
    if name == "llama":
        last = {
            "generation": "",
            "prompt_token_count": usage["inputTokens"],
            "generation_token_count": usage["outputTokens"],
            "stop_reason": "length" if truncated else "stop",
            **metrics,
        }
        return [*({"generation": p, "stop_reason": None} for p in pieces), last]
    return [
        *({"outputs": [{"text": p, "stop_reason": None}]} for p in pieces),
        {"outputs": [{"text": "", "stop_reason": "length" if truncated else "stop"}], **metrics},
    ]


def header_metadata(headers: Any) -> dict | None:
    """InvokeModel's requestMetadata: a JSON object in the ``X-Amzn-Bedrock-Request-Metadata`` header."""
    raw = headers.get("X-Amzn-Bedrock-Request-Metadata")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise SimError("ValidationException", "X-Amzn-Bedrock-Request-Metadata must be a JSON object") from None
    if not isinstance(value, dict) or len(value) > 16:
        raise SimError("ValidationException", "X-Amzn-Bedrock-Request-Metadata: at most 16 string pairs")
    return value


def chunk_payload(chunk: dict) -> dict:
    return {"bytes": base64.b64encode(json.dumps(chunk).encode()).decode("ascii")}


# ---- embeddings ------------------------------------------------------------------------------------------------------


def vector(model_id: str, text: str, dimensions: int) -> list[float]:
    """Deterministic, normalized: the same base model and text always give the same vector."""
    base = model_id.split(".", 1)[1] if model_id.split(".", 1)[0] in ("us", "eu", "apac", "global") else model_id
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        block = hashlib.sha256(f"{base}\n{text}\n{counter}".encode()).digest()
        values += [(word / 0xFFFFFFFF) * 2 - 1 for word in struct.unpack(">8I", block)]
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 7) for v in values]


def embed(model_id: str, body: dict) -> tuple[dict, dict[str, str]]:
    name = family(model_id)
    if name == "titan-embed":
        extra = sorted(set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"})
        if extra:
            raise SimError("ValidationException", f"Malformed input request: extraneous key [{extra[0]}] is not permitted")
        text = body.get("inputText")
        if not isinstance(text, str) or not text:
            raise SimError("ValidationException", "Malformed input request: required key [inputText] not found")
        dimensions = body.get("dimensions", 1024)
        if dimensions not in TITAN_EMBED_DIMENSIONS:
            raise SimError(
                "ValidationException", f"Malformed input request: dimensions must be one of {list(TITAN_EMBED_DIMENSIONS)}"
            )
        values, tokens = vector(model_id, text, dimensions), count_tokens(text)
        answer: dict[str, Any] = {"embedding": values, "inputTextTokenCount": tokens}
        if body.get("embeddingTypes"):
            answer["embeddingsByType"] = {"float": values}
        return answer, token_headers(tokens, 0)
    if name == "cohere-embed":
        extra = sorted(set(body) - {"texts", "input_type", "truncate", "embedding_types", "images"})
        if extra:
            raise SimError("ValidationException", f"Malformed input request: extraneous key [{extra[0]}] is not permitted")
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or len(texts) > COHERE_MAX_TEXTS:
            raise SimError("ValidationException", f"Malformed input request: texts must hold 1-{COHERE_MAX_TEXTS} strings")
        if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering"):
            raise SimError("ValidationException", "Malformed input request: required key [input_type] not found")
        if any(len(text) > COHERE_MAX_CHARS for text in texts) and body.get("truncate", "NONE") == "NONE":
            raise SimError("ValidationException", f"Malformed input request: a text is longer than {COHERE_MAX_CHARS} characters")
        vectors = [vector(model_id, text, COHERE_DIMENSIONS) for text in texts]
        tokens = sum(count_tokens(text) for text in texts)
        digest = hashlib.sha256(json.dumps(texts).encode()).hexdigest()
        if body.get("embedding_types"):
            answer = {"id": digest[:32], "embeddings": {"float": vectors}, "texts": texts, "response_type": "embeddings_by_type"}
        else:
            answer = {"id": digest[:32], "embeddings": vectors, "texts": texts, "response_type": "embeddings_floats"}
        return answer, token_headers(tokens, 0)
    raise SimError("ValidationException", f"The model {model_id} is not an embedding model (simulated).")
