import pytest

from fmgateway.aws.stores import MemoryBreakerStore, MemoryResponseStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.cache import ResponseCache, request_key
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.values.errors import InvalidRequest, ModelError, Unavailable, UpstreamTimeout
from fmgateway.values.exchange import ChatRequest
from fmgateway.values.model import Model
from tests.fakes import FakeInvoker, StaticSource, answer

HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_PRO = "us.amazon.nova-pro-v1:0"
MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0"


@pytest.fixture
def parts(config_doc, clock):
    config_doc["circuitBreaker"].update(failureRateThreshold=50, minimumCalls=2, stateCacheSeconds=0)
    invoker = FakeInvoker()
    breakers = MemoryBreakerStore()
    responses = MemoryResponseStore(clock=clock)
    gateway = Gateway(
        StaticSource(parse_config(config_doc)),
        invoker,
        CircuitBreaker(breakers, clock=clock),
        ResponseCache(responses, background=False),
    )
    return gateway, invoker, breakers, responses


def medium(**kwargs) -> ChatRequest:
    return ChatRequest(messages=HELLO, tier="medium", **kwargs)


def test_primary_answers(parts):
    gateway, invoker, breakers, _ = parts
    result = gateway.chat(medium())
    assert result.model.alias == "claude-sonnet-4-5"
    assert [a.outcome for a in result.attempts] == ["ok"]
    assert invoker.models_called == [SONNET]
    assert breakers.writes == 0  # healthy success: no breaker write
    block = result.gateway_block()
    assert block["route"] == "tier:medium" and block["degraded"] is False and block["overheadMs"] >= 0


def test_primary_throttled_secondary_answers(parts):
    gateway, invoker, _, _ = parts
    invoker.fail["claude-sonnet"] = ("throttled", "ThrottlingException")
    result = gateway.chat(medium())
    assert result.model.alias == "nova-pro"
    assert [(a.model, a.outcome, a.code) for a in result.attempts] == [
        ("claude-sonnet-4-5", "throttled", "ThrottlingException"),
        ("nova-pro", "ok", None),
    ]


@pytest.mark.parametrize("kind", ["unavailable", "timeout", "model_error"])
def test_every_transient_failure_falls_back(parts, kind):
    gateway, invoker, _, _ = parts
    invoker.fail["claude-sonnet"] = (kind, "X")
    assert gateway.chat(medium()).model.alias == "nova-pro"


def test_breaker_opens_and_the_model_is_skipped(parts):
    gateway, invoker, breakers, _ = parts
    invoker.fail["claude-sonnet"] = ("unavailable", "ServiceUnavailableException")
    gateway.chat(medium())
    gateway.chat(medium())  # second failure reaches the threshold of 2
    invoker.calls.clear()
    result = gateway.chat(medium())
    assert result.attempts[0].outcome == "skipped" and result.attempts[0].code == "circuit_open"
    assert invoker.models_called == [NOVA_PRO]


def test_client_error_is_returned_without_fallback_or_breaker_count(parts):
    gateway, invoker, breakers, _ = parts
    invoker.fail["claude-sonnet"] = ("invalid", "ValidationException")
    for _ in range(3):
        with pytest.raises(InvalidRequest, match="claude-sonnet-4-5 rejected the request"):
            gateway.chat(medium())
    assert invoker.models_called == [SONNET] * 3
    assert breakers.writes == 0


def test_access_error_is_502_without_fallback(parts):
    gateway, invoker, breakers, _ = parts
    invoker.fail["claude-sonnet"] = ("access", "AccessDeniedException")
    with pytest.raises(ModelError, match="AccessDeniedException"):
        gateway.chat(medium())
    assert invoker.models_called == [SONNET] and breakers.writes == 0


def test_all_fail_serves_the_cached_answer_marked_degraded(parts):
    gateway, invoker, _, _ = parts
    first = gateway.chat(medium())
    for fragment in ("claude-sonnet", "nova-pro", "maverick"):
        invoker.fail[fragment] = ("unavailable", "ServiceUnavailableException")
    result = gateway.chat(medium())
    assert result.degraded is True
    assert result.message == first.message
    assert result.cost_usd == 0
    # the last candidate is retried (retries.maxAttempts 4 in all) within the retry budget: no healthy one is left
    assert [a.outcome for a in result.attempts] == ["unavailable"] * 6
    assert [a.model for a in result.attempts][2:] == ["llama4-maverick"] * 4


def test_cache_matches_normalised_requests_only(parts):
    gateway, invoker, _, _ = parts
    gateway.chat(medium())
    for fragment in ("claude-sonnet", "nova-pro", "maverick"):
        invoker.fail[fragment] = ("unavailable", "ServiceUnavailableException")
    spaced = [{"role": "user", "content": [{"text": "  Hello \n"}]}]
    assert gateway.chat(ChatRequest(messages=spaced, tier="medium")).degraded
    with pytest.raises(Unavailable):
        gateway.chat(ChatRequest(messages=[{"role": "user", "content": [{"text": "Bye"}]}], tier="medium"))


def test_all_fail_without_cache_is_503_with_retry_after(parts):
    gateway, invoker, _, _ = parts
    for fragment in ("claude-sonnet", "nova-pro", "maverick"):
        invoker.fail[fragment] = ("throttled", "ThrottlingException")
    with pytest.raises(Unavailable) as raised:
        gateway.chat(medium())
    assert raised.value.status == 503
    assert int(raised.value.headers()["Retry-After"]) >= 1
    assert "claude-sonnet-4-5 (ThrottlingException)" in raised.value.message


def test_retry_after_follows_the_open_breakers(parts, clock):
    gateway, invoker, _, _ = parts
    for fragment in ("claude-sonnet", "nova-pro", "maverick"):
        invoker.fail[fragment] = ("unavailable", "ServiceUnavailableException")
    for _ in range(2):
        with pytest.raises(Unavailable):
            gateway.chat(medium())
    clock.advance(10)
    with pytest.raises(Unavailable) as raised:
        gateway.chat(medium())
    assert raised.value.retry_after == 21  # cooldown 30 s, opened 10 s ago


def test_request_budget_exhausted_is_504(parts, config_doc):
    gateway, invoker, _, _ = parts
    gateway.config.config.raw["timeouts"]["requestBudgetSeconds"] = 0.5  # below the 1 s minimum per attempt
    with pytest.raises(UpstreamTimeout):
        gateway.chat(medium())
    assert invoker.calls == []


def test_max_tokens_default_and_per_model_clamp(parts):
    gateway, invoker, _, _ = parts
    gateway.chat(ChatRequest(messages=HELLO, model="claude-3-haiku", inference={"maxTokens": 60000}))
    assert invoker.calls[0][1]["inferenceConfig"]["maxTokens"] == 4096  # claude-3-haiku's output limit
    invoker.calls.clear()
    gateway.chat(medium())
    assert invoker.calls[0][1]["inferenceConfig"]["maxTokens"] == 1024  # config defaults.maxTokens


def test_system_prompt_is_passed_through(parts):
    gateway, invoker, _, _ = parts
    gateway.chat(medium(system=[{"text": "Be brief."}]))
    assert invoker.calls[0][1]["system"] == [{"text": "Be brief."}]


def test_cost_from_usage_and_catalog_prices(parts):
    gateway, invoker, _, _ = parts
    invoker.responses["claude-sonnet"] = answer(input_tokens=1200, output_tokens=300)
    result = gateway.chat(medium())
    # 1.2k input at $0.003 + 0.3k output at $0.015
    assert result.cost_usd == pytest.approx(0.0036 + 0.0045)
    assert result.usage == {"inputTokens": 1200, "outputTokens": 300, "totalTokens": 1500}


def test_cost_arithmetic_is_exact_for_a_single_token():
    model = Model("m", "a.b", "amazon", "us", 1000, 100, frozenset({"text"}), frozenset({"*"}), 0.000035, 0.00014, "active", None)
    assert model.cost_usd(1, 1) == pytest.approx(0.000000175)
    assert model.cost_usd(1_000_000, 0) == pytest.approx(0.035)


def test_request_key_ignores_key_order_and_whitespace():
    a = request_key("tier:medium", HELLO, None, {"maxTokens": 5, "temperature": 0})
    b = request_key("tier:medium", [{"content": [{"text": "Hello  "}], "role": "user"}], [], {"temperature": 0, "maxTokens": 5})
    assert a == b
    assert a != request_key("tier:simple", HELLO, None, {"maxTokens": 5, "temperature": 0})


def test_a_probe_that_meets_a_client_error_frees_its_slot(parts, clock):
    gateway, invoker, breakers, _ = parts
    invoker.fail["claude-sonnet"] = ("unavailable", "ServiceUnavailableException")
    gateway.chat(medium())
    gateway.chat(medium())  # threshold 2: open
    clock.advance(31)
    invoker.fail["claude-sonnet"] = ("invalid", "ValidationException")
    with pytest.raises(InvalidRequest):
        gateway.chat(medium())  # the probe went out and the request was bad
    invoker.fail.clear()
    assert gateway.chat(medium()).model.alias == "claude-sonnet-4-5"  # the slot came back: probed again


def test_out_of_budget_does_not_take_a_probe_slot(parts, clock):
    gateway, invoker, breakers, _ = parts
    invoker.fail["claude-sonnet"] = ("unavailable", "ServiceUnavailableException")
    gateway.chat(medium())
    gateway.chat(medium())
    clock.advance(31)
    gateway.config.config.raw["timeouts"]["requestBudgetSeconds"] = 0.5
    never_answered = [{"role": "user", "content": [{"text": "a new question"}]}]
    with pytest.raises(UpstreamTimeout):
        gateway.chat(ChatRequest(messages=never_answered, tier="medium"))
    record, _ = breakers.get(SONNET)
    assert record["state"] == "OPEN"  # untouched: no probe was claimed
