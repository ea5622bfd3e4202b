"""Routing strategies (issue 14): in which order a tier's candidates are tried, from the live health picture.

``tierStrategies.<tier>`` in the configuration names one strategy per tier (a tier without an entry is
``ordered``: the configured chain, as before):

- ``ordered``: the configured chain;
- ``weighted``: a weighted random first choice (``weights``: alias -> share), the rest by weight, then the chain;
- ``latency``: lowest recent p50 (``metric: "p50"``) or time to first token (``"ttft"``) among candidates with
  at least ``minCalls`` calls and an error rate under ``maxErrorRate`` (candidates with fewer calls go first until
  they have them); with probability ``explorationShare`` (default 0.05) one of the others goes first, so a model
  that recovered is measured again;
- ``cost``: cheapest estimated cost for this request (catalog prices, estimated input tokens, the output
  tokens it may produce), among candidates that meet the optional quality floor (``quality`` + ``minQuality``);
- ``errors``: lowest recent error rate (throttles included), candidates with too few calls count as 0.

The first candidate in the strategy's order that the breaker admits is tried; the rest stay the fallback
chain, in that order. A request's ``maxCostUsd`` drops every candidate whose worst-case cost exceeds it,
whatever the strategy; none left is a 400 that names the field. ``Choice.describe()`` is the response's
``gateway.strategy`` block: which strategy chose and the figures it used.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from fmgateway.health.figures import HealthFigures, HealthView
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvalidRequest

STRATEGIES = ("ordered", "weighted", "latency", "cost", "errors")
DEFAULT_EXPLORATION = 0.05
MAX_EXPLORATION = 0.5  # more than this is load balancing, not exploration: use ``weighted``
DEFAULT_MIN_CALLS = 5
DEFAULT_MAX_ERROR_RATE = 0.5
_RNG = random.Random()


class Choice(NamedTuple):
    """The order a strategy chose, and what it chose it from (the ``gateway.strategy`` block)."""

    name: str
    candidates: list[Candidate]
    figures: dict[str, dict[str, Any]]
    explored: bool = False
    dropped: dict[str, str] = {}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "order": [candidate.alias for candidate in self.candidates]}
        if self.figures:
            out["figures"] = self.figures
        if self.explored:
            out["explored"] = True
        if self.dropped:
            out["dropped"] = self.dropped
        return out


def settings_for(raw_config: Mapping[str, Any], tier: str | None) -> dict[str, Any]:
    """The tier's strategy settings; ``ordered`` when none are configured."""
    if tier is None:
        return {"strategy": "ordered"}
    return dict(raw_config.get("tierStrategies", {}).get(tier) or {"strategy": "ordered"})


def estimated_cost(candidate: Candidate, input_tokens: int, output_tokens: int) -> float:
    """What this request may cost on this candidate: the prompt estimate plus ``output_tokens`` (capped at the model's
    own output limit)."""
    return candidate.model.cost_usd(input_tokens, min(output_tokens, candidate.model.max_output_tokens))


def order(
    settings: Mapping[str, Any],
    candidates: Sequence[Candidate],
    health: HealthView,
    *,
    input_tokens: int = 0,
    max_tokens: int = 1024,
    max_cost_usd: float | None = None,
    rng: random.Random | None = None,
) -> Choice:
    """Order ``candidates`` (already capability-filtered, in the configured order) by the strategy ``settings`` name."""
    rng = rng or _RNG
    name = settings.get("strategy", "ordered")
    pool = list(candidates)
    dropped: dict[str, str] = {}
    if max_cost_usd is not None:
        pool, dropped = within_cost(pool, input_tokens, max_tokens, max_cost_usd)
    if name == "weighted":
        choice = _weighted(settings, pool, rng)
    elif name == "latency":
        choice = _latency(settings, pool, health, rng)
    elif name == "cost":
        choice = _cheapest(settings, pool, input_tokens, max_tokens, dropped)
    elif name == "errors":
        choice = _fewest_errors(settings, pool, health, rng)
    else:
        choice = Choice("ordered", pool, {})
    return choice._replace(dropped={**dropped, **choice.dropped}) if dropped or choice.dropped else choice


def within_cost(
    pool: list[Candidate], input_tokens: int, max_tokens: int, ceiling: float, pinned: Candidate | None = None
) -> tuple[list[Candidate], dict[str, str]]:
    """The candidates whose worst-case cost for this request fits ``ceiling``, and why the others were dropped; a 400
    naming ``body.maxCostUsd`` when none fits, or when ``pinned`` (a model asked for by name) does not."""
    kept: list[Candidate] = []
    dropped: dict[str, str] = {}
    for candidate in pool:
        cost = estimated_cost(candidate, input_tokens, max_tokens)
        if cost <= ceiling:
            kept.append(candidate)
        else:
            dropped[candidate.alias] = f"may cost up to {cost:.6g} USD, over maxCostUsd {ceiling:g}"
    if pinned is not None and pinned.alias in dropped:
        raise InvalidRequest(f"body.maxCostUsd: {pinned.alias} {dropped[pinned.alias]} USD")
    if not kept:
        cheapest = min(estimated_cost(candidate, input_tokens, max_tokens) for candidate in pool)
        raise InvalidRequest(
            f"body.maxCostUsd: {ceiling:g} USD is below what any candidate may cost for this request (cheapest: "
            f"{cheapest:.6g} USD for ~{input_tokens} input tokens and up to {max_tokens} output tokens); raise it, "
            "lower inferenceConfig.maxTokens, or choose a cheaper tier"
        )
    return kept, dropped


def _weighted(settings: Mapping[str, Any], pool: list[Candidate], rng: random.Random) -> Choice:
    """Efraimidis-Spirakis: key u^(1/w) per candidate, highest first, so the first place falls to each candidate with
    probability weight / total; unweighted (0) candidates keep the configured order behind the weighted ones."""
    weights = settings.get("weights", {})
    keyed: list[tuple[float, int, Candidate]] = []
    for index, candidate in enumerate(pool):
        weight = float(weights.get(candidate.alias, 0))
        key = rng.random() ** (1.0 / weight) if weight > 0 else -1.0
        keyed.append((key, -index, candidate))
    keyed.sort(key=lambda item: (item[0], item[1]), reverse=True)
    ordered = [candidate for _, _, candidate in keyed]
    return Choice("weighted", ordered, {c.alias: {"weight": float(weights.get(c.alias, 0))} for c in pool})


def _figures(figures: HealthFigures | None) -> dict[str, Any]:
    if figures is None:
        return {"calls": 0}
    out: dict[str, Any] = {"calls": figures.calls, "errorRate": round(figures.error_rate, 4)}
    if figures.p50_ms is not None:
        out["p50Ms"] = round(figures.p50_ms, 1)
    if figures.ttft_p50_ms is not None:
        out["ttftP50Ms"] = round(figures.ttft_p50_ms, 1)
    return out


def _explore(ordered: list[Candidate], share: float, rng: random.Random) -> tuple[list[Candidate], bool]:
    """With probability ``share``, a uniformly chosen other candidate goes first (the rest keep their order)."""
    if len(ordered) < 2 or share <= 0 or rng.random() >= share:
        return ordered, False
    index = 1 + rng.randrange(len(ordered) - 1)
    return [ordered[index], *ordered[:index], *ordered[index + 1 :]], True


def _latency(settings: Mapping[str, Any], pool: list[Candidate], health: HealthView, rng: random.Random) -> Choice:
    metric = settings.get("metric", "p50")
    min_calls = int(settings.get("minCalls", DEFAULT_MIN_CALLS))
    max_error_rate = float(settings.get("maxErrorRate", DEFAULT_MAX_ERROR_RATE))
    figures = {candidate.alias: health.figures(candidate.health_key) for candidate in pool}

    def rank(item: tuple[int, Candidate]) -> tuple[int, float, int]:
        index, candidate = item
        seen = figures[candidate.alias]
        value = None if seen is None else (seen.ttft_p50_ms if metric == "ttft" else seen.p50_ms)
        if seen is None or seen.calls < min_calls or value is None:
            # not measured enough (new, or idle for a window): first, in configured order, until it has ``minCalls``
            # calls in the window; a sandbox counts its own calls at once, so that costs it at most ``minCalls`` calls
            return (0, 0.0, index)
        if seen.error_rate >= max_error_rate:
            return (2, value, index)  # failing: last, fastest first
        return (1, value, index)

    ordered = [candidate for _, candidate in sorted(enumerate(pool), key=rank)]
    ordered, explored = _explore(ordered, float(settings.get("explorationShare", DEFAULT_EXPLORATION)), rng)
    return Choice("latency", ordered, {alias: _figures(seen) for alias, seen in figures.items()}, explored)


def _fewest_errors(settings: Mapping[str, Any], pool: list[Candidate], health: HealthView, rng: random.Random) -> Choice:
    min_calls = int(settings.get("minCalls", DEFAULT_MIN_CALLS))
    figures = {candidate.alias: health.figures(candidate.health_key) for candidate in pool}

    def rate(item: tuple[int, Candidate]) -> tuple[float, int]:
        index, candidate = item
        seen = figures[candidate.alias]
        return (0.0 if seen is None or seen.calls < min_calls else seen.error_rate, index)

    ordered = [candidate for _, candidate in sorted(enumerate(pool), key=rate)]
    ordered, explored = _explore(ordered, float(settings.get("explorationShare", 0.0)), rng)
    return Choice("errors", ordered, {alias: _figures(seen) for alias, seen in figures.items()}, explored)


def _cheapest(
    settings: Mapping[str, Any], pool: list[Candidate], input_tokens: int, max_tokens: int, dropped: dict[str, str]
) -> Choice:
    quality = settings.get("quality", {})
    floor = settings.get("minQuality")
    output_tokens = int(settings.get("expectedOutputTokens", max_tokens))
    fitting: list[Candidate] = []
    below: dict[str, str] = {}
    for candidate in pool:
        if floor is not None and float(quality.get(candidate.alias, 0)) < floor:
            below[candidate.alias] = f"quality {quality.get(candidate.alias, 'unrated')} below minQuality {floor}"
        else:
            fitting.append(candidate)
    if pool and not fitting:
        raise InvalidRequest(
            "no candidate model can serve this request: "
            + "; ".join(f"{alias}: {reason}" for alias, reason in {**dropped, **below}.items())
        )
    costs = {candidate.alias: estimated_cost(candidate, input_tokens, output_tokens) for candidate in fitting}
    ordered = [candidate for _, candidate in sorted(enumerate(fitting), key=lambda item: (costs[item[1].alias], item[0]))]
    figures = {
        alias: {"estimatedCostUsd": cost, "inputTokens": input_tokens, "outputTokens": output_tokens}
        for alias, cost in costs.items()
    }
    return Choice("cost", ordered, figures, dropped=below)
