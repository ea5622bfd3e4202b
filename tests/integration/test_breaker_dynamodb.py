"""The breaker scenario table against the DynamoDB store (moto): same rules, real conditional writes."""

import pytest

from fmgateway.aws.health_store import DynamoHealthStore
from fmgateway.aws.stores import DynamoBreakerStore, DynamoResponseStore
from fmgateway.health.breaker import BreakerState, CircuitBreaker
from fmgateway.health.monitor import HealthMonitor
from tests.breaker_scenarios import BREAKER as SETTINGS
from tests.breaker_scenarios import SCENARIOS
from tests.integration.conftest import BREAKER_TABLE, CACHE_TABLE, HEALTH_TABLE
from tests.unit.test_breaker import run_scenario


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_table_on_dynamodb(dynamodb, clock, name):
    store = DynamoBreakerStore(dynamodb, BREAKER_TABLE)
    health = HealthMonitor(DynamoHealthStore(dynamodb, HEALTH_TABLE), clock=clock)  # the rate rule reads DynamoDB too
    run_scenario(CircuitBreaker(store, clock=clock, health=health), store, clock, SCENARIOS[name], key=f"model-{name[:10]}")


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
        "calls": 0,
    }
    assert store.put("m", record, expected_version=0) is False  # someone created it first
    assert store.put("m", record, expected_version=1) is True
    assert store.put("m", record, expected_version=1) is False  # version moved on
    assert store.get("m") == (record, 2)
    assert store.get_many(["m", "absent"]) == {"m": (record, 2), "absent": (None, 0)}  # read, and no record


def test_breakers_in_two_lambdas_share_the_table(dynamodb, clock):
    """Two sandboxes, neither with the minimum number of calls alone: their health items in DynamoDB add up."""
    store, health = DynamoBreakerStore(dynamodb, BREAKER_TABLE), DynamoHealthStore(dynamodb, HEALTH_TABLE)
    first, second = (CircuitBreaker(store, clock=clock, health=HealthMonitor(health, clock=clock)) for _ in range(2))
    first.record_failure("shared", SETTINGS, caller="a")
    second.record_failure("shared", SETTINGS, caller="b")
    assert second.admit("shared", SETTINGS) == "allow"
    clock.advance(1)
    first.record_failure("shared", SETTINGS, caller="c")
    assert second.admit("shared", SETTINGS) == "skip"
    assert BreakerState.from_record(store.get("shared")[0]).calls == 3


def test_health_items_add_up_in_dynamodb(dynamodb):
    """UpdateItem ADD from two writers into one item, TTL set, and a batch read that leaves out missing items."""
    store = DynamoHealthStore(dynamodb, HEALTH_TABLE)
    store.add(("m", 0, 100), {"c": 2, "f": 1, "k3": 1, "om": 12.5}, expires_at=5000)
    store.add(("m", 0, 100), {"c": 1, "l12": 1}, expires_at=5000)
    assert store.get_many([("m", 0, 100), ("m", 1, 100)]) == {("m", 0, 100): {"c": 3, "f": 1, "k3": 1, "om": 12.5, "l12": 1}}
    item = dynamodb.get_item(TableName=HEALTH_TABLE, Key={"pk": {"S": "m#0#100"}})["Item"]
    assert item["expiresAt"] == {"N": "5000"}


def test_response_store_honours_its_own_expiry(dynamodb, clock):
    store = DynamoResponseStore(dynamodb, CACHE_TABLE, clock=clock)
    store.put("k", {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, ttl_seconds=60)
    assert store.get("k")["message"]["content"][0]["text"] == "hi"
    clock.advance(61)
    assert store.get("k") is None  # DynamoDB TTL deletes lazily; reads must not serve expired items
