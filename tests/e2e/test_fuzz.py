"""Fuzz: local mode over HTTP (``python -m local``) fed bodies generated from ``schemas/chat-request.json``
and ``schemas/openai-chat-request.json`` (Hypothesis + hypothesis-jsonschema, fixed seed), hostile
mutations of them, hand-written hostile cases for every row of issue 13's tables, and malformed HTTP.

Every answer must be: no 5xx, no hang (a 30 s client timeout), an error body in the documented shape
``{"error": {"message", "type", "param", "code", "requestId"}}`` (the API description's Error schema, ``type``
OpenAI's for the status), and never a 2xx for input that an independent oracle
(jsonschema's Draft4Validator plus Converse's own rules, written here again) calls invalid.

Generation uses the real schemas with smaller array and object limits (fewer messages and blocks per
body), because hypothesis-jsonschema rebuilds nested strategies on every draw: the bodies are still
valid against the real schemas, and the suite stays within its time budget.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import socket
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis_jsonschema import from_schema

from fmgateway.values.errors import openai_type
from infra.openapi import ERROR_SCHEMA
from tests.conftest import CONFIG_FILE, ROOT
from tests.e2e.conftest import start_gateway, stop_gateway

CHAT_SCHEMA = json.loads((ROOT / "schemas" / "chat-request.json").read_text())
OPENAI_SCHEMA = json.loads((ROOT / "schemas" / "openai-chat-request.json").read_text())
# the streaming routes share the Converse body and its validation; their refusals come before any stream
CONVERSE_ROUTES = [
    "/v1/chat", "/v1/classify", "/v1/generate", "/v1/analyze", "/v1/jobs", "/v1/chat/stream", "/v1/analyze/stream",
    "/v1/chat/orchestrated", "/model/simple/converse", "/model/auto/converse-stream",
]  # fmt: skip
EMBEDDINGS_SCHEMA = json.loads((ROOT / "schemas" / "openai-embeddings-request.json").read_text())
# InvokeModel paths: a native body of the model's family (or, for a tier or auto, of the body's own shape)
INVOKE_ROUTES = [
    "/model/claude-haiku-4-5/invoke", "/model/simple/invoke", "/model/auto/invoke-with-response-stream",
    "/model/amazon.titan-embed-text-v2%3A0/invoke", "/model/llama3-3-70b/invoke",
]  # fmt: skip
TASK_ROUTES = {"/v1/classify", "/v1/generate", "/v1/analyze"}
MAX_DEPTH = 32
GENERATED_CHAT, GENERATED_OPENAI = 120, 200


# ---- generation ------------------------------------------------------------------------------------


def generation_schema(schema: dict, limits: Callable[[dict], None]) -> dict:
    smaller = copy.deepcopy(schema)
    limits(smaller)
    return smaller


def _chat_limits(schema: dict) -> None:
    schema["properties"]["messages"]["maxItems"] = 4
    schema["properties"]["system"]["maxItems"] = 2
    schema["properties"]["metadata"]["maxProperties"] = 3
    schema["properties"]["requestMetadata"]["maxProperties"] = 3
    schema["properties"]["toolConfig"]["properties"]["tools"]["maxItems"] = 2
    schema["properties"]["additionalModelRequestFields"]["maxProperties"] = 3
    schema["properties"]["promptVariables"]["maxProperties"] = 2
    schema["definitions"]["message"]["properties"]["content"]["maxItems"] = 3


def _openai_limits(schema: dict) -> None:
    """The real schema leaves the top level and content parts open (the function names what it refuses); generation
    closes them to OpenAI's own shapes and keeps tool schemas, tool choices and response formats to a few forms, so
    that the bodies exercise every field rather than random extra keys."""
    schema["additionalProperties"] = False
    properties = schema["properties"]
    properties["messages"]["maxItems"] = 4
    message = properties["messages"]["items"]
    message["properties"] = {key: message["properties"][key] for key in ("role", "content", "name")}
    message["properties"]["role"] = {"enum": ["system", "developer", "user", "assistant"]}
    message["properties"]["content"]["maxItems"] = 3
    properties["model"] = {"enum": ["auto", "simple", "complex", "claude-sonnet-4-5", "nova-pro", "gpt-9"]}
    schema["definitions"]["contentPart"] = {
        "type": "object", "required": ["type"], "additionalProperties": False,
        "properties": {
            "type": {"enum": ["text", "image_url"]},
            "text": {"type": "string"},
            "image_url": {"type": "object", "required": ["url"], "additionalProperties": False,
                          "properties": {"url": {"type": "string"}}},
        },
    }  # fmt: skip
    tool = {"type": "object", "required": ["type", "function"], "additionalProperties": False,
            "properties": {"type": {"enum": ["function"]}, "function": {
                "type": "object", "required": ["name"], "additionalProperties": False,
                "properties": {"name": {"enum": ["get_weather", "get_time", "json_object"]},
                               "parameters": {"enum": [{"type": "object", "properties": {}}]}}}}}  # fmt: skip
    properties["tools"] = {"type": "array", "maxItems": 2, "items": tool}
    properties["tool_choice"] = {"enum": ["none", "auto", "required"]}
    properties["response_format"] = {"enum": [
        {"type": "text"}, {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "get_time", "schema": {"type": "object", "properties": {}}}},
    ]}  # fmt: skip
    for name in ("metadata", "audio", "prediction", "web_search_options", "moderation", "prompt_cache_options", "logit_bias"):
        properties[name] = {"type": ["object", "null"], "maxProperties": 2, "additionalProperties": {"type": "string"}}
    properties["functions"] = {"type": "array", "maxItems": 1, "items": {"type": "object", "maxProperties": 0}}
    properties["function_call"] = {"enum": ["none", "auto"]}


@cache
def generated_chat_bodies() -> list[Any]:
    return generate(generation_schema(CHAT_SCHEMA, _chat_limits), GENERATED_CHAT)


def generate(schema: dict, count: int) -> list[Any]:
    """``count`` bodies drawn from ``schema`` with a fixed seed (derandomize): the same ones every run."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(from_schema(schema))
    def collect(body):
        drawn.append(body)

    collect()
    return drawn[:count]


# ---- the oracle: what is invalid, decided without the gateway's code ----------------------------------


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _is_unicode(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strict_base64(text: str) -> bool:
    try:
        return base64.b64encode(base64.b64decode(text, validate=True)).decode() == text
    except ValueError:
        return False


def json_problems(body: Any) -> list[str]:
    problems = []
    if not _is_unicode(body):
        problems.append("lone surrogate")
    if _depth(body) > MAX_DEPTH:
        problems.append("too deep")
    return problems


def converse_problems(body: Any, route: str) -> list[str]:
    problems = json_problems(body)
    problems += [e.message for e in jsonschema.Draft4Validator(CHAT_SCHEMA).iter_errors(body)]
    if problems or not isinstance(body, dict):
        return problems or ["not an object"]
    if route.removesuffix("/stream") in TASK_ROUTES and ("model" in body or "tier" in body):
        problems.append("task routes take no model or tier")
    if route.startswith("/model/") and ("model" in body or "tier" in body):
        problems.append("the Bedrock-native paths take the model from the path")
    for block in body.get("system") or []:
        if "text" in block and not block["text"].strip():
            problems.append("blank system text")
    problems += _field_problems(body)
    previous: dict | None = None
    for message in body["messages"]:
        if (previous is None and message["role"] != "user") or message["role"] == (previous or {}).get("role"):
            problems.append("role order")
        asked = {b["toolUse"]["toolUseId"] for b in (previous or {}).get("content", []) if "toolUse" in b}
        previous = message
        for block in message["content"]:
            if "text" in block and not block["text"].strip():
                problems.append("blank text")
            if ("toolUse" in block or "toolResult" in block) and "toolConfig" not in body:
                problems.append("tool block without toolConfig")
            if "toolUse" in block and message["role"] != "assistant":
                problems.append("tool use outside an assistant message")
            if "toolResult" in block and (message["role"] != "user" or block["toolResult"]["toolUseId"] not in asked):
                problems.append("tool result answering no tool use")
            for holder in [block, *(block["toolResult"]["content"] if "toolResult" in block else [])]:
                for kind in ("image", "document"):
                    source = holder[kind]["source"] if kind in holder else {}
                    if "bytes" in source and not _strict_base64(source["bytes"]):
                        problems.append("base64")
                    if "s3Location" in source:  # the fuzzed gateway allows no input bucket (limits.s3InputBuckets)
                        problems.append("s3 bucket not allowed")
    return problems


_METADATA_TEXT = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,.-]*")


def _field_problems(body: dict) -> list[str]:
    """Converse's rules for the forwarded fields (issue 10) that the schema cannot say."""
    problems = []
    names: list[str] = []
    for tool in (body.get("toolConfig") or {}).get("tools", []):
        name = (tool.get("toolSpec") or tool.get("systemTool") or {}).get("name")
        if name is not None and name in names:
            problems.append("duplicate tool name")
        names += [name] if name is not None else []
    chosen = (((body.get("toolConfig") or {}).get("toolChoice") or {}).get("tool") or {}).get("name")
    if chosen is not None and chosen not in names:
        problems.append("toolChoice names no tool")
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if text_format is not None:
        try:
            schema = json.loads(text_format["structure"]["jsonSchema"]["schema"])
        except ValueError:
            schema = None
        if not isinstance(schema, dict):
            problems.append("output schema is not a JSON object")
    for key in body.get("requestMetadata") or {}:
        if key.lower().startswith("fmgw-") or not 1 <= len(key) <= 256 or not _METADATA_TEXT.fullmatch(key):
            problems.append("requestMetadata key")
    return problems


_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|webp);base64,(.+)$", re.DOTALL)


# What the OpenAI route refuses unless the value asks for nothing (README "OpenAI Chat Completions: every field")
OPENAI_HARMLESS: dict[str, list[Any]] = {
    "audio": [None], "frequency_penalty": [None, 0], "presence_penalty": [None, 0], "logit_bias": [None, {}],
    "logprobs": [None, False], "top_logprobs": [None], "moderation": [None], "prediction": [None],
    "prompt_cache_key": [None], "prompt_cache_options": [None], "prompt_cache_retention": [None],
    "reasoning_effort": [None], "verbosity": [None], "web_search_options": [None], "store": [None, False],
    "functions": [], "function_call": [], "seed": [None],  # seed: no model of the shipped catalog takes one
}  # fmt: skip
METADATA_TEXT = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,.-]*")


def _harmless(value: Any, allowed: list[Any]) -> bool:
    return any(
        (value is None and option is None)
        or (isinstance(option, bool) and value is option)
        or (not isinstance(option, bool) and option is not None and not isinstance(value, bool) and value == option)
        for option in allowed
    )


def _metadata_problems(body: dict) -> list[str]:
    pairs = dict(body.get("metadata") or {})
    for field in ("user", "safety_identifier"):
        if body.get(field) is not None:
            pairs[f"openai-{field}"] = body[field]
    if len(pairs) > 11:
        return ["more than 11 metadata pairs"]
    for key, value in pairs.items():
        if key.lower().startswith("fmgw-") or not METADATA_TEXT.fullmatch(key) or not 1 <= len(key) <= 256:
            return ["metadata key"]
        if not METADATA_TEXT.fullmatch(value) or len(value) > 256:
            return ["metadata value"]
    if any(key in ("openai-user", "openai-safety_identifier", "openai-safety-identifier") for key in body.get("metadata") or {}):
        return ["reserved metadata key"]
    return []


def openai_problems(body: Any, route: str = "/v1/chat/completions") -> list[str]:
    problems = json_problems(body)
    problems += [e.message for e in jsonschema.Draft4Validator(OPENAI_SCHEMA).iter_errors(body)]
    if problems or not isinstance(body, dict):
        return problems or ["not an object"]
    if not body.get("model"):
        problems.append("no model")
    for field, allowed in OPENAI_HARMLESS.items():
        if field in body and not _harmless(body[field], allowed):
            problems.append(f"{field} refused")
    if body.get("modalities") not in (None, ["text"]):
        problems.append("modalities")
    if body.get("service_tier") not in (None, "auto", "default", "flex", "priority"):
        problems.append("service_tier")
    if body.get("max_tokens") is not None and body.get("max_completion_tokens") not in (None, body["max_tokens"]):
        problems.append("max_tokens conflict")
    problems += _metadata_problems(body)
    tools = [tool["function"]["name"] for tool in body.get("tools") or []]
    if len(set(tools)) != len(tools):
        problems.append("a tool defined twice")
    if not tools and body.get("tool_choice") in ("auto", "required"):
        problems.append("tool_choice without tools")
    json_schema = (body.get("response_format") or {}).get("json_schema") or {}
    fmt_name = "json_object" if (body.get("response_format") or {}).get("type") == "json_object" else json_schema.get("name")
    if tools and body.get("tool_choice") != "none" and fmt_name in tools:
        problems.append("response_format name is a tool name")
    for message in body["messages"]:
        if message.get("name") is not None:
            problems.append("message name")
    if body.get("stop") == "":
        problems.append("empty stop")
    if body.get("n") not in (None, 1):
        problems.append("n unsupported")
    if body.get("stream_options") is not None and not body.get("stream"):
        problems.append("stream_options without stream")
    if (body.get("stream_options") or {}).get("include_obfuscation"):
        problems.append("include_obfuscation")
    first_role = None
    for message in body["messages"]:
        content = message.get("content") or ""
        blocks = 0
        if isinstance(content, str):
            blocks = int(bool(content.strip()))
        else:
            for part in content:
                if part["type"] == "text":
                    if not isinstance(part.get("text"), str):
                        problems.append("text part without text")
                    elif part["text"].strip():
                        blocks += 1
                else:
                    match = _DATA_URL.match((part.get("image_url") or {}).get("url", ""))
                    if not match or not _strict_base64(match.group(2)):
                        problems.append("image_url")
                    blocks += 1
        if message["role"] in ("system", "developer"):
            continue
        if not blocks:
            problems.append("empty content")
        first_role = first_role or message["role"]
    if first_role != "user":
        problems.append("first message not from the user")
    return problems


# ---- the gateway and the checks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory):
    config = json.loads(CONFIG_FILE.read_text())
    for plan in config["plans"].values():  # the fuzz is not about throttling
        plan.update(rateLimit=100_000, burstLimit=100_000, quotaPerDay=100_000_000)
    config["stage"] = {"rateLimit": 100_000, "burstLimit": 100_000}
    path = tmp_path_factory.mktemp("fuzz") / "gateway.json"
    path.write_text(json.dumps(config))
    gateway = start_gateway(path)
    yield gateway
    assert stop_gateway(gateway) == 0


class Tally:
    """Counts across the module, printed at the end; failures collected, not stopped at."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.jobs: list[str] = []  # accepted job ids, checked at the end

    def check(self, label: str, status: int | None, payload: bytes, invalid: list[str], allowed: set[int] | None = None):
        self.counts["requests"] += 1
        if status is None:
            self.counts["hangs"] += 1
            self.failures.append(f"{label}: no answer")
            return
        self.counts[f"{status // 100}xx"] += 1
        if status >= 500:
            self.failures.append(f"{label}: {status} {payload[:300]!r}")
        if status >= 400 and not _error_shaped(payload, status):
            self.counts["bad shapes"] += 1
            self.failures.append(f"{label}: {status} not in the error shape: {payload[:300]!r}")
        if invalid and status < 400:
            self.counts["invalid accepted"] += 1
            self.failures.append(f"{label}: {status} for invalid input ({invalid[:3]})")
        if status == 202:
            self.jobs.append(json.loads(payload)["jobId"])
        if allowed is not None and status not in allowed:
            self.failures.append(f"{label}: {status}, expected one of {sorted(allowed)}: {payload[:200]!r}")


def _error_shaped(payload: bytes, status: int) -> bool:
    """The API description's Error schema, with its type the one of the status and non-empty strings."""
    try:
        body = json.loads(payload)
        jsonschema.validate(body, ERROR_SCHEMA)
    except (ValueError, jsonschema.ValidationError):
        return False
    error = body["error"]
    return (
        list(error) == ["message", "type", "param", "code", "requestId"]
        and error["type"] == openai_type(status)
        and all(error[k] for k in ("message", "code", "requestId"))
        and (error["param"] is None or bool(error["param"]))
    )


@pytest.fixture(scope="module")
def tally():
    tally = Tally()
    yield tally
    print(f"\nfuzz: {dict(tally.counts)}")


def send(client: httpx.Client, route: str, raw: bytes) -> tuple[int | None, bytes]:
    try:
        response = client.post(route, content=raw, headers={"content-type": "application/json"})
    except httpx.TimeoutException:
        return None, b""
    return response.status_code, response.content


def encode(body: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as \ud800 escapes, as a hostile client would send them
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def client(fuzz_gateway):
    with httpx.Client(base_url=fuzz_gateway.url, headers={"x-api-key": fuzz_gateway.keys[-1]}, timeout=30) as client:
        yield client


# ---- schema-generated bodies -----------------------------------------------------------------------


def test_generated_converse_bodies_on_every_converse_route(client, tally):
    bodies = generated_chat_bodies()
    before = len(tally.failures)
    accepted = 0
    for index, body in enumerate(bodies):
        task_route = sorted(TASK_ROUTES)[index % 3] + ("/stream" if index % 2 else "")  # half of them streamed
        # every third body also through the state machine (moto's interpreter: slower per request)
        for route in ("/v1/chat", task_route, "/v1/jobs", *(("/v1/chat/orchestrated",) if index % 3 == 0 else ())):
            status, payload = send(client, route, encode(body))
            tally.check(f"generated chat #{index} {route}", status, payload, converse_problems(body, route))
            accepted += status is not None and status < 300
    assert tally.failures[before:] == []
    assert accepted >= len(bodies) // 10, "the generated bodies should also reach the models, not only be refused"


@cache
def generated_openai_bodies() -> list[Any]:
    return generate(generation_schema(OPENAI_SCHEMA, _openai_limits), GENERATED_OPENAI)


def test_generated_openai_bodies(client, tally):
    bodies = generated_openai_bodies()
    before = len(tally.failures)
    for index, body in enumerate(bodies):
        status, payload = send(client, "/v1/chat/completions", encode(body))
        tally.check(f"generated openai #{index}", status, payload, openai_problems(body))
    assert tally.failures[before:] == []


def openai_repaired(body: dict, index: int) -> dict:
    """A generated OpenAI body made valid: a model of the catalog or a tier, the refused fields and those with a
    value the route refuses taken out, one user message (the generated ones are covered above): it should be
    answered, with whatever tools, tool choice, response format and scalar fields it drew."""
    body = {key: value for key, value in body.items() if key not in OPENAI_HARMLESS}
    body["model"] = ["auto", "simple", "claude-sonnet-4-5", "nova-pro"][index % 4]
    body["messages"] = [{"role": "user", "content": "Hello there"}]
    for field, keep in (("n", (None, 1)), ("modalities", (None, ["text"])),
                        ("service_tier", (None, "auto", "default", "flex", "priority"))):  # fmt: skip
        if body.get(field) not in keep:
            body.pop(field)
    if body.get("max_completion_tokens") is not None:
        body.pop("max_tokens", None)
    if body.get("stop") == "":
        body.pop("stop")
    if not body.get("stream"):
        body.pop("stream_options", None)
    body.get("stream_options", {}) and body["stream_options"].pop("include_obfuscation", None)
    if _metadata_problems(body):
        for field in ("metadata", "user", "safety_identifier"):
            body.pop(field, None)
    names = [tool["function"]["name"] for tool in body.get("tools") or []]
    if len(set(names)) != len(names):
        body["tools"] = body["tools"][:1]
    if not body.get("tools") and body.get("tool_choice") in ("auto", "required"):
        body.pop("tool_choice")
    if body.get("response_format", {}).get("type") in ("json_object", "json_schema"):
        body.pop("tools", None), body.pop("tool_choice", None)  # a format tool named like a tool: covered above
    return body


def test_repaired_generated_openai_bodies_are_answered(client, tally):
    bodies = [openai_repaired(body, index) for index, body in enumerate(generated_openai_bodies())]
    before = len(tally.failures)
    answered = 0
    for index, body in enumerate(bodies):
        assert openai_problems(body) == [], body
        status, payload = send(client, "/v1/chat/completions", encode(body))
        tally.check(f"openai repaired #{index}", status, payload, [], allowed={200})
        answered += status == 200
    assert tally.failures[before:] == []
    assert answered == len(bodies)


def _clean(text: str) -> str:
    text = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)
    return text if text.strip() else "hello"


def repaired(body: dict) -> dict:
    """A generated body made valid by Converse's rules (roles alternate from the user, no blank text, no
    lone surrogates, canonical base64), the model left to routing: it should be answered."""
    body = copy.deepcopy(body)
    body.pop("model", None)
    for index, message in enumerate(body["messages"]):
        message["role"] = "assistant" if index % 2 else "user"
        # tool blocks would need matching ids across turns: text in their place
        message["content"] = [{"text": "hello"} if "toolUse" in b or "toolResult" in b else b for b in message["content"]]
        for block in message["content"]:
            if "text" in block:
                block["text"] = _clean(block["text"])
            for kind in ("image", "document"):
                if kind in block:
                    block[kind]["source"] = {"bytes": "aGk="}
                    if kind == "document":
                        block[kind]["name"] = _clean(block[kind]["name"])
    for block in body.get("system") or []:
        if "text" in block:
            block["text"] = _clean(block["text"])
    tool_config = body.get("toolConfig") or {}
    for index, tool in enumerate(tool_config.get("tools", [])):  # unique names; toolChoice names the first
        for kind in ("toolSpec", "systemTool"):
            if kind in tool:
                tool[kind]["name"] = f"{kind}{index}"
    names = [tool[kind]["name"] for tool in tool_config.get("tools", []) for kind in ("toolSpec", "systemTool") if kind in tool]
    if "tool" in tool_config.get("toolChoice", {}):
        tool_config["toolChoice"] = {"tool": {"name": names[0]}} if names else {"auto": {}}
    if "textFormat" in body.get("outputConfig", {}):
        body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"] = '{"type": "object"}'
    if "requestMetadata" in body:
        body["requestMetadata"] = {f"k{index}": value for index, value in enumerate(body["requestMetadata"].values())}
    inference = body.get("inferenceConfig") or {}
    if "stopSequences" in inference:
        inference["stopSequences"] = [_clean(stop) for stop in inference["stopSequences"]]
    if not _is_unicode(body.get("metadata")):
        body.pop("metadata")
    return body


def test_repaired_generated_bodies_are_answered(client, tally):
    bodies = [repaired(body) for body in generated_chat_bodies()]
    before = len(tally.failures)
    answered = 0
    for index, body in enumerate(bodies):
        route = "/v1/jobs" if index % 4 == 0 else "/v1/chat"
        assert converse_problems(body, route) == [], body
        status, payload = send(client, route, encode(body))
        # 400/413 remain possible for routing reasons: a language or modality no candidate of the tier serves
        tally.check(f"repaired #{index} {route}", status, payload, [], allowed={200, 202, 400, 413})
        answered += status in (200, 202)
    assert tally.failures[before:] == []
    assert answered >= len(bodies) // 2, f"only {answered} of {len(bodies)} valid bodies were answered"


# ---- hostile mutations of generated bodies ------------------------------------------------------------


def _nest(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = {"x": value}
    return value


def nested_metadata(levels: int) -> bytes:
    """A chat body whose metadata nests ``levels`` objects deep, written out (json.dumps would recurse)."""
    return (
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": '
        + b'{"x": ' * levels
        + b"1"
        + b"}" * levels
        + b"}"
    )


def converse_mutations(body: dict) -> list[tuple[str, bytes, dict | None]]:
    """(what, raw bytes, the mutated body when it is still JSON the oracle can judge)."""
    first = body["messages"][0]
    out: list[tuple[str, bytes, dict | None]] = []
    swapped = {**body, "messages": [{**first, "role": "assistant"}, *body["messages"][1:]]}
    out.append(("assistant first", encode(swapped), swapped))
    doubled = {**body, "messages": [first, first, *body["messages"][1:]]}
    out.append(("two turns from one role", encode(doubled), doubled))
    image = {"image": {"format": "png", "source": {"bytes": "aGk=é"}}}
    bad_b64 = {**body, "messages": [{**first, "content": [image]}, *body["messages"][1:]]}
    out.append(("non-ASCII base64", json.dumps(bad_b64, ensure_ascii=False).encode(), bad_b64))
    deep = {**body, "metadata": _nest(40)}
    out.append(("metadata nested 40 levels", encode(deep), deep))
    extra = {**body, "unexpected": True}
    out.append(("unknown field", encode(extra), extra))
    text = encode(body)
    out.append(("NaN temperature", text[:-1] + b', "inferenceConfig": {"temperature": NaN}}', None))
    out.append(("huge integer", text[:-1] + b', "metadata": {"n": ' + b"9" * 4400 + b"}}", None))
    out.append(("lone surrogate", text[:-1] + b', "metadata": {"s": "\\udc80"}}', None))
    out.append(("truncated", text[: len(text) // 2], None))
    out.append(("not UTF-8", text[:-1] + b', "metadata": {"s": "\xff\xfe"}}', None))
    return out


def test_hostile_mutations_of_generated_bodies(client, tally):
    bodies = generated_chat_bodies()
    before = len(tally.failures)
    for index, body in enumerate(bodies[:40]):
        for position, (what, raw, mutated) in enumerate(converse_mutations(body)):
            route = CONVERSE_ROUTES[(index + position) % len(CONVERSE_ROUTES)]
            invalid = converse_problems(mutated, route) if mutated is not None else ["not strict JSON"]
            assert invalid, f"mutation '{what}' left #{index} valid: the oracle or the mutation is wrong"
            status, payload = send(client, route, raw)
            tally.check(f"mutated #{index} ({what}) {route}", status, payload, invalid, allowed={400, 413})
    assert tally.failures[before:] == []


# ---- hand-written hostile cases: every row of issue 13's tables -----------------------------------------

HELLO = {"role": "user", "content": [{"text": "Hello"}]}
CHAT_OK = {"messages": [HELLO]}
TOOL = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object", "properties": {"q": {"type": "string"}}}}}}
TOOL_USE = {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup", "input": {"q": "x"}}}


def _output_config(schema: str) -> dict:
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": schema}}}}


CONVERSE_HOSTILE: list[tuple[str, bytes, int]] = [
    (
        "non-ASCII image bytes",
        json.dumps(
            {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo=ü"}}}]}]},
            ensure_ascii=False,
        ).encode(),
        400,
    ),
    (
        "non-ASCII document bytes",
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": [{"document": {"format": "pdf", "name": "d", "source": {"bytes": "JVBERi0=€"}}}]}
                ]
            },
            ensure_ascii=False,
        ).encode(),
        400,
    ),
    (
        "unpadded base64",
        encode({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "aGk"}}}]}]}),
        400,
    ),
    (
        "URL-safe base64",
        encode({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "a-_k"}}}]}]}),
        400,
    ),
    ("lone surrogate in text", b'{"messages": [{"role": "user", "content": [{"text": "hi \\ud800"}]}]}', 400),
    (
        "lone surrogate in system",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "system": [{"text": "\\udfff"}]}',
        400,
    ),
    (
        "lone surrogate in metadata key",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": {"\\ud801": 1}}',
        400,
    ),
    ("lone surrogate in model", b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "model": "\\ud800"}', 400),
    (
        "4301-digit maxTokens",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": ' + b"1" * 4301 + b"}}",
        400,
    ),
    (
        "5000-digit metadata",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": {"n": -' + b"7" * 5000 + b"}}",
        400,
    ),
    (
        "integer past 2^63",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": {"n": 9223372036854775808}}',
        400,
    ),
    ("1e400", b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": {"f": 1e400}}', 400),
    (
        "NaN temperature",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"temperature": NaN}}',
        400,
    ),
    (
        "Infinity topP",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"topP": Infinity}}',
        400,
    ),
    (
        "-Infinity in metadata",
        b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": {"x": -Infinity}}',
        400,
    ),
    ("metadata nested 976 levels", nested_metadata(976), 400),
    ("metadata nested 33 levels", encode({**CHAT_OK, "metadata": _nest(33)}), 400),
    ("assistant first", encode({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}, HELLO]}), 400),
    ("two user turns", encode({"messages": [HELLO, HELLO]}), 400),
    (
        "two assistant turns",
        encode(
            {
                "messages": [
                    HELLO,
                    {"role": "assistant", "content": [{"text": "a"}]},
                    {"role": "assistant", "content": [{"text": "b"}]},
                ]
            }
        ),
        400,
    ),
    (
        "tool result without tool use",
        encode({"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "x"}]}}]}]}),
        400,
    ),
    ("no messages", encode({"messages": []}), 400),
    ("empty content", encode({"messages": [{"role": "user", "content": []}]}), 400),
    ("blank text", encode({"messages": [{"role": "user", "content": [{"text": " \n\t"}]}]}), 400),
    ("empty text", encode({"messages": [{"role": "user", "content": [{"text": ""}]}]}), 400),
    ("unknown top-level field", encode({**CHAT_OK, "stream": True}), 400),
    ("unknown message field", encode({"messages": [{**HELLO, "name": "x"}]}), 400),
    ("unknown inference field", encode({**CHAT_OK, "inferenceConfig": {"top_k": 5}}), 400),
    ("temperature as string", encode({**CHAT_OK, "inferenceConfig": {"temperature": "0.5"}}), 400),
    ("temperature 1.5", encode({**CHAT_OK, "inferenceConfig": {"temperature": 1.5}}), 400),
    ("topP -0.1", encode({**CHAT_OK, "inferenceConfig": {"topP": -0.1}}), 400),
    ("maxTokens 0", encode({**CHAT_OK, "inferenceConfig": {"maxTokens": 0}}), 400),
    ("maxTokens 1.5", encode({**CHAT_OK, "inferenceConfig": {"maxTokens": 1.5}}), 400),
    ("maxTokens true", encode({**CHAT_OK, "inferenceConfig": {"maxTokens": True}}), 400),
    ("maxTokens past the schema", encode({**CHAT_OK, "inferenceConfig": {"maxTokens": 128_001}}), 400),
    ("five stop sequences", encode({**CHAT_OK, "inferenceConfig": {"stopSequences": ["a", "b", "c", "d", "e"]}}), 400),
    ("messages as an object", encode({"messages": HELLO}), 400),
    ("content as a string", encode({"messages": [{"role": "user", "content": "hi"}]}), 400),
    ("role system", encode({"messages": [{"role": "system", "content": [{"text": "hi"}]}]}), 400),
    (
        "two kinds in one block",
        encode(
            {"messages": [{"role": "user", "content": [{"text": "hi", "image": {"format": "png", "source": {"bytes": "aGk="}}}]}]}
        ),
        400,
    ),
    ("unknown tier", encode({**CHAT_OK, "tier": "huge"}), 400),
    ("not JSON", b"messages=hello", 400),
    ("JSON array", b"[]", 400),
    ("JSON null", b"null", 400),
    ("empty body", b"", 400),
    ("truncated JSON", b'{"messages": [{"role": "user", "content": [{"text": "hi"', 400),
    ("not UTF-8", b'{"messages": [{"role": "user", "content": [{"text": "\xc3\x28"}]}]}', 400),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + encode(CHAT_OK), 400),
    ("body over the limit", encode({"messages": [{"role": "user", "content": [{"text": "x" * 300_000}]}]}), 413),
    # issue 10: the forwarded Converse fields
    (
        "toolChoice names no tool",
        encode({**CHAT_OK, "toolConfig": {"tools": [TOOL], "toolChoice": {"tool": {"name": "nope"}}}}),
        400,
    ),
    ("two toolChoice kinds", encode({**CHAT_OK, "toolConfig": {"tools": [TOOL], "toolChoice": {"any": {}, "auto": {}}}}), 400),
    ("duplicate tool names", encode({**CHAT_OK, "toolConfig": {"tools": [TOOL, TOOL]}}), 400),
    ("no tools", encode({**CHAT_OK, "toolConfig": {"tools": []}}), 400),
    (
        "tool name with a space",
        encode({**CHAT_OK, "toolConfig": {"tools": [{"toolSpec": {**TOOL["toolSpec"], "name": "a b"}}]}}),
        400,
    ),
    ("tool use without toolConfig", encode({"messages": [HELLO, {"role": "assistant", "content": [TOOL_USE]}, HELLO]}), 400),
    (
        "tool use from the user",
        encode({"messages": [{"role": "user", "content": [TOOL_USE]}], "toolConfig": {"tools": [TOOL]}}),
        400,
    ),
    (
        "tool use input not an object",
        encode(
            {
                "messages": [
                    HELLO,
                    {"role": "assistant", "content": [{"toolUse": {**TOOL_USE["toolUse"], "input": "x"}}]},
                    HELLO,
                ],
                "toolConfig": {"tools": [TOOL]},
            }
        ),
        400,
    ),
    (
        "cache point ttl 2h",
        encode({"messages": [{"role": "user", "content": [{"text": "hi"}, {"cachePoint": {"type": "default", "ttl": "2h"}}]}]}),
        400,
    ),
    ("cache point without type", encode({**CHAT_OK, "system": [{"text": "s"}, {"cachePoint": {}}]}), 400),
    (
        "guardrail trace on",
        encode({**CHAT_OK, "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1", "trace": "on"}}),
        400,
    ),
    (
        "guardrail version v1",
        encode({**CHAT_OK, "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "v1"}}),
        400,
    ),
    ("service tier gold", encode({**CHAT_OK, "serviceTier": {"type": "gold"}}), 400),
    ("latency fast", encode({**CHAT_OK, "performanceConfig": {"latency": "fast"}}), 400),
    ("response field path not a pointer", encode({**CHAT_OK, "additionalModelResponseFieldPaths": ["stop_sequence"]}), 400),
    ("additional fields as a list", encode({**CHAT_OK, "additionalModelRequestFields": [1]}), 400),
    ("prompt variable without text", encode({**CHAT_OK, "promptVariables": {"city": {"value": "x"}}}), 400),
    ("output schema not JSON", encode({**CHAT_OK, "outputConfig": _output_config("{not json")}), 400),
    ("output format json_object", encode({**CHAT_OK, "outputConfig": {"textFormat": {"type": "json_object"}}}), 400),
    ("reserved metadata key", encode({**CHAT_OK, "requestMetadata": {"fmgw-tenant": "me"}}), 400),
    ("metadata value with ;", encode({**CHAT_OK, "requestMetadata": {"team": "a;b"}}), 400),
    ("metadata key with ;", encode({**CHAT_OK, "requestMetadata": {"a;b": "team"}}), 400),
    ("twelve metadata pairs", encode({**CHAT_OK, "requestMetadata": {f"k{i}": "v" for i in range(12)}}), 400),
    ("metadata value not a string", encode({**CHAT_OK, "requestMetadata": {"n": 1}}), 400),
]

OPENAI_HOSTILE: list[tuple[str, bytes, int]] = [
    ("NaN temperature", b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', 400),
    ("temperature 3", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}), 400),
    (
        "huge max_tokens",
        b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + b"9" * 4400 + b"}",
        400,
    ),
    (
        "max_tokens past the limit",
        encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}),
        400,
    ),
    ("assistant first", encode({"model": "auto", "messages": [{"role": "assistant", "content": "hi"}]}), 400),
    ("only a system message", encode({"model": "auto", "messages": [{"role": "system", "content": "be brief"}]}), 400),
    ("lone surrogate", b'{"model": "auto", "messages": [{"role": "user", "content": "\\ud800"}]}', 400),
    (
        "non-ASCII image base64",
        json.dumps(
            {
                "model": "auto",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk=ü"}}]}
                ],
            },
            ensure_ascii=False,
        ).encode(),
        400,
    ),
    (
        "remote image URL",
        encode(
            {
                "model": "auto",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}
                ],
            }
        ),
        400,
    ),
    (
        "stream_options without stream",
        encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": True}}),
        400,
    ),
    ("n = 2", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "n": 2}), 400),
    (
        "custom tool",
        encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "custom", "custom": {}}]}),
        400,
    ),
    ("logprobs", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "logprobs": True}), 400),
    ("seed", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "seed": 1}), 400),
    ("unknown field", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "best_of": 2}), 400),
    ("temperature 1.5", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 1.5}), 400),
    (
        "max_tokens conflict",
        encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "max_completion_tokens": 6}),
        400,
    ),
    (
        "Anthropic body",
        encode({"model": "auto", "system": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        400,
    ),
    ("Converse body", encode({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}), 400),
    (
        "tool message answering nothing",
        encode(
            {
                "model": "auto",
                "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "x", "content": "r"}],
            }
        ),
        400,
    ),
    (
        "unknown json_schema keyword",
        encode(
            {
                "model": "auto",
                "messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"if": {}}}},
            }
        ),
        400,
    ),
    (
        "fmgw- metadata key",
        encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "metadata": {"fmgw-tenant": "x"}}),
        400,
    ),
    ("tool role", encode({"model": "auto", "messages": [{"role": "tool", "content": "hi"}]}), 400),
    ("blank content", encode({"model": "auto", "messages": [{"role": "user", "content": "   "}]}), 400),
    ("empty stop", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stop": [""]}), 400),
    ("deep", encode({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "user": "u", "x": _nest(50)}), 400),
    ("no model", encode({"messages": [{"role": "user", "content": "hi"}]}), 400),
    ("unknown model", encode({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}), 400),
    ("not JSON", b"{", 400),
]


@pytest.mark.parametrize("route", CONVERSE_ROUTES)
def test_hand_written_hostile_converse_bodies(client, tally, route):
    before = len(tally.failures)
    for what, raw, status in CONVERSE_HOSTILE:
        got, payload = send(client, route, raw)
        tally.check(f"{what} {route}", got, payload, ["hand-written hostile"], allowed={status})
    assert tally.failures[before:] == []


def test_hand_written_hostile_openai_bodies(client, tally):
    before = len(tally.failures)
    for what, raw, status in OPENAI_HOSTILE:
        got, payload = send(client, "/v1/chat/completions", raw)
        tally.check(f"openai {what}", got, payload, ["hand-written hostile"], allowed={status})
    assert tally.failures[before:] == []


def test_valid_requests_still_answer(client, tally):
    """The other half of 'no 2xx for invalid input': the valid neighbours of the hostile cases pass."""
    before = len(tally.failures)
    image = {"image": {"format": "png", "source": {"bytes": base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()}}}
    for route, body, status in [
        ("/v1/jobs", {"messages": [HELLO], "metadata": _nest(30)}, 202),  # 32 levels in all: the limit itself
        ("/v1/chat", {"messages": [HELLO, {"role": "assistant", "content": [{"text": "hi"}]}, HELLO]}, 200),
        ("/v1/chat", {"messages": [{"role": "user", "content": [{"text": "What is this?"}, image]}], "tier": "medium"}, 200),
        ("/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": 1}, 200),
        (
            "/v1/chat/completions",
            {
                "model": "simple",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [],
                "logprobs": False,
                "frequency_penalty": 0,
                "store": False,
                "user": "u-1",
                "response_format": {"type": "json_object"},
            },
            200,
        ),
        # issue 10: the valid neighbours of the hostile field cases
        ("/v1/chat", {**CHAT_OK, "toolConfig": {"tools": [TOOL], "toolChoice": {"tool": {"name": "lookup"}}}}, 200),
        (
            "/v1/chat",
            {
                "messages": [
                    HELLO,
                    {"role": "assistant", "content": [TOOL_USE]},
                    {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"a": 1}}]}}]},
                ],
                "toolConfig": {"tools": [TOOL]},
            },
            200,
        ),
        ("/v1/chat", {**CHAT_OK, "system": [{"text": "s"}, {"cachePoint": {"type": "default", "ttl": "1h"}}]}, 200),
        (
            "/v1/chat",
            {**CHAT_OK, "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "DRAFT", "trace": "enabled"}},
            200,
        ),
        ("/v1/chat", {**CHAT_OK, "requestMetadata": {f"k{i}": "v a:l_u@e$#=/+,.-" for i in range(11)}}, 200),
        ("/v1/chat", {**CHAT_OK, "outputConfig": _output_config('{"type": "object"}'), "tier": "simple"}, 200),
        ("/v1/jobs", {**CHAT_OK, "serviceTier": {"type": "flex"}, "performanceConfig": {"latency": "optimized"}}, 202),
        ("/v1/chat", {**CHAT_OK, "additionalModelRequestFields": {"top_k": 5}, "additionalModelResponseFieldPaths": ["/x"]}, 200),
    ]:
        got, payload = send(client, route, encode(body))
        tally.check(f"valid {route}", got, payload, [], allowed={status})
    assert tally.failures[before:] == []


# ---- the Bedrock-native paths and /v1/embeddings ----------------------------------------------------------

ANTHROPIC_OK = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
INVOKE_HOSTILE: list[tuple[str, bytes]] = [
    ("empty object", b"{}"),
    ("not an object", b"[1, 2]"),
    ("Anthropic without max_tokens", encode({**ANTHROPIC_OK, "max_tokens": None})),
    ("Anthropic with an unknown field", encode({**ANTHROPIC_OK, "n": 3})),
    ("Anthropic assistant first", encode({**ANTHROPIC_OK, "messages": [{"role": "assistant", "content": "hi"}]})),
    ("Anthropic blank text", encode({**ANTHROPIC_OK, "messages": [{"role": "user", "content": "   "}]})),
    ("Anthropic bad image", encode({**ANTHROPIC_OK, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "a-_k"}}]}]})),
    ("Anthropic unknown block", encode({**ANTHROPIC_OK, "messages": [{"role": "user", "content": [{"type": "audio"}]}]})),
    ("Titan embedding without text", encode({"inputText": "", "dimensions": 256})),
    ("Titan embedding bad dimension", encode({"inputText": "x", "dimensions": 300})),
    ("lone surrogate", b'{"prompt": "hi \\ud800", "max_gen_len": 5}'),
    ("NaN", b'{"prompt": "hi", "max_gen_len": NaN}'),
    ("nested 40 levels", encode({"prompt": "hi", "x": _nest(40)})),
    ("truncated", encode(ANTHROPIC_OK)[:20]),
]  # fmt: skip


def test_native_invoke_paths_take_hostile_and_generated_bodies(client, tally):
    before = len(tally.failures)
    for index, (what, raw) in enumerate(INVOKE_HOSTILE):
        for route in INVOKE_ROUTES[index % 2 :: 2]:
            status, payload = send(client, route, raw)
            tally.check(f"invoke {what} {route}", status, payload, ["hand-written hostile"], allowed={400})
    # generated Converse bodies sent as InvokeModel bodies: whatever they are taken for, never a 5xx or a bad shape
    for index, body in enumerate(generated_chat_bodies()[::3]):
        route = INVOKE_ROUTES[index % len(INVOKE_ROUTES)]
        status, payload = send(client, route, encode(body))
        tally.check(f"invoke generated #{index} {route}", status, payload, [], allowed={200, 400, 404, 413})
    status, payload = send(client, "/model/claude-haiku-4-5/invoke", encode(ANTHROPIC_OK))
    tally.check("invoke valid Anthropic body", status, payload, [], allowed={200})
    status, payload = send(client, "/model/no-such-model/invoke", encode(ANTHROPIC_OK))
    tally.check("invoke unknown model", status, payload, ["unknown model"], allowed={404})
    assert tally.failures[before:] == []


def embeddings_problems(body: Any) -> list[str]:
    problems = json_problems(body)
    problems += [e.message for e in jsonschema.Draft4Validator(EMBEDDINGS_SCHEMA).iter_errors(body)]
    if problems or not isinstance(body, dict):
        return problems or ["not an object"]
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    if any(not text.strip() for text in texts):
        problems.append("blank input")
    return problems


def test_generated_embeddings_bodies(client, tally):
    before = len(tally.failures)
    schema = copy.deepcopy(EMBEDDINGS_SCHEMA)
    schema["properties"]["input"]["maxItems"] = 4
    for index, body in enumerate(generate(schema, 60)):
        # half of them name a real model and a dimension it has, so that valid bodies are answered too
        if index % 2:
            body = {**body, "model": "titan-embed-text-v2", "dimensions": 256}
        status, payload = send(client, "/v1/embeddings", encode(body))
        tally.check(f"embeddings generated #{index}", status, payload, embeddings_problems(body), allowed={200, 400, 404})
    for what, raw in [
        ("input of numbers", encode({"model": "auto", "input": [1, 2]})),
        ("NaN", b'{"model": "auto", "input": NaN}'),
    ]:
        status, payload = send(client, "/v1/embeddings", raw)
        tally.check(f"embeddings {what}", status, payload, ["hostile"], allowed={400})
    assert tally.failures[before:] == []


# ---- malformed HTTP against the real local server ------------------------------------------------------


def raw_exchange(url: str, data: bytes) -> tuple[int | None, bytes]:
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(data)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    return None, received
                received += chunk
            head, _, rest = received.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return int(head.split()[1]), rest[:length]
    except TimeoutError:
        return None, b""


def test_malformed_http_gets_json_errors(fuzz_gateway, tally):
    key = fuzz_gateway.keys[-1].encode()
    post = b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nx-api-key: " + key + b"\r\nContent-Type: application/json\r\n"
    body = encode(CHAT_OK)
    cases = [
        ("non-UTF-8 body", post + b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc", 400),
        ("negative Content-Length", post + b"Content-Length: -5\r\n\r\n", 400),
        ("non-numeric Content-Length", post + b"Content-Length: 1e3\r\n\r\n", 400),
        ("two Content-Length", post + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)) + body, 400),
        ("Content-Length past 10 MB", post + b"Content-Length: 10485761\r\n\r\n", 413),
        ("oversized header", b"GET /v1/health HTTP/1.1\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        ("too many headers", b"GET /v1/health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n", 431),
        ("malformed request line", b"NOT A REQUEST LINE AT ALL\r\n\r\n", 400),
        ("HTTP/0.9", b"GET /v1/health\r\n\r\n", 400),
        ("HTTP/3", b"GET /v1/health HTTP/3.0\r\n\r\n", 400),
        ("OPTIONS", b"OPTIONS /v1/chat HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("PROPFIND", b"PROPFIND /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("unknown resource", b"GET /v1/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        ("chunked", post + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), 200),
    ]
    before = len(tally.failures)
    for what, data, status in cases:
        got, payload = raw_exchange(fuzz_gateway.url, data)
        tally.check(f"http {what}", got, payload, ["malformed"] if status >= 400 else [], allowed={status})
    assert tally.failures[before:] == []


def test_accepted_jobs_never_fail_for_their_own_input(client, tally):
    """The jobs API validates what the worker needs: an accepted job fails only for a server-side reason,
    and the simulator has none. (Jobs still queued or running are not waited for.)"""
    assert tally.jobs, "some generated jobs should have been accepted"
    failed = []
    for job_id in tally.jobs:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == "FAILED":
            failed.append((job_id, job["error"]))
    assert failed == []


def test_the_whole_run(tally):
    """Runs last (pytest keeps file order; --dist loadfile keeps the file on one worker)."""
    assert tally.counts["requests"] >= 1000, tally.counts
    assert tally.counts["5xx"] == 0 and tally.counts["hangs"] == 0 and tally.counts["bad shapes"] == 0, tally.counts
    assert tally.counts["invalid accepted"] == 0, tally.counts
