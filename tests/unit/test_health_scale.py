"""The scale simulation of issue 14 (bench/health_scale.py, also a ``make bench`` table): 200 sandboxes sending
2,000 requests per second in all for 60 simulated seconds through the real health, breaker and store classes."""

from __future__ import annotations

import pytest

from bench import health_scale
from fmgateway.config.gateway_config import load_file
from tests.conftest import CONFIG_FILE

PARTITION_WCU_PER_SECOND = 1000


@pytest.fixture(scope="module")
def cfg():
    return load_file(CONFIG_FILE).breaker  # the shipped defaults


def check_write_load(outcome: health_scale.Outcome) -> None:
    assert outcome.max_item_wcu_per_second < PARTITION_WCU_PER_SECOND
    assert outcome.max_breaker_writes_per_second < PARTITION_WCU_PER_SECOND  # at most one attempt per sandbox
    assert outcome.max_writes_per_sandbox_interval <= 1  # one write per model per sandbox per flush interval


def test_background_errors_never_open_the_breaker(cfg):
    outcome = health_scale.simulate(cfg, "0.5 %", error_rate=0.005)
    assert outcome.opened_after is None and outcome.skipped == 0 and outcome.calls == 120_000
    check_write_load(outcome)
    assert outcome.health_writes_per_second <= 200  # N sandboxes: N writes per interval, not one per request


def test_a_failing_model_opens_within_the_bound(cfg):
    assert health_scale.open_bound(cfg, per_sandbox_rate=10) <= 5
    outcome = health_scale.simulate(cfg, "100 %", error_rate=1.0)
    assert outcome.opened_after is not None and outcome.opened_after <= outcome.bound
    check_write_load(outcome)


def test_a_sudden_outage_after_healthy_traffic_opens_within_the_bound(cfg):
    outcome = health_scale.simulate(cfg, "sudden", seconds=40, error_rate=0.005, outage_at=20)
    assert outcome.opened_after is not None and outcome.opened_after <= outcome.bound <= 5
    check_write_load(outcome)
