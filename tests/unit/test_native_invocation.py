"""What a path's modelId means, which candidates can take a native body, and the invoke step: the caller's body
unchanged to its own family, a translation to another, the answer in the caller's shape either way."""

from __future__ import annotations

import json

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.native import bodies, invocation
from fmgateway.native import llama as llama_module
from fmgateway.native import nova as nova_module
from fmgateway.values.errors import InvalidRequest, InvocationError, NotFound, Unavailable
from tests.fakes import StaticSource

ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_LITE = "us.amazon.nova-lite-v1:0"


class NativeInvoker:
    """InvokeModel answering in each family's own shape; ``down`` model ids fail."""

    def __init__(self):
        self.calls: list[tuple[str, dict, dict | None]] = []
        self.down: set[str] = set()

    def configure(self, settings: dict) -> None:
        pass

    def invoke_model(self, invoke_id: str, body: dict, deadline: float | None = None, metadata: dict | None = None):
        self.calls.append((invoke_id, body, metadata))
        if invoke_id in self.down:
            raise InvocationError("unavailable", "ServiceUnavailableException", "down")
        if "anthropic" in invoke_id:
            answer = {"type": "message", "content": [{"type": "text", "text": "from claude"}], "stop_reason": "end_turn",
                      "usage": {"input_tokens": 3, "output_tokens": 2}}  # fmt: skip
        elif "nova" in invoke_id:
            answer = {"output": {"message": {"role": "assistant", "content": [{"text": "from nova"}]}}, "stopReason": "end_turn",
                      "usage": {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6}}  # fmt: skip
        else:
            answer = {"generation": "from llama", "prompt_token_count": 5, "generation_token_count": 2, "stop_reason": "stop"}
        return json.dumps(answer).encode(), {}


@pytest.fixture
def parts(config_doc):
    invoker = NativeInvoker()
    return Gateway(StaticSource(parse_config(config_doc)), invoker, CircuitBreaker(MemoryBreakerStore())), invoker


def _run(gateway, model_id: str, body: dict):
    config = gateway.config.get()
    family, request = invocation.invoke_request(config, invocation.resolve(config, model_id), body)
    prepared = invocation.fit(gateway, gateway.prepare(request), family)
    raw, result = invocation.invoke(gateway, family, body, prepared)
    return json.loads(raw), result


def test_model_ids_resolve_to_tiers_auto_aliases_and_catalog_ids(parts):
    config = parts[0].config.get()
    assert invocation.resolve(config, "simple").selector == {"tier": "simple"}
    assert invocation.resolve(config, "auto").selector == {"model": "auto"}
    encoded = invocation.resolve(config, "anthropic.claude-haiku-4-5-20251001-v1%3A0")  # as botocore sends it
    assert encoded.selector == {"model": "anthropic.claude-haiku-4-5-20251001-v1:0"} and encoded.family == "anthropic"
    assert invocation.resolve(config, HAIKU).family == "anthropic"
    assert invocation.resolve(config, "titan-text-premier").family == "titan-text"  # retired: still its own body shape
    assert invocation.resolve(config, "amazon.titan-embed-text-v2:0").embedding.alias == "titan-embed-text-v2"
    with pytest.raises(NotFound, match="claude-haiku-4-5, "):
        invocation.resolve(config, "anthropic.claude-v2")


def test_the_callers_body_goes_unchanged_to_its_own_family(parts):
    gateway, invoker = parts
    answer, result = _run(gateway, "simple", ANTHROPIC)
    assert invoker.calls[0][:2] == (HAIKU, ANTHROPIC)
    assert answer["content"][0]["text"] == "from claude" and result.model.alias == "claude-haiku-4-5"
    assert invoker.calls[0][2]["fmgw-model"] == "claude-haiku-4-5"  # requestMetadata on InvokeModel too


def test_a_fallback_to_another_family_answers_in_the_callers_shape(parts):
    gateway, invoker = parts
    invoker.down.add(HAIKU)
    answer, result = _run(gateway, "claude-haiku-4-5", ANTHROPIC)
    sent = invoker.calls[-1][1]
    assert invoker.calls[-1][0] == NOVA_LITE and sent["schemaVersion"] == "messages-v1"
    assert sent["messages"] == [{"role": "user", "content": [{"text": "Hello"}]}]
    assert answer["type"] == "message" and answer["content"] == [{"type": "text", "text": "from nova"}]
    assert answer["usage"] == {"input_tokens": 4, "output_tokens": 2} and answer["model"] == NOVA_LITE
    assert [a.outcome for a in result.attempts] == ["unavailable", "ok"]


def test_candidates_that_cannot_take_the_body_are_dropped_and_the_one_asked_for_is_a_400(parts):
    gateway, invoker = parts
    body = {**ANTHROPIC, "top_k": 5}  # Anthropic's own setting: only an Anthropic model can take it
    config = gateway.config.get()
    family, request = invocation.invoke_request(config, invocation.resolve(config, "simple"), body)
    prepared = invocation.fit(gateway, gateway.prepare(request), family)
    assert [c.alias for c in prepared.plan.candidates] == ["claude-haiku-4-5"]
    assert {"nova-lite", "llama3-3-70b"} == {note.split()[0] for note in prepared.plan.notes if "skipped" in note}
    invoker.down.add(HAIKU)
    with pytest.raises(Unavailable):  # never sent to a family that would drop top_k
        invocation.invoke(gateway, family, body, prepared)
    assert {call[0] for call in invoker.calls} == {HAIKU}  # the last candidate may be retried within the retry budget
    invoker.calls.clear()
    with pytest.raises(InvalidRequest, match="cannot be sent to command-r-plus"):
        _run(gateway, "command-r-plus", ANTHROPIC)
    with pytest.raises(InvalidRequest, match="Meta Llama"):
        _run(gateway, "llama3-3-70b", ANTHROPIC)
    assert invoker.calls == []


def test_the_api_function_routes_exactly_the_native_paths():
    from fmgateway.serving import bedrock_routes
    from handlers import api

    assert set(bedrock_routes.ROUTES) == api.BEDROCK_PATHS
    assert all(api.more_routes(path) is bedrock_routes.ROUTES[path] for path in api.BEDROCK_PATHS)


def test_the_callers_max_tokens_is_capped_at_the_models_output_limit_without_touching_the_rest(parts):
    gateway, invoker = parts
    body = {**ANTHROPIC, "max_tokens": 100_000, "top_k": 7}
    _run(gateway, "claude-haiku-4-5", body)
    sent = invoker.calls[0][1]
    assert sent == {**body, "max_tokens": 64_000}  # claude-haiku-4-5's maxOutputTokens
    assert body["max_tokens"] == 100_000  # the caller's body itself is unchanged
    nova = {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"max_new_tokens": 50_000, "temperature": 0.1}}  # fmt: skip
    assert bodies.capped(nova, nova_module.MAX_TOKENS, 10_000)["inferenceConfig"] == {
        "max_new_tokens": 10_000,
        "temperature": 0.1,
    }
    assert nova["inferenceConfig"]["max_new_tokens"] == 50_000
    assert bodies.capped({"prompt": "x"}, llama_module.MAX_TOKENS, 10) == {"prompt": "x"}  # absent: the model's default
