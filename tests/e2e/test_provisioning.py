"""``fmgw models provision`` and ``release`` against ``python -m local`` (issue 23): the cost shown, the question asked,
the switch once in service (the gateway then answers through the new ARN), release restoring the entry and deleting
the capacity, and a failed purchase leaving the configuration unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import TEST_ENV, start_gateway, stop_gateway, wait_until

PRICES = {"provisionedUnitHourlyUsd": {"none": 39.6, "1m": 30.0, "6m": 22.0}}
ASK = {"model": "nova-lite", "messages": [{"role": "user", "content": [{"text": "Hello"}]}]}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    config = json.loads(CONFIG_FILE.read_text())
    config["models"]["nova-lite"]["capacityPrices"] = PRICES
    path = tmp_path_factory.mktemp("provision") / "gateway.json"
    path.write_text(json.dumps(config, indent=2) + "\n")
    gateway = start_gateway(path)
    gateway.config_path = path
    yield gateway
    stop_gateway(gateway)


def fmgw(gw, *args: str, answer: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fmgw", "models", *args, "--config", str(gw.config_path), "--endpoint-url", gw.simulator]
    env = {**os.environ, **TEST_ENV}
    return subprocess.run(command, env=env, input=answer, capture_output=True, text=True, timeout=120)


def capacity(gw) -> list[dict]:
    listed = httpx.get(f"{gw.simulator}/_sim/capacity", timeout=5).json()
    return [item for items in listed.values() if isinstance(items, list) for item in items]


def answered_by(gw) -> dict:
    with gw.client() as http:
        response = http.post("/v1/chat", json=ASK, headers={"x-gateway-pin": "true"})
    assert response.status_code == 200, response.text
    return response.json()["gateway"]


def test_it_shows_the_cost_and_buys_nothing_when_the_answer_is_no(gw):
    before = gw.config_path.read_text()
    run = fmgw(gw, "provision", "nova-lite", "--units", "2", answer="n\n")
    assert run.returncode == 1 and "$79.20 an hour, about $57,816.00 a month" in run.stdout and "nothing bought" in run.stderr
    assert capacity(gw) == [] and gw.config_path.read_text() == before


def test_provision_switch_then_release(gw):
    original = json.loads(gw.config_path.read_text())
    run = fmgw(gw, "provision", "nova-lite", "--yes", "--switch")
    assert run.returncode == 0, run.stderr
    arn = json.loads(gw.config_path.read_text())["models"]["nova-lite"]["backend"]["arn"]
    assert f"switched nova-lite to {arn}" in run.stdout
    assert wait_until(lambda: answered_by(gw)["modelId"] == arn, timeout=10)
    assert answered_by(gw)["backend"] == "bedrock-provisioned"
    released = fmgw(gw, "release", "nova-lite", "--yes")
    assert released.returncode == 0, released.stderr
    assert json.loads(gw.config_path.read_text()) == original and f"deleted {arn}" in released.stdout
    assert all(item.get("arn") != arn for item in capacity(gw))
    assert wait_until(lambda: answered_by(gw)["modelId"] == "us.amazon.nova-lite-v1:0", timeout=10)


def test_a_failed_purchase_leaves_the_configuration_unchanged(gw):
    before = gw.config_path.read_text()
    httpx.put(f"{gw.simulator}/_sim/config", json={"capacity": {"failProvisioning": True}}, timeout=5).raise_for_status()
    try:
        run = fmgw(gw, "provision", "nova-lite", "--yes", "--switch")
    finally:
        httpx.put(f"{gw.simulator}/_sim/config", json={"capacity": {"failProvisioning": False}}, timeout=5)
    assert run.returncode == 1 and "the configuration is unchanged" in run.stderr
    assert gw.config_path.read_text() == before


def test_an_imported_model_is_refused_with_the_reason(gw, tmp_path):
    run = fmgw(gw, "provision", "gpt-9", "--yes")
    assert run.returncode == 2 and "not in the catalog" in run.stderr
