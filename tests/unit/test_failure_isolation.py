"""Failure isolation in the Lambda path's candidate loop: the shared table (tests/isolation_scenarios.py)."""

from __future__ import annotations

import pytest

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import FileConfigSource
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import BreakerState, CircuitBreaker
from fmgateway.values.errors import GatewayError
from fmgateway.values.exchange import ChatRequest
from tests.conftest import CONFIG_FILE
from tests.fakes import FakeInvoker
from tests.isolation_scenarios import ISOLATION, MEDIUM, MODEL_ERROR, THROTTLED, UNAVAILABLE

KINDS = {MODEL_ERROR: "model_error", UNAVAILABLE: "unavailable", THROTTLED: "throttled"}


@pytest.mark.parametrize("name", ISOLATION)
def test_isolation_table_in_the_lambda_path(name):
    outcomes, status, counted = ISOLATION[name]
    source = FileConfigSource(CONFIG_FILE)
    models = source.get().catalog.models
    store = MemoryBreakerStore()
    invoker = FakeInvoker()
    for alias, outcome in zip(MEDIUM, outcomes, strict=True):
        if outcome != "ok":
            invoker.fail[models[alias].invoke_id] = (KINDS[outcome], outcome)
    gateway = Gateway(source, invoker, CircuitBreaker(store))
    request = ChatRequest(messages=[{"role": "user", "content": [{"text": "Hello"}]}], tier="medium")
    try:
        result = gateway.chat(request)
        got = 200
        assert not result.degraded
    except GatewayError as err:
        got = err.status
        if got == 502:
            assert "both failed this request with ModelErrorException" in err.message and "simulated" in err.message
    assert got == status
    failures = tuple(gateway.health.totals(models[alias].invoke_id).get("f", 0) for alias in MEDIUM)
    assert failures == counted


def test_a_424_probe_that_never_counts_gives_its_slot_back(clock):
    from fmgateway.health.breaker import OPEN

    source = FileConfigSource(CONFIG_FILE)
    config = source.get()
    models = config.catalog.models
    store = MemoryBreakerStore()
    first = models["claude-sonnet-4-5"].invoke_id
    store.put(first, {**BreakerState(state=OPEN, openUntil=clock.now - 1).to_record()}, 0)
    invoker = FakeInvoker()
    invoker.fail[first] = ("model_error", MODEL_ERROR)
    invoker.fail[models["nova-pro"].invoke_id] = ("model_error", MODEL_ERROR)
    gateway = Gateway(source, invoker, CircuitBreaker(store, clock=clock))
    with pytest.raises(GatewayError):
        gateway.chat(ChatRequest(messages=[{"role": "user", "content": [{"text": "Hi"}]}], tier="medium"))
    record = BreakerState.from_record(store.get(first)[0])
    assert record.state == "HALF_OPEN" and record.probes == 0  # probed, no verdict: the slot is free again
