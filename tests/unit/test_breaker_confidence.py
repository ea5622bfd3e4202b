"""The rate rule's confidence bound (``circuitBreaker.rateConfidence``, default 95): a rate must be reached with
confidence, not by the luck of a small stretch, because the rule judges several stretches after every failure."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmgateway.health.breaker import rate_reached, trips, z_score
from fmgateway.health.stats import Counts

DEFAULTS = {"failureRateThreshold": 50, "minimumCalls": 20, "slowCallP95Multiple": 0}


@pytest.mark.parametrize(("confidence", "z"), [(50, 0.0), (80, 0.8416), (95, 1.6449), (99, 2.3263)])
def test_z_scores_are_the_normal_quantiles(confidence, z):
    assert z_score(confidence) == pytest.approx(z, abs=1e-4)


@given(calls=st.integers(1, 500), data=st.data(), threshold=st.floats(1, 100), confidence=st.sampled_from([50, 90, 95, 99]))
def test_the_bound_never_opens_below_the_observed_rule_and_always_on_a_full_outage(calls, data, threshold, confidence):
    hits = data.draw(st.integers(0, calls))
    z = z_score(confidence)
    if rate_reached(hits, calls, threshold, z):
        assert hits * 100 >= threshold * calls  # never stricter than the plain rate: only more cautious
    assert rate_reached(calls, calls, threshold, z)  # every call failed: an outage, at any size
    if hits < calls:
        assert rate_reached(hits, calls, threshold, 0) == (hits * 100 >= threshold * calls)


@given(calls=st.integers(2, 400), data=st.data())
def test_more_failures_never_close_what_fewer_opened(calls, data):
    hits = data.draw(st.integers(0, calls - 1))
    z = z_score(95)
    if rate_reached(hits, calls, 50, z):
        assert rate_reached(hits + 1, calls, 50, z)


def stream_trips(rate: float, settings: dict, seed: int, per_second: int = 40, seconds: int = 10) -> bool:
    """``per_second`` calls for ``seconds``, each failing with probability ``rate``, judged after every failure over
    2-second buckets as the health window gives them (newest stretch first)."""
    rng, buckets = random.Random(seed), {}
    for index in range(per_second * seconds):
        bucket = buckets.setdefault(index // (2 * per_second), [0, 0])
        bucket[0] += 1
        if rng.random() < rate:
            bucket[1] += 1
            recent, calls, failures = [], 0, 0
            for key in sorted(buckets, reverse=True):
                calls, failures = calls + buckets[key][0], failures + buckets[key][1]
                recent.append(Counts(calls, failures, 0, 0))
            if trips(recent, settings):
                return True
    return False


def test_a_thirty_percent_failure_rate_no_longer_opens_a_fifty_percent_breaker_by_chance():
    plain = sum(stream_trips(0.3, {**DEFAULTS, "rateConfidence": 50}, seed) for seed in range(300))
    bounded = sum(stream_trips(0.3, DEFAULTS, seed) for seed in range(300))
    assert plain > 45  # the old rule: over 15 % of the runs opened (about 27 %)
    assert bounded <= 3  # the default 95 %: about 0.1 %


@pytest.mark.parametrize("rate", [0.8, 1.0])
def test_a_real_outage_still_opens_within_the_minimum_calls(rate):
    recent = [Counts(20, 20 * rate, 0, 2)]
    assert trips(recent, DEFAULTS) == recent[0]


def test_a_rate_just_over_the_threshold_needs_more_calls_to_be_sure():
    assert trips([Counts(20, 12, 0, 2)], DEFAULTS) is None  # 60 % of 20: could be luck
    assert trips([Counts(80, 48, 0, 10)], DEFAULTS) == Counts(80, 48, 0, 10)  # 60 % of 80: not luck
    assert trips([Counts(20, 12, 0, 2)], {**DEFAULTS, "rateConfidence": 50}) == Counts(20, 12, 0, 2)


def test_the_slow_call_rule_is_judged_the_same_way():
    cfg = {**DEFAULTS, "slowCallMs": 1000, "slowCallRateThreshold": 80}
    assert trips([Counts(20, 0, 20, 2)], cfg) is not None  # all slow: a brownout
    assert trips([Counts(20, 0, 17, 2)], cfg) is None  # 85 % of 20
    assert trips([Counts(200, 0, 190, 20)], cfg) is not None  # 95 % of 200
