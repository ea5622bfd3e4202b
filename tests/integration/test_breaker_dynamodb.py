"""The breaker scenario table against the DynamoDB store (moto): same rules, real conditional writes."""

import pytest

from fmgateway.breaker import CircuitBreaker
from fmgateway.stores import DynamoBreakerStore, DynamoResponseStore
from tests.breaker_scenarios import SCENARIOS, SETTINGS
from tests.integration.conftest import BREAKER_TABLE, CACHE_TABLE
from tests.unit.test_breaker import run_scenario


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_table_on_dynamodb(dynamodb, clock, name):
    store = DynamoBreakerStore(dynamodb, BREAKER_TABLE)
    run_scenario(CircuitBreaker(store, clock=clock), store, clock, SCENARIOS[name], key=f"model-{name[:10]}")


def test_stale_writer_loses_the_conditional_update(dynamodb):
    store = DynamoBreakerStore(dynamodb, BREAKER_TABLE)
    assert store.put(
        "m",
        {"state": "CLOSED", "failures": 1, "windowStart": 1.0, "openUntil": 0, "probes": 0, "probeLeaseUntil": 0, "successes": 0},
        expected_version=0,
    )
    record = {
        "state": "OPEN",
        "failures": 0,
        "windowStart": 0,
        "openUntil": 5.5,
        "probes": 0,
        "probeLeaseUntil": 0,
        "successes": 0,
    }
    assert store.put("m", record, expected_version=0) is False  # someone created it first
    assert store.put("m", record, expected_version=1) is True
    assert store.put("m", record, expected_version=1) is False  # version moved on
    assert store.get("m") == (record, 2)
    assert store.get_many(["m", "absent"]) == {"m": (record, 2), "absent": (None, 0)}  # read, and no record


def test_breakers_in_two_lambdas_share_the_table(dynamodb, clock):
    store = DynamoBreakerStore(dynamodb, BREAKER_TABLE)
    first, second = CircuitBreaker(store, clock=clock), CircuitBreaker(store, clock=clock)
    for breaker in (first, second, first):
        breaker.record_failure("shared", SETTINGS)
    assert second.admit("shared", SETTINGS) == "skip"


def test_response_store_honours_its_own_expiry(dynamodb, clock):
    store = DynamoResponseStore(dynamodb, CACHE_TABLE, clock=clock)
    store.put("k", {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, ttl_seconds=60)
    assert store.get("k")["message"]["content"][0]["text"] == "hi"
    clock.advance(61)
    assert store.get("k") is None  # DynamoDB TTL deletes lazily; reads must not serve expired items
