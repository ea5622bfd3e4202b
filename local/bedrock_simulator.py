"""Amazon Bedrock Runtime simulator for local mode and integration tests.

An HTTP server (standard library only) that speaks enough of the Bedrock Runtime wire
protocol (rest-json + AWS event-stream framing) for an *unmodified* boto3 client::

    boto3.client("bedrock-runtime", endpoint_url=sim.url, region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="x")

What is simulated
-----------------
* ``converse``         -> ``POST /model/{modelId}/converse``         (Converse JSON)
* ``converse_stream``  -> ``POST /model/{modelId}/converse-stream``  (event stream: messageStart,
  contentBlockDelta..., contentBlockStop, messageStop, metadata)
* ``invoke_model``     -> ``POST /model/{modelId}/invoke``           (the native body of the model's family:
  Anthropic, Nova, Titan text, Llama, Mistral; Titan / Cohere embeddings: ``local.simulator_native``)
* ``invoke_model_with_response_stream`` -> ``POST /model/{modelId}/invoke-with-response-stream`` (``chunk`` events)

Answers are deterministic: ``"[simulated <modelId>] "`` followed by a sentence derived from a
SHA-256 of the model id and the last user message (12-40 words), cut to ``maxTokens`` /
``max_tokens`` (then ``stopReason`` is ``max_tokens``). Every response carries the header
``x-fmgw-simulator: true``. Signatures are not checked; the client region is read from the SigV4
credential scope of the ``Authorization`` header (or a ``bedrock-runtime.<region>.`` Host).

Errors use the real shapes: HTTP status + ``x-amzn-ErrorType`` header + ``{"message": ...}`` body,
so botocore raises ``ClientError`` with ``Error.Code`` e.g. ``ThrottlingException``. Inside a
stream an error is an event with ``:message-type: exception`` and ``:exception-type`` (e.g.
``modelStreamErrorException``), which botocore raises as ``EventStreamError`` while iterating.

Token rule
----------
Text is split on whitespace; each word costs ``ceil(len(word) / 4)`` tokens, at least 1.
Input tokens = all text of ``system`` + every message (non-text blocks are ignored); output tokens
= tokens of the reply. ``count_tokens()`` implements the rule.

Settings (later overrides earlier, dicts are deep-merged)
---------------------------------------------------------
1. built-in defaults, then ``local/simulator.json``
2. the JSON file named by env ``FMGW_SIM_CONFIG`` (or ``--config`` / ``config_path=``)
3. env ``FMGW_SIM_FAULTS``: inline JSON of the ``faults`` object
4. at run time: the ``/_sim/*`` control endpoints or the Python API

Example::

    {
      "seed": 42,                        # seeds random.Random used for fault rates
      "regionsDown": ["us-east-1"],      # every call signed for these regions -> 503
      "unknownModels": ["*titan*"],      # -> ResourceNotFoundException 404
      "modelIdPattern": "<regex>",       # ids not matching -> ValidationException 400
      "latency": {"*": {"fixedMs": 0, "perTokenMs": 0},
                  "*claude-opus*": {"fixedMs": 300, "perTokenMs": 15}},
      "replies": {"*nova-micro*": "complex"},   # a fixed answer text for matching models
      "faults": {
        "*": {"throttleRate": 0.0, "errorRate": 0.0, "timeoutRate": 0.0, "timeoutSeconds": 2.0,
              "down": false, "failAfterEvents": null, "errorCode": null,
              "streamErrorType": "modelStreamErrorException"},
        "us.anthropic.claude-haiku-4-5-20251001-v1:0": {"throttleRate": 0.2}
      }
    }

Keys of ``latency``/``faults`` are model patterns: ``"*"`` (default), a glob (``*?[``) matched
against the whole id, or a plain string matched as exact id or substring. For one model the entries
are layered ``"*"`` < matching patterns (shorter first) < exact id; ``null`` means "inherit".
Fault fields: ``throttleRate``/``errorRate``/``timeoutRate`` in 0..1 (one random draw per call;
errors are ServiceUnavailableException or InternalServerException; a timeout sleeps
``timeoutSeconds`` then answers ModelTimeoutException 408), ``down`` (always 503),
``errorCode`` (always that error), ``failAfterEvents: N`` (streams send N events then an exception
event of type ``streamErrorType``; no effect if the stream has at most N events).

Control endpoints: ``GET /_sim/health``, ``GET /_sim/config``, ``PUT /_sim/config`` (replace the
given top-level keys), ``POST /_sim/faults`` ``{"model": ..., <fault fields>}`` (merge),
``POST /_sim/latency`` ``{"model": ..., "fixedMs", "perTokenMs"}`` (merge), ``POST /_sim/reset``
(back to the loaded defaults, reseed, clear counters), ``GET /_sim/stats`` (per model: calls, successes, errors by
code; a stream whose caller closed the connection before its end counts as the error ``clientDisconnected``).
``GET /_sim/requests`` (the last 100 Converse requests: model, operation, requestMetadata, whether tools were given).
Tools, structured output, guardrails and cache points are answered by ``local/simulator_features.py``.

CLI: ``python -m local.bedrock_simulator --port 8090 [--host H] [--config FILE] [--verbose]``.
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import hashlib
import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

if str(Path(__file__).resolve().parents[1] / "lambdas") not in sys.path:  # run as a script too
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))
from fmgateway.native import eventstream
from local import simulator_features

DEFAULT_CONFIG_PATH = Path(__file__).with_name("simulator.json")
ENV_CONFIG = "FMGW_SIM_CONFIG"
ENV_FAULTS = "FMGW_SIM_FAULTS"
SIMULATOR_HEADER = "x-fmgw-simulator"
CLIENT_DISCONNECTED = "clientDisconnected"  # stats: a stream whose caller closed the connection before its end

DEFAULT_MODEL_ID_PATTERN = (
    r"^(?:arn:aws(?:-[a-z]+)*:bedrock:[a-z0-9-]*:\d{0,12}:[A-Za-z0-9./:_-]+"
    r"|(?:[a-z]{2,7}\.)?[a-z0-9-]+\.[A-Za-z0-9._:-]+)$"
)

ERROR_STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
STREAM_EXCEPTIONS = {
    "modelStreamErrorException",
    "throttlingException",
    "internalServerException",
    "serviceUnavailableException",
    "validationException",
}
FAULT_DEFAULTS: dict[str, Any] = {
    "throttleRate": 0.0,
    "errorRate": 0.0,
    "timeoutRate": 0.0,
    "timeoutSeconds": 2.0,
    "down": False,
    "failAfterEvents": None,
    "errorCode": None,
    "streamErrorType": "modelStreamErrorException",
}
LATENCY_DEFAULTS: dict[str, Any] = {"fixedMs": 0, "perTokenMs": 0}
BUILTIN_SETTINGS: dict[str, Any] = {
    "seed": 42,
    "regionsDown": [],
    "unknownModels": [],
    "modelIdPattern": DEFAULT_MODEL_ID_PATTERN,
    "latency": {"*": dict(LATENCY_DEFAULTS)},
    "faults": {"*": dict(FAULT_DEFAULTS)},
    "replies": {},
}
TOP_LEVEL_KEYS = set(BUILTIN_SETTINGS)

_VOCABULARY = (
    "gateway bedrock model request answer token stream latency quota region route cache budget policy "
    "tenant prompt context signal fallback retry metric trace window shard queue batch limit event simple "
    "stable quick careful useful plain steady local honest clear returns checks routes counts measures "
    "records delivers reports the a this every each some with for and of to in on at by from then while"
)
_WORDS = tuple(_VOCABULARY.split())
_CRED_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
_HOST_RE = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws")


class SimError(Exception):
    """An error answered as a Bedrock error response."""

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or ERROR_STATUS.get(code, 500)


# ---------------------------------------------------------------- text, tokens, event stream
def count_tokens(text: str) -> int:
    """Simulator token rule: per whitespace-separated word ceil(len/4) tokens, at least 1."""
    return sum(max(1, math.ceil(len(word) / 4)) for word in text.split())


def reply_text(model_id: str, prompt: str) -> str:
    """The full deterministic (untruncated) reply for a model and last user message."""
    digest = hashlib.sha256(f"{model_id}\n{prompt}".encode()).digest()
    n_words = 12 + digest[0] % 29
    words: list[str] = []
    counter = 0
    while len(words) < n_words:
        block = hashlib.sha256(digest + counter.to_bytes(4, "big")).digest()
        words.extend(_WORDS[b % len(_WORDS)] for b in block)
        counter += 1
    sentence = " ".join(words[:n_words])
    return f"[simulated {model_id}] {sentence[0].upper()}{sentence[1:]}."


def truncate_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut ``text`` (single-space separated) to at most ``max_tokens``; returns (text, truncated)."""
    out: list[str] = []
    used = 0
    for word in text.split(" "):
        cost = count_tokens(word)
        if used + cost > max_tokens:
            if max_tokens - used > 0:
                out.append(word[: (max_tokens - used) * 4])
            return " ".join(out), True
        out.append(word)
        used += cost
    return text, False


def encode_event(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (string headers only): the gateway's own encoder, one implementation."""
    return eventstream.encode(headers, payload)


def _event(event_type: str, body: dict) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_event(headers, json.dumps(body).encode())


def _exception_event(exception_type: str, body: dict) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_event(headers, json.dumps(body).encode())


# ---------------------------------------------------------------- settings
def _deep_merge(dst: dict, src: dict) -> dict:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _deep_merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)
    return dst


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _matches(pattern: str, model_id: str) -> bool:
    if pattern == "*":
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(model_id, pattern)
    return pattern in model_id


def _resolve(mapping: dict, model_id: str, defaults: dict) -> dict:
    """Effective per-model entry: defaults < "*" < matching patterns (short first) < exact id."""
    keys = ["*"] if "*" in mapping else []
    keys += sorted((k for k in mapping if k not in ("*", model_id) and _matches(k, model_id)), key=len)
    keys += [model_id] if model_id in mapping and model_id != "*" else []
    merged = dict(defaults)
    for key in keys:
        merged.update({k: v for k, v in (mapping[key] or {}).items() if v is not None})
    return merged


def _check_entry(kind: str, fields: dict) -> None:
    allowed = FAULT_DEFAULTS if kind == "faults" else LATENCY_DEFAULTS
    for key, value in fields.items():
        if key not in allowed:
            raise ValueError(f"unknown {kind} field {key!r} (allowed: {sorted(allowed)})")
        if value is None or key in ("down",):
            continue
        if key == "errorCode" and value not in ERROR_STATUS:
            raise ValueError(f"errorCode must be one of {sorted(ERROR_STATUS)}")
        if key == "streamErrorType" and value not in STREAM_EXCEPTIONS:
            raise ValueError(f"streamErrorType must be one of {sorted(STREAM_EXCEPTIONS)}")
        if key.endswith("Rate") and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ValueError(f"{key} must be a number in 0..1")
        if key in ("timeoutSeconds", "fixedMs", "perTokenMs", "failAfterEvents") and not (
            isinstance(value, (int, float)) and value >= 0
        ):
            raise ValueError(f"{key} must be a number >= 0")


def validate_settings(settings: dict) -> dict:
    """Raise ValueError for unknown keys or bad values; returns settings."""
    unknown = set(settings) - TOP_LEVEL_KEYS
    if unknown:
        raise ValueError(f"unknown settings keys {sorted(unknown)} (allowed: {sorted(TOP_LEVEL_KEYS)})")
    for kind in ("faults", "latency"):
        if not isinstance(settings.get(kind), dict):
            raise ValueError(f"{kind} must be an object keyed by model pattern")
        for entry in settings[kind].values():
            _check_entry(kind, entry or {})
    for key in ("regionsDown", "unknownModels"):
        if not isinstance(settings.get(key), list):
            raise ValueError(f"{key} must be a list")
    replies = settings.get("replies")
    if not isinstance(replies, dict) or not all(isinstance(text, str) for text in replies.values()):
        raise ValueError("replies must be an object of model pattern -> reply text")
    re.compile(settings["modelIdPattern"])
    return settings


def load_settings(
    config_path: str | os.PathLike | None = None,
    *,
    use_env: bool = True,
    overrides: dict | None = None,
) -> dict:
    """simulator.json < $FMGW_SIM_CONFIG < config_path < $FMGW_SIM_FAULTS < overrides."""
    settings = copy.deepcopy(BUILTIN_SETTINGS)
    if DEFAULT_CONFIG_PATH.exists():
        _deep_merge(settings, json.loads(DEFAULT_CONFIG_PATH.read_text()))
    paths = [os.environ.get(ENV_CONFIG) if use_env else None, config_path]
    for path in filter(None, paths):
        _deep_merge(settings, json.loads(Path(path).read_text()))
    if use_env and os.environ.get(ENV_FAULTS):
        _deep_merge(settings["faults"], json.loads(os.environ[ENV_FAULTS]))
    _deep_merge(settings, overrides or {})
    return validate_settings(settings)


# ---------------------------------------------------------------- shared state
class _State:
    def __init__(self, defaults: dict, verbose: bool = False):
        self.defaults = copy.deepcopy(defaults)
        self.verbose = verbose
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.features = simulator_features.Features(count_tokens)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.settings = copy.deepcopy(self.defaults)
            self.rng = random.Random(self.settings["seed"])
            self.counters: dict[str, dict] = {}
        self.features.reset()

    def snapshot(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.settings)

    def replace(self, partial: dict) -> dict:
        with self.lock:
            candidate = copy.deepcopy(self.settings)
            candidate.update(copy.deepcopy(partial))
            validate_settings(candidate)
            self.settings = candidate
            if "seed" in partial:
                self.rng = random.Random(candidate["seed"])
            return copy.deepcopy(candidate)

    def merge_entry(self, kind: str, model: str, fields: dict) -> dict:
        fields = {_camel(k): v for k, v in fields.items()}
        _check_entry(kind, fields)
        with self.lock:
            self.settings[kind].setdefault(model, {}).update(fields)
            return copy.deepcopy(self.settings[kind][model])

    def record(
        self,
        model_id: str,
        operation: str | None = None,
        error: str | None = None,
        success: bool = False,
        s3_inputs: list[str] | None = None,
    ) -> None:
        with self.lock:
            empty = {"calls": 0, "successes": 0, "errors": {}, "operations": {}, "s3Inputs": []}
            entry = self.counters.setdefault(model_id, empty)
            entry["s3Inputs"].extend(s3_inputs or ())
            if operation:
                entry["calls"] += 1
                entry["operations"][operation] = entry["operations"].get(operation, 0) + 1
            if success:
                entry["successes"] += 1
            if error:
                entry["errors"][error] = entry["errors"].get(error, 0) + 1

    def stats(self) -> dict:
        with self.lock:
            models = copy.deepcopy(self.counters)
        totals = {
            "calls": sum(m["calls"] for m in models.values()),
            "successes": sum(m["successes"] for m in models.values()),
            "errors": sum(sum(m["errors"].values()) for m in models.values()),
        }
        return {"totals": totals, "models": models}

    def plan(self, model_id: str, region: str | None) -> tuple[dict, dict, float]:
        """Checks before the request body: region, model id, unknown; returns (faults, latency, draw)."""
        with self.lock:
            settings = self.settings
            draw = self.rng.random()
            if region and region in settings["regionsDown"]:
                raise SimError("ServiceUnavailableException", f"Region {region} is down (simulated).")
            if not re.match(settings["modelIdPattern"], model_id):
                raise SimError("ValidationException", "The provided model identifier is invalid.")
            if any(_matches(p, model_id) for p in settings["unknownModels"]):
                raise SimError("ResourceNotFoundException", f"Model {model_id} not found (simulated).")
            faults = _resolve(settings["faults"], model_id, FAULT_DEFAULTS)
            latency = _resolve(settings["latency"], model_id, LATENCY_DEFAULTS)
        return faults, latency, draw

    def apply_faults(self, faults: dict, draw: float) -> None:
        if faults["down"]:
            raise SimError("ServiceUnavailableException", "The model is down (simulated).")
        if faults["errorCode"]:
            raise SimError(faults["errorCode"], f"Injected {faults['errorCode']} (simulated).")
        throttle, error, timeout = faults["throttleRate"], faults["errorRate"], faults["timeoutRate"]
        if draw < throttle:
            raise SimError("ThrottlingException", "Too many requests, please wait before trying again.")
        if draw < throttle + error:
            if draw < throttle + error / 2:
                raise SimError("ServiceUnavailableException", "Service unavailable (simulated).")
            raise SimError("InternalServerException", "Internal server error (simulated).")
        if draw < throttle + error + timeout:
            self.stopping.wait(float(faults["timeoutSeconds"]))
            raise SimError("ModelTimeoutException", "Model has timed out in processing the request.")

    def reply_for(self, model_id: str) -> str | None:
        """A fixed reply configured for this model (the most specific matching pattern), if any."""
        with self.lock:
            replies = self.settings["replies"]
            matching = [pattern for pattern in replies if _matches(pattern, model_id)]
        return replies[max(matching, key=lambda p: (p == model_id, len(p)))] if matching else None

    def sleep_ms(self, ms: float) -> None:
        if ms > 0:
            self.stopping.wait(ms / 1000.0)


# ---------------------------------------------------------------- request parsing
def texts_of(content: Any) -> list[str]:
    """The text of a prompt field: a string, or the text blocks of a content list."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]
    return []


_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")


def media_sources(messages: list) -> list[str]:
    """Converse's image/document/video sources: exactly one of ``bytes`` or ``s3Location`` (``uri`` s3://bucket/key,
    optional 12-digit ``bucketOwner``), as Bedrock checks them; returns the S3 URIs (the simulator reads no object)."""
    uris = []
    for i, message in enumerate(messages):
        for j, block in enumerate(message.get("content") or [] if isinstance(message, dict) else []):
            for kind in ("image", "document", "video"):
                if not isinstance(block, dict) or kind not in block:
                    continue
                source = (block[kind] or {}).get("source") if isinstance(block[kind], dict) else None
                where = f"messages.{i}.content.{j}.{kind}.source"
                if not isinstance(source, dict) or len(source) != 1 or not ({"bytes", "s3Location"} & set(source)):
                    raise SimError("ValidationException", f"{where} must contain exactly one of bytes, s3Location.")
                if "s3Location" in source:
                    location = source["s3Location"]
                    uri = location.get("uri") if isinstance(location, dict) else None
                    if not isinstance(uri, str) or not _S3_URI.match(uri):
                        raise SimError("ValidationException", f"{where}.s3Location.uri must be an s3://bucket/key URI.")
                    owner = location.get("bucketOwner")
                    if owner is not None and not (isinstance(owner, str) and re.fullmatch(r"[0-9]{12}", owner)):
                        raise SimError("ValidationException", f"{where}.s3Location.bucketOwner must be a 12-digit account id.")
                    uris.append(uri)
    return uris


def _parse_request(operation: str, body: dict) -> tuple[list[str], str, int]:
    """Converse bodies (InvokeModel's are ``local.simulator_native``'s): (all input texts, last user message text, max
    tokens); raises ValidationException."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimError("ValidationException", "messages must contain at least one message.")
    texts = texts_of(body.get("system"))
    last_user = ""
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise SimError("ValidationException", f"messages.{i}.role must be 'user' or 'assistant'.")
        content = message.get("content")
        if not content or not isinstance(content, list):
            raise SimError("ValidationException", f"messages.{i}.content must not be empty.")
        texts += texts_of(content)
        if message["role"] == "user":
            last_user = "\n".join(texts_of(content))
    max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens", 4096)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise SimError("ValidationException", "maxTokens must be an integer >= 1.")
    return texts, last_user, max_tokens


def _client_region(headers) -> str | None:
    match = _CRED_RE.search(headers.get("Authorization", "")) or _HOST_RE.search(headers.get("Host", ""))
    return match.group(1) if match else None


# ---------------------------------------------------------------- HTTP handler
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # avoid ~40 ms delayed-ACK stalls on small responses
    server_version = "FMGWBedrockSimulator/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        self.request_id = str(uuid.uuid4())
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/_sim/"):
                self._control(method, path, raw)
                return
            parts = path.split("/")
            known = ("converse", "converse-stream", "invoke", "invoke-with-response-stream")
            if method != "POST" or len(parts) != 4 or parts[1] != "model" or parts[3] not in known:
                raise SimError("UnknownOperationException", f"No simulated operation {method} {path}", 404)
            self._model_call(unquote(parts[2]), parts[3], raw)
        except SimError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- responses
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(SIMULATOR_HEADER, "true")
        self.send_header("x-amzn-RequestId", self.request_id)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, exc: SimError) -> None:
        self._send_json(exc.status, {"message": exc.message}, {"x-amzn-ErrorType": exc.code})

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # ---- control endpoints
    def _control(self, method: str, path: str, raw: bytes) -> None:
        state = self.server.state
        try:
            body = json.loads(raw) if raw else {}
            if method == "GET" and path == "/_sim/health":
                return self._send_json(200, {"status": "ok", "simulator": True})
            if method == "GET" and path == "/_sim/config":
                return self._send_json(200, state.snapshot())
            if method == "GET" and path == "/_sim/stats":
                return self._send_json(200, state.stats())
            if method == "GET" and path == "/_sim/requests":
                return self._send_json(200, {"requests": state.features.requests()})
            if method == "PUT" and path == "/_sim/config":
                return self._send_json(200, state.replace(body))
            if method == "POST" and path in ("/_sim/faults", "/_sim/latency"):
                fields = dict(body)
                model = fields.pop("model", "*")
                entry = state.merge_entry(path.rsplit("/", 1)[1], model, fields)
                return self._send_json(200, {"model": model, path.rsplit("/", 1)[1]: entry})
            if method == "POST" and path == "/_sim/reset":
                state.reset()
                return self._send_json(200, state.snapshot())
        except (ValueError, TypeError, AttributeError, re.error) as exc:
            raise SimError("ValidationException", f"Bad simulator control request: {exc}") from exc
        raise SimError("UnknownOperationException", f"No control endpoint {method} {path}", 404)

    # ---- model calls
    def _model_call(self, model_id: str, operation: str, raw: bytes) -> None:
        state = self.server.state
        started = time.monotonic()
        state.record(model_id, operation=operation)
        try:
            faults, latency, draw = state.plan(model_id, _client_region(self.headers))
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                raise SimError("ValidationException", "Request body is not valid JSON.") from exc
            if not isinstance(body, dict):
                raise SimError("ValidationException", "Request body must be a JSON object.")
            if operation.startswith("invoke"):
                return self._native_call(model_id, operation, body, faults, latency, draw, started)
            texts, last_user, max_tokens = _parse_request(operation, body)
            s3_inputs = media_sources(body["messages"])
            # tools, guardrails, cache points... (local/simulator_features.py)
            state.features.record(model_id, operation, body)
            try:
                simulator_features.check(body)
            except simulator_features.Refused as exc:
                raise SimError("ValidationException", str(exc)) from exc
            state.apply_faults(faults, draw)
        except SimError as exc:
            state.record(model_id, error=exc.code)
            raise
        text, truncated = truncate_tokens(state.reply_for(model_id) or reply_text(model_id, last_user), max_tokens)
        usage = {"inputTokens": sum(count_tokens(t) for t in texts), "outputTokens": count_tokens(text)}
        usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
        stop_reason = "max_tokens" if truncated else "end_turn"
        answer = state.features.answer(model_id, body, text, usage, stop_reason)
        content, usage, stop_reason, extra = answer.content, answer.usage, answer.stop_reason, answer.fields
        if operation == "converse-stream":
            return self._stream(model_id, content, usage, stop_reason, faults, latency, started, extra)
        state.sleep_ms(latency["fixedMs"] + latency["perTokenMs"] * usage["outputTokens"])
        latency_ms = int((time.monotonic() - started) * 1000)
        state.record(model_id, success=True, s3_inputs=s3_inputs)
        self._send_json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop_reason,
                "usage": usage,
                "metrics": {"latencyMs": latency_ms},
                **extra,
            },
        )

    def _stream(
        self,
        model_id: str,
        content: list[dict],
        usage: dict,
        stop_reason: str,
        faults: dict,
        latency: dict,
        started: float,
        extra: dict | None = None,
    ) -> None:
        def text_deltas(text: str) -> list[str]:
            words = text.split(" ")
            deltas = [" ".join(words[i : i + 3]) for i in range(0, len(words), 3)]
            return [d if i == 0 else " " + d for i, d in enumerate(deltas)]

        per_token = latency["perTokenMs"]
        events: list[tuple[str, dict, float]] = [("messageStart", {"role": "assistant"}, latency["fixedMs"])]
        for name, payload, piece in simulator_features.stream_events(content, text_deltas):
            events.append((name, payload, per_token * count_tokens(piece) if piece else 0))
        events += [
            ("messageStop", {"stopReason": stop_reason}, 0),
            ("metadata", dict(extra or {}), 0),
        ]
        self._stream_events(model_id, events, faults, usage, started)

    def _stream_events(self, model_id: str, events: list, faults: dict, usage: dict, started: float) -> None:
        state = self.server.state
        fail_after = faults["failAfterEvents"]
        fail_after = int(fail_after) if fail_after is not None and fail_after < len(events) else None
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-Bedrock-Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header(SIMULATOR_HEADER, "true")
        self.send_header("x-amzn-RequestId", self.request_id)
        self.end_headers()
        try:
            self._send_events(model_id, events, fail_after, faults, usage, started)
        except (BrokenPipeError, ConnectionResetError):
            # the caller closed the stream before its end: counted, so tests can see the upstream read stop
            state.record(model_id, error=CLIENT_DISCONNECTED)
            self.close_connection = True

    def _native_call(
        self, model_id: str, operation: str, body: dict, faults: dict, latency: dict, draw: float, started: float
    ) -> None:
        """InvokeModel / InvokeModelWithResponseStream with the family's native body (``local.simulator_native``)."""
        from local import simulator_native as native

        state = self.server.state
        embedding = native.family(model_id) in ("titan-embed", "cohere-embed")
        try:
            state.features.record(model_id, operation, {"requestMetadata": native.header_metadata(self.headers)})
            if embedding and operation != "invoke":
                raise SimError("ValidationException", f"The model {model_id} does not support streaming (simulated).")
            answer, headers = native.embed(model_id, body) if embedding else ({}, {})
            parsed = None if embedding else native.parse_chat(model_id, body)
            state.apply_faults(faults, draw)
        except SimError as exc:
            state.record(model_id, error=exc.code)
            raise
        if parsed is not None:
            text, truncated = truncate_tokens(state.reply_for(model_id) or reply_text(model_id, parsed.prompt), parsed.max_tokens)
            usage = {"inputTokens": sum(count_tokens(t) for t in parsed.texts), "outputTokens": count_tokens(text)}
            usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
            if operation != "invoke":
                chunks = native.stream_chunks(parsed, model_id, text, truncated, usage)
                delays = [latency["fixedMs"], *(latency["perTokenMs"] * 3 for _ in chunks[1:])]
                events = [("chunk", native.chunk_payload(chunk), delay) for chunk, delay in zip(chunks, delays, strict=True)]
                return self._stream_events(model_id, events, faults, usage, started)
            answer, headers = native.chat_response(parsed, model_id, text, truncated, usage)
            state.sleep_ms(latency["fixedMs"] + latency["perTokenMs"] * usage["outputTokens"])
        state.record(model_id, success=True)
        headers["X-Amzn-Bedrock-Invocation-Latency"] = str(int((time.monotonic() - started) * 1000))
        self._send_json(200, answer, headers)

    def _send_events(
        self, model_id: str, events: list, fail_after: int | None, faults: dict, usage: dict, started: float
    ) -> None:
        state = self.server.state
        for index, (event_type, payload, delay_ms) in enumerate(events):
            if index == fail_after:
                kind = faults["streamErrorType"]
                body: dict[str, Any] = {"message": f"Injected {kind} after {index} events (simulated)."}
                if kind == "modelStreamErrorException":
                    body.update(originalStatusCode=500, originalMessage="simulated model stream failure")
                self._write_chunk(_exception_event(kind, body))
                state.record(model_id, error=kind)
                break
            state.sleep_ms(delay_ms)
            if event_type == "metadata":
                payload = {"usage": usage, "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)}, **payload}
            self._write_chunk(_event(event_type, payload))
        else:
            state.record(model_id, success=True)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


# ---------------------------------------------------------------- public API
class BedrockSimulator:
    """In-process Bedrock Runtime simulator; ``with BedrockSimulator() as sim: ... sim.url``."""

    def __init__(
        self,
        settings: dict | None = None,
        *,
        config_path: str | os.PathLike | None = None,
        use_env: bool = True,
        verbose: bool = False,
    ):
        self._state = _State(load_settings(config_path, use_env=use_env, overrides=settings), verbose)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving in a daemon thread; returns the base URL (port 0 = pick a free port)."""
        if self._server is not None:
            return self.url or ""
        self._state.stopping.clear()
        server = _Server((host, port), _Handler)
        server.state = self._state
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="bedrock-simulator", daemon=True)
        self._thread.start()
        shown_host = host if host not in ("", "0.0.0.0") else "127.0.0.1"
        self.url = f"http://{shown_host}:{server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        """Stop serving; pending sleeps (latency, timeouts) are cut short."""
        if self._server is None:
            return
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> BedrockSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_faults(self, model: str = "*", **fields: Any) -> dict:
        """Merge fault fields (camelCase or snake_case) for a model id/pattern; None clears a field."""
        return self._state.merge_entry("faults", model, fields)

    def set_latency(self, model: str = "*", **fields: Any) -> dict:
        """Merge latency fields (fixedMs/fixed_ms, perTokenMs/per_token_ms) for a model id/pattern."""
        return self._state.merge_entry("latency", model, fields)

    def configure(self, **settings: Any) -> dict:
        """Replace top-level settings keys (like ``PUT /_sim/config``), e.g. regionsDown=[...]."""
        return self._state.replace({_camel(k): v for k, v in settings.items()})

    def config(self) -> dict:
        return self._state.snapshot()

    def reset(self) -> None:
        """Back to the settings loaded at construction; reseeds the RNG and clears counters."""
        self._state.reset()

    def stats(self) -> dict:
        return self._state.stats()

    def requests(self) -> list[dict]:
        """The last 100 Converse requests received (like ``GET /_sim/requests``): model, operation, requestMetadata..."""
        return self._state.features.requests()

    def client(self, region_name: str = "us-east-1", total_max_attempts: int = 1, **kwargs: Any) -> Any:
        """boto3 bedrock-runtime client for this simulator; by default no retries (boto3 imported lazily)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "bedrock-runtime",
            endpoint_url=self.url,
            region_name=region_name,
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": total_max_attempts, "mode": "standard"}),
            **kwargs,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.bedrock_simulator",
        description="Amazon Bedrock Runtime simulator (FM Gateway local mode).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--config", help=f"settings JSON file (applied after ${ENV_CONFIG})")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    stop = threading.Event()
    # Both, explicitly: a process started with SIGINT ignored (nohup, `&` in a script, some CI runners)
    # inherits SIG_IGN, and Python then raises no KeyboardInterrupt for Ctrl-C.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim = BedrockSimulator(config_path=args.config, verbose=args.verbose)
    url = sim.start(args.host, args.port)
    print(f"Bedrock simulator listening on {url}", flush=True)
    print(f"control: {url}/_sim/config | {url}/_sim/stats -- Ctrl-C to stop", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        print("Bedrock simulator stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
