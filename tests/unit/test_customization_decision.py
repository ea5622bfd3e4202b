"""The promote rule (issue 24): promote iff the candidate's quality is within the margin of the baseline's and its cost
per 1,000 requests is lower; property-tested, so a cheaper-but-worse and a better-but-dearer candidate are both
rejected whatever the figures. Quality counts a failed answer as 0; capacity paid by the hour is amortised over the
expected requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmgateway.lifecycle.comparison import Observation, Row
from fmgateway.lifecycle.customization import decision
from fmgateway.lifecycle.customization.decision import Figures
from fmgateway.values.backends import Backend
from fmgateway.values.model import Model

qualities = st.floats(min_value=0, max_value=1, allow_nan=False)
costs = st.floats(min_value=0, max_value=100, allow_nan=False)
margins = st.floats(min_value=0, max_value=0.5, allow_nan=False)


def figures(name: str, quality: float, cost: float) -> Figures:
    return Figures(name, quality, cost, "test", {})


@given(qualities, qualities, costs, costs, margins)
def test_promote_exactly_when_good_enough_and_cheaper(base_q, cand_q, base_c, cand_c, margin):
    promote, reason = decision.rule(figures("base", base_q, base_c), figures("cand", cand_q, cand_c), margin)
    good = cand_q + decision.EPSILON >= base_q - margin
    assert promote == (good and cand_c < base_c)
    assert reason.startswith("promote cand" if promote else "reject cand")


@given(qualities, st.floats(min_value=0.0001, max_value=1), costs, st.floats(min_value=0.0001, max_value=10), margins)
def test_cheaper_but_worse_is_rejected(base_q, shortfall, base_c, saving, margin):
    cand_q = base_q - margin - shortfall
    promote, reason = decision.rule(figures("base", base_q, base_c + saving), figures("cand", cand_q, base_c), margin)
    assert not promote and "below base's" in reason and "not cheaper" not in reason


@given(qualities, st.floats(min_value=0, max_value=1), costs, st.floats(min_value=0, max_value=10), margins)
def test_better_but_dearer_is_rejected(base_q, gain, base_c, extra, margin):
    promote, reason = decision.rule(
        figures("base", base_q, base_c), figures("cand", min(1, base_q + gain), base_c + extra), margin
    )
    assert not promote and "(not cheaper)" in reason and "below" not in reason


def test_just_within_the_margin_is_good_enough_despite_float_noise():
    promote, _ = decision.rule(figures("base", 0.92, 1.0), figures("cand", 0.9, 0.5), 0.02)
    assert promote  # 0.92 - 0.02 is 0.9000000000000001 in floats


def row(model: str, score: float | None, error: str | None = None, cost: float = 0.0) -> Row:
    return Row(model, 1, 0, Observation("x", 100.0, 10.0, 5, cost, model, False, error), score, "", 0.0, False, error)


def test_quality_counts_a_failed_answer_as_zero_and_skips_unscored_cases():
    assert decision.quality([row("m", 1.0), row("m", None, error="ThrottlingException"), row("m", None)]) == 0.5
    assert decision.quality([row("m", None)]) is None


def test_hourly_capacity_is_amortised_over_the_expected_requests():
    base = Model("custom", "amazon.nova-lite-v1:0", "amazon", "us", 300000, 4096, frozenset({"text"}), frozenset({"*"}),
                 0.00006, 0.00024, "active", None)  # fmt: skip
    paid = base._replace(backend=Backend(kind="bedrock-custom-deployment", arn="arn:x", hourly_usd=2.5))
    found = decision.figures(paid, [row("custom", 1.0)], expected_per_hour=500)
    assert found.cost_per_1k == pytest.approx(5.0) and "$2.5 an hour amortised over 500 requests an hour" in found.basis
    on_demand = decision.figures(base, [row("custom", 1.0, cost=0.0004)], expected_per_hour=500)
    assert on_demand.cost_per_1k == pytest.approx(0.4) and on_demand.basis == "token prices of the answers"
