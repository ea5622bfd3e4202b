"""Throttling is a routing signal (README "Throttling"): move to a healthy alternative at once; retry only the last
healthy candidate, with a short jittered backoff, within the sandbox's retry budget and the request budget."""

from __future__ import annotations

import random
import time

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.health.retry_budget import WINDOW_SECONDS, RetryBudget, backoff_seconds
from fmgateway.values.errors import InvocationError, Unavailable
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeInvoker, StaticSource

HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_PRO = "us.amazon.nova-pro-v1:0"
MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0"


class FlakyInvoker(FakeInvoker):
    """Fails the first ``failures[fragment]`` calls of a model with the given error, then answers."""

    def __init__(self, failures: dict[str, tuple[int, str, str]]):
        super().__init__()
        self.failures = failures

    def converse(self, invoke_id, request, deadline=None):
        for fragment, (count, kind, code) in self.failures.items():
            if fragment in invoke_id and count > 0:
                self.failures[fragment] = (count - 1, kind, code)
                self.calls.append((invoke_id, request))
                raise InvocationError(kind, code, f"simulated {code}")
        return super().converse(invoke_id, request, deadline)


@pytest.fixture
def build(config_doc, clock):
    def make(invoker, **retries):
        config_doc["retries"].update(retries)
        config_doc["circuitBreaker"].update(stateCacheSeconds=0)
        sleeps: list[float] = []
        gateway = Gateway(
            StaticSource(parse_config(config_doc)),
            invoker,
            CircuitBreaker(MemoryBreakerStore(), clock=clock),
            sleep=sleeps.append,
        )
        return gateway, sleeps

    return make


def medium() -> ChatRequest:
    return ChatRequest(HELLO, tier="medium")


def test_a_throttle_with_a_healthy_alternative_moves_to_it_at_once(build):
    invoker = FlakyInvoker({"claude-sonnet": (1, "throttled", "ThrottlingException")})
    gateway, sleeps = build(invoker)
    result = gateway.chat(medium())
    assert invoker.models_called == [SONNET, NOVA_PRO]  # no same-model retry
    assert sleeps == []
    assert [(a.model, a.outcome) for a in result.attempts] == [("claude-sonnet-4-5", "throttled"), ("nova-pro", "ok")]


def test_the_last_candidate_is_retried_with_a_short_jittered_backoff(build):
    invoker = FlakyInvoker(
        {
            "claude-sonnet": (1, "throttled", "ThrottlingException"),
            "nova-pro": (1, "unavailable", "ServiceUnavailableException"),
            "maverick": (2, "throttled", "ThrottlingException"),
        }
    )
    gateway, sleeps = build(invoker, maxAttempts=3, baseDelayMs=25, maxDelayMs=250)
    result = gateway.chat(medium())
    assert invoker.models_called == [SONNET, NOVA_PRO, MAVERICK, MAVERICK, MAVERICK]
    assert result.model.alias == "llama4-maverick"
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.025 and 0 <= sleeps[1] <= 0.05  # full jitter, doubling
    totals = gateway.health.totals(MAVERICK)  # each retried throttle is a failed call in the health window
    assert (totals.get("c"), totals.get("f"), totals.get("ft")) == (3, 2, 2)


def test_retries_stop_at_max_attempts(build):
    invoker = FlakyInvoker({fragment: (9, "throttled", "ThrottlingException") for fragment in ("sonnet", "nova-pro", "maverick")})
    gateway, sleeps = build(invoker, maxAttempts=2)
    with pytest.raises(Unavailable):
        gateway.chat(medium())
    assert invoker.models_called == [SONNET, NOVA_PRO, MAVERICK, MAVERICK] and len(sleeps) == 1


@pytest.mark.parametrize(("kind", "code"), [("timeout", "ModelTimeoutException"), ("model_error", "ModelErrorException")])
def test_timeouts_and_model_errors_are_never_retried_on_the_same_model(build, kind, code):
    invoker = FlakyInvoker({fragment: (9, kind, code) for fragment in ("sonnet", "nova-pro", "maverick")})
    gateway, sleeps = build(invoker, maxAttempts=3)
    with pytest.raises(Exception):  # noqa: B017 - 503, or 502 for two 424s in a row: either way no retry
        gateway.chat(medium())
    assert len(invoker.models_called) == len(set(invoker.models_called)) and sleeps == []


def test_an_open_alternative_is_not_healthy_so_the_current_one_is_retried(build, config_doc, clock):
    invoker = FlakyInvoker({"claude-sonnet": (1, "throttled", "ThrottlingException")})
    gateway, sleeps = build(invoker, maxAttempts=3)
    config = gateway.config.get()
    for key in (NOVA_PRO, MAVERICK):  # open both alternatives
        for _ in range(config.breaker["minimumCalls"]):
            gateway.breaker.record_failure(key, config.breaker, kind="unavailable")
    result = gateway.chat(medium())
    assert invoker.models_called == [SONNET, SONNET] and len(sleeps) == 1 and result.model.alias == "claude-sonnet-4-5"


def test_the_retry_budget_caps_retries_at_a_share_of_recent_calls(build, config_doc):
    config_doc["circuitBreaker"]["minimumCalls"] = 10**6  # an outage the breakers have not caught yet
    throttled = {fragment: (10**6, "throttled", "ThrottlingException") for fragment in ("sonnet", "nova-pro", "maverick")}
    invoker = FlakyInvoker(throttled)
    gateway, sleeps = build(invoker, maxAttempts=5, budgetRatio=0.1, minRetriesPerSecond=0)
    for _ in range(50):
        with pytest.raises(Unavailable):
            gateway.chat(medium())
    first_calls = 50 * 3
    retries = len(invoker.calls) - first_calls
    assert retries == len(sleeps)
    assert retries <= 0.1 * first_calls  # without the budget: 50 x 4 = 200 retries
    assert retries >= 0.1 * first_calls - 3  # and the budget is used, not just refused
    assert gateway.retry_budget.figures()["retries"] == retries


def test_no_retry_when_the_backoff_would_outlive_the_request_budget(build, config_doc):
    config_doc["timeouts"]["requestBudgetSeconds"] = 1.02  # MIN_ATTEMPT_SECONDS (1 s) + less than one backoff
    invoker = FlakyInvoker({fragment: (9, "throttled", "ThrottlingException") for fragment in ("sonnet", "nova-pro", "maverick")})
    gateway, sleeps = build(invoker, maxAttempts=3, baseDelayMs=2000, maxDelayMs=2000)
    random.seed(1)
    with pytest.raises(Exception):  # noqa: B017 - 503 or 504: out of budget either way
        gateway.chat(medium())
    assert sleeps == [] or all(s < 0.02 for s in sleeps)


def test_retry_budget_window_and_floor():
    now = [1000.0]
    budget = RetryBudget(clock=lambda: now[0])
    settings = {"budgetRatio": 0.1, "minRetriesPerSecond": 0.5}  # floor: 5 retries per 10 s window
    assert [budget.try_spend(settings) for _ in range(6)] == [True] * 5 + [False]
    for _ in range(100):
        budget.record_call()
    assert [budget.try_spend(settings) for _ in range(6)] == [True] * 5 + [False]  # 10 % of 100 = 10 in all
    now[0] += WINDOW_SECONDS  # the window has passed: calls and retries forgotten
    assert budget.figures() == {"calls": 0, "retries": 0, "windowSeconds": WINDOW_SECONDS}


def test_backoff_is_full_jitter_capped():
    rng = random.Random(5)
    settings = {"baseDelayMs": 25, "maxDelayMs": 250}
    assert all(0 <= backoff_seconds(1, settings, rng) <= 0.025 for _ in range(200))
    assert max(backoff_seconds(10, settings, rng) for _ in range(500)) <= 0.25
    assert max(backoff_seconds(10, settings, rng) for _ in range(500)) > 0.2


def test_the_orchestrated_profile_never_retries_in_the_loop(build, config_doc):
    invoker = FlakyInvoker({fragment: (1, "throttled", "ThrottlingException") for fragment in ("sonnet", "nova-pro", "maverick")})
    gateway, sleeps = build(invoker, maxAttempts=3)
    gateway.profile = "orchestrated"  # the state machine's Retry does the retrying
    start = time.perf_counter()
    with pytest.raises(Unavailable):
        gateway.chat(medium())
    assert invoker.models_called == [SONNET, NOVA_PRO, MAVERICK] and sleeps == [] and time.perf_counter() - start < 1
