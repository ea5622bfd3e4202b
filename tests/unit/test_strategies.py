"""Routing strategies: each one's order from given health figures, exploration share, cost with token estimates,
maxCostUsd honoured or refused, config validation (fmgateway.routing.strategies, Gateway.order)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.health.figures import HealthFigures, NoHealth
from fmgateway.routing import planner as routing
from fmgateway.routing import strategies
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import ConfigError, InvalidRequest
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeInvoker, StaticSource

HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]


class FixedHealth:
    """A HealthView over given figures, keyed by alias fragment of the health key."""

    def __init__(self, by_fragment: dict[str, HealthFigures]):
        self.by_fragment = by_fragment

    def figures(self, health_key: str) -> HealthFigures | None:
        return next((figures for fragment, figures in self.by_fragment.items() if fragment in health_key), None)


@pytest.fixture
def config(config_doc):
    return parse_config(config_doc)


def medium(config) -> list[Candidate]:  # claude-sonnet-4-5, nova-pro, llama4-maverick
    return [Candidate(config.catalog.models[alias]) for alias in config.tiers["medium"]]


def aliases(choice) -> list[str]:
    return [candidate.alias for candidate in choice.candidates]


def test_ordered_keeps_the_chain(config):
    choice = strategies.order({"strategy": "ordered"}, medium(config), NoHealth())
    assert aliases(choice) == ["claude-sonnet-4-5", "nova-pro", "llama4-maverick"]


def test_weighted_first_place_follows_the_weights(config):
    rng = random.Random(7)
    settings = {"strategy": "weighted", "weights": {"nova-pro": 3, "llama4-maverick": 1}}
    firsts = Counter(aliases(strategies.order(settings, medium(config), NoHealth(), rng=rng))[0] for _ in range(4000))
    assert set(firsts) == {"nova-pro", "llama4-maverick"}  # weight 0 never goes first
    assert firsts["nova-pro"] / 4000 == pytest.approx(0.75, abs=0.03)
    choice = strategies.order(settings, medium(config), NoHealth(), rng=rng)
    assert aliases(choice)[-1] == "claude-sonnet-4-5"  # unweighted: behind the weighted ones, still a fallback
    assert choice.describe()["figures"]["nova-pro"] == {"weight": 3.0}


def test_latency_puts_the_fastest_measured_healthy_candidate_first(config):
    health = FixedHealth(
        {
            "claude-sonnet": HealthFigures(calls=100, p50_ms=900.0, p99_ms=2000.0),
            "nova-pro": HealthFigures(calls=100, p50_ms=300.0, p99_ms=600.0),
            "maverick": HealthFigures(calls=100, failures=80, p50_ms=50.0),  # fastest, but failing
        }
    )
    choice = strategies.order({"strategy": "latency", "explorationShare": 0}, medium(config), health)
    assert aliases(choice) == ["nova-pro", "claude-sonnet-4-5", "llama4-maverick"]
    block = choice.describe()
    assert block["name"] == "latency" and block["figures"]["nova-pro"] == {"calls": 100, "errorRate": 0.0, "p50Ms": 300.0}
    assert "explored" not in block


def test_latency_by_ttft_and_unmeasured_candidates_first_until_measured(config):
    health = FixedHealth(
        {
            "claude-sonnet": HealthFigures(calls=50, p50_ms=100.0, ttft_p50_ms=400.0),
            "nova-pro": HealthFigures(calls=50, p50_ms=900.0, ttft_p50_ms=150.0),
            "maverick": HealthFigures(calls=2, p50_ms=900.0, ttft_p50_ms=900.0),  # under minCalls: measured first
        }
    )
    settings = {"strategy": "latency", "metric": "ttft", "explorationShare": 0}
    assert aliases(strategies.order(settings, medium(config), health)) == ["llama4-maverick", "nova-pro", "claude-sonnet-4-5"]
    # nothing known at all: the configured order
    assert aliases(strategies.order(settings, medium(config), NoHealth())) == [c.alias for c in medium(config)]


def test_exploration_share_sends_that_share_to_the_others(config):
    health = FixedHealth(
        {
            "claude-sonnet": HealthFigures(calls=100, p50_ms=45.0),
            "nova-pro": HealthFigures(calls=100, p50_ms=15.0),
            "maverick": HealthFigures(calls=100, p50_ms=30.0),
        }
    )
    rng = random.Random(3)
    settings = {"strategy": "latency", "explorationShare": 0.1}
    choices = [strategies.order(settings, medium(config), health, rng=rng) for _ in range(10000)]
    firsts = Counter(aliases(choice)[0] for choice in choices)
    explored = sum(1 for choice in choices if choice.explored)
    assert explored / 10000 == pytest.approx(0.1, abs=0.01)
    assert firsts["nova-pro"] == 10000 - explored
    # every other candidate gets at least share / (n - 1) of the first places: the exploration bound
    assert firsts["claude-sonnet-4-5"] / 10000 == pytest.approx(0.05, abs=0.008)
    assert firsts["llama4-maverick"] / 10000 == pytest.approx(0.05, abs=0.008)
    # an explored order keeps the others behind in their measured order
    assert all(
        aliases(c)[1:] in (["nova-pro", "llama4-maverick"], ["nova-pro", "claude-sonnet-4-5"]) for c in choices if c.explored
    )


def test_errors_orders_by_recent_error_rate(config):
    health = FixedHealth(
        {
            "claude-sonnet": HealthFigures(calls=100, failures=30, throttles=30),
            "nova-pro": HealthFigures(calls=100, failures=2),
            "maverick": HealthFigures(calls=100, failures=10),
        }
    )
    choice = strategies.order({"strategy": "errors"}, medium(config), health)
    assert aliases(choice) == ["nova-pro", "llama4-maverick", "claude-sonnet-4-5"]
    assert choice.describe()["figures"]["claude-sonnet-4-5"]["errorRate"] == 0.3


def test_cost_orders_by_estimated_cost_of_this_request(config):
    # sonnet 0.003/0.015, nova-pro 0.0008/0.0032, maverick: catalog prices; 1,000 input tokens, 500 output
    settings = {"strategy": "cost"}
    choice = strategies.order(settings, medium(config), NoHealth(), input_tokens=1000, max_tokens=500)
    costs = {c.alias: c.model.cost_usd(1000, 500) for c in medium(config)}
    assert aliases(choice) == sorted(costs, key=costs.get)
    assert choice.figures["nova-pro"] == {"estimatedCostUsd": costs["nova-pro"], "inputTokens": 1000, "outputTokens": 500}
    # the output estimate is capped at each model's own output limit
    cheap_out = strategies.estimated_cost(medium(config)[1], 10, 10**9)
    assert cheap_out == medium(config)[1].model.cost_usd(10, medium(config)[1].model.max_output_tokens)


def test_cost_with_a_quality_floor_skips_candidates_below_it(config):
    settings = {
        "strategy": "cost",
        "quality": {"claude-sonnet-4-5": 0.9, "nova-pro": 0.6, "llama4-maverick": 0.75},
        "minQuality": 0.7,
    }
    choice = strategies.order(settings, medium(config), NoHealth(), input_tokens=1000, max_tokens=500)
    assert "nova-pro" not in aliases(choice) and set(aliases(choice)) == {"claude-sonnet-4-5", "llama4-maverick"}
    assert "minQuality" in choice.describe()["dropped"]["nova-pro"]


def test_max_cost_usd_drops_dear_candidates_and_refuses_when_none_fits(config):
    pool = medium(config)
    nova = pool[1].model
    ceiling = nova.cost_usd(1000, 500) * 1.01  # nova-pro fits; sonnet does not
    choice = strategies.order({"strategy": "ordered"}, pool, NoHealth(), input_tokens=1000, max_tokens=500, max_cost_usd=ceiling)
    assert "claude-sonnet-4-5" not in aliases(choice) and "nova-pro" in aliases(choice)
    assert "over maxCostUsd" in choice.describe()["dropped"]["claude-sonnet-4-5"]
    with pytest.raises(InvalidRequest, match=r"body\.maxCostUsd: 1e-09 USD is below what any candidate may cost"):
        strategies.order({"strategy": "cost"}, pool, NoHealth(), input_tokens=1000, max_tokens=500, max_cost_usd=1e-9)


def gateway_for(config_doc, health=None) -> Gateway:
    return Gateway(
        StaticSource(parse_config(config_doc)), FakeInvoker(), CircuitBreaker(MemoryBreakerStore()), health_view=health
    )


def test_the_gateway_answers_from_the_cheapest_fitting_model_and_reports_the_strategy(config_doc):
    config_doc["tierStrategies"] = {"medium": {"strategy": "cost"}}
    gateway = gateway_for(config_doc)
    result = gateway.chat(ChatRequest(HELLO, tier="medium", inference={"maxTokens": 200}))
    features = routing.extract_features(HELLO, None, 200)
    cheapest = min(medium(parse_config(config_doc)), key=lambda c: strategies.estimated_cost(c, features.input_tokens, 200))
    assert result.model.alias == cheapest.alias
    block = result.gateway_block()["strategy"]
    assert block["name"] == "cost" and block["order"][0] == cheapest.alias
    assert block["figures"][cheapest.alias]["inputTokens"] == features.input_tokens


def test_max_cost_usd_through_the_gateway(config_doc):
    gateway = gateway_for(config_doc)
    with pytest.raises(InvalidRequest, match=r"body\.maxCostUsd"):
        gateway.chat(ChatRequest(HELLO, tier="complex", inference={"maxTokens": 4000}, max_cost_usd=0.000001))
    # a model asked for by name that may cost more than the ceiling is refused, naming it
    with pytest.raises(InvalidRequest, match=r"body\.maxCostUsd: claude-opus-4-1 may cost up to"):
        gateway.chat(ChatRequest(HELLO, model="claude-opus-4-1", inference={"maxTokens": 4000}, max_cost_usd=0.1))
    result = gateway.chat(ChatRequest(HELLO, tier="complex", inference={"maxTokens": 4000}, max_cost_usd=0.1))
    assert result.model.alias != "claude-opus-4-1"  # 4,000 output tokens of opus may cost 0.30 USD
    assert "claude-opus-4-1" in result.gateway_block()["strategy"]["dropped"]


def test_latency_strategy_in_the_gateway_and_the_orchestrated_plan(config_doc):
    config_doc["tierStrategies"] = {"simple": {"strategy": "latency", "explorationShare": 0}}
    health = FixedHealth(
        {
            "haiku": HealthFigures(calls=40, p50_ms=45.0),
            "nova-lite": HealthFigures(calls=40, p50_ms=15.0),
            "llama3-3": HealthFigures(calls=40, p50_ms=30.0),
        }
    )
    gateway = gateway_for(config_doc, health)
    prepared = gateway.prepare(ChatRequest(HELLO, tier="simple"))
    assert [c.alias for c in prepared.plan.candidates] == ["nova-lite", "llama3-3-70b", "claude-haiku-4-5"]
    # the state machine's Plan task runs the same prepare; its JSON carries the order and the strategy block
    from fmgateway.core import orchestration

    out = orchestration.plan(gateway, {"request": {"messages": HELLO, "tier": "simple"}, "startedAt": "2026-11-29T00:00:00Z"})
    assert [c["alias"] for c in out["candidates"]] == ["nova-lite", "llama3-3-70b", "claude-haiku-4-5"]
    assert out["strategy"]["name"] == "latency"
    assert gateway.chat(ChatRequest(HELLO, tier="simple")).model.alias == "nova-lite"


@pytest.mark.parametrize(
    ("strategies_section", "message"),
    [
        ({"huge": {"strategy": "cost"}}, "config.tierStrategies.huge: unknown tier 'huge'"),
        (
            {"simple": {"strategy": "weighted", "weights": {"nova-pro": 1}}},
            "config.tierStrategies.simple.weights.nova-pro: not a candidate",
        ),
        ({"simple": {"strategy": "weighted", "weights": {"nova-lite": 0}}}, "needs a weight above 0"),
        ({"simple": {"strategy": "latency", "minQuality": 0.5}}, "only the 'cost' strategy has a quality floor"),
        (
            {"simple": {"strategy": "cost", "quality": {"nova-lite": 0.3}, "minQuality": 0.5}},
            "no candidate of tier 'simple' has quality",
        ),
        (
            {"simple": {"strategy": "weighted", "weights": {"nova-lite": 1}, "explorationShare": 0.1}},
            "only 'latency' and 'errors' explore",
        ),
        ({"simple": {"strategy": "fastest"}}, "config.tierStrategies.simple.strategy"),
        ({"simple": {"strategy": "latency", "explorationShare": 0.9}}, "config.tierStrategies.simple.explorationShare"),
    ],
)
def test_bad_strategy_config_is_refused_with_the_field(config_doc, strategies_section, message):
    config_doc["tierStrategies"] = strategies_section
    with pytest.raises(ConfigError) as raised:
        parse_config(config_doc)
    assert message in str(raised.value)


def test_the_old_list_form_of_tiers_stays_valid_and_ordered(config_doc):
    config = parse_config(config_doc)
    assert "tierStrategies" not in config_doc
    assert strategies.settings_for(config.raw, "simple") == {"strategy": "ordered"}
