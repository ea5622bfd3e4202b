"""Choosing a model by measurement (issue 22): ``fmgw models compare`` and ``fmgw models list`` against
``python -m local``, the simulator scripted per prompt and per model, as a new user would run them.

Each model is pinned (``x-gateway-pin: true``): a pinned model that is down is an error status, never a fallback's
200 or a cached answer, and compare shows it as an error row."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import TEST_ENV, start_gateway, stop_gateway

IDS = {
    "nova-lite": "us.amazon.nova-lite-v1:0",
    "nova-pro": "us.amazon.nova-pro-v1:0",
    "claude-haiku-4-5": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
}
JUDGE_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
CASES = {"What is 2+2?": "4", "Capital of France?": "Paris", "Largest planet?": "Jupiter", "H2O is?": "water"}
MODELS = ",".join(IDS)


@pytest.fixture(scope="module")
def gw():
    gateway = start_gateway(CONFIG_FILE)
    yield gateway
    stop_gateway(gateway)


@pytest.fixture
def eval_set(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "expected": a}) + "\n" for p, a in CASES.items()))
    return path


def script(gw, wrong: str | None = None, judge_reply: str | None = None) -> None:
    """Every model answers every case right, except ``wrong``, which answers every case wrongly."""
    replies = {model_id: {p: ("nope" if alias == wrong else a) for p, a in CASES.items()} for alias, model_id in IDS.items()}
    if judge_reply is not None:
        replies[JUDGE_ID] = {"*": judge_reply}
    httpx.put(f"{gw.simulator}/_sim/config", json={"replies": replies}, timeout=5).raise_for_status()


@pytest.fixture(autouse=True)
def clean(gw):
    gw.reset_faults()
    yield
    gw.reset_faults()


def fmgw(gw, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fmgw", "models", *args, "--url", gw.url, "--key", gw.keys[-1]]
    environment = {**os.environ, **TEST_ENV, **(env or {})}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def figures(gw, tmp_path, eval_set, *extra: str) -> dict[str, dict]:
    out = tmp_path / "results.json"
    run = fmgw(gw, "compare", "--set", str(eval_set), "--models", MODELS, "--out", str(out), "--concurrency", "1", *extra)
    assert run.returncode == 0, run.stderr + run.stdout
    return {row["model"]: row for row in json.loads(out.read_text())}


def test_compare_prints_the_table_for_three_models_and_quality_follows_the_answers(gw, tmp_path, eval_set):
    script(gw)
    right = figures(gw, tmp_path, eval_set, "--repeat", "2")
    assert set(right) == set(IDS)
    for row in right.values():
        assert row["requests"] == 8 and row["errors"] == 0 and row["quality"] == 1.0
        assert row["p50Ms"] > 0 and row["ttftP50Ms"] > 0 and row["outputTokensPerSecond"] > 0
        assert row["costPer1kRequestsUsd"] > 0 and {"p99Ms", "ttftP99Ms", "costPerRequestUsd"} <= set(row)
    script(gw, wrong="nova-pro")
    wrong = figures(gw, tmp_path, eval_set)
    assert wrong["nova-pro"]["quality"] == 0.0
    assert wrong["nova-lite"]["quality"] == wrong["claude-haiku-4-5"]["quality"] == 1.0


def test_200_ms_more_latency_on_one_model_raises_only_its_latency_columns(gw, tmp_path, eval_set):
    script(gw)
    before = figures(gw, tmp_path, eval_set, "--repeat", "2")
    httpx.post(f"{gw.simulator}/_sim/latency", json={"model": IDS["nova-lite"], "fixedMs": 200}, timeout=5).raise_for_status()
    after = figures(gw, tmp_path, eval_set, "--repeat", "2")
    for column in ("p50Ms", "ttftP50Ms"):
        assert 150 <= after["nova-lite"][column] - before["nova-lite"][column] <= 400, (column, before, after)
        for other in ("nova-pro", "claude-haiku-4-5"):
            assert abs(after[other][column] - before[other][column]) < 100, (other, column, before, after)


def test_the_judge_scores_and_an_unparseable_verdict_is_counted_as_such(gw, tmp_path):
    cases = tmp_path / "judged.jsonl"
    cases.write_text(json.dumps({"prompt": "What is 2+2?", "scorer": "judge"}) + "\n")
    script(gw, judge_reply='{"score": 0.5, "reason": "half right"}')
    graded = figures(gw, tmp_path, cases, "--judge", "claude-sonnet-4-5")
    assert all(row["quality"] == 0.5 and row["judgeCostUsd"] > 0 for row in graded.values())
    script(gw, judge_reply="Looks fine to me.")
    out = tmp_path / "results.json"
    run = fmgw(gw, "compare", "--set", str(cases), "--models", MODELS, "--judge", "claude-sonnet-4-5", "--out", str(out))
    assert run.returncode == 0 and "could not be parsed" in run.stdout
    rows = json.loads(out.read_text())
    assert all(row["unparseableVerdicts"] == 1 and row["quality"] is None for row in rows)


def test_write_quality_writes_a_reviewable_file_and_leaves_the_configuration(gw, tmp_path, eval_set):
    script(gw, wrong="nova-pro")
    config = tmp_path / "gateway.json"
    config.write_text(CONFIG_FILE.read_text())
    target = tmp_path / "proposed.json"
    extra = ("--write-quality", str(target), "--config", str(config))
    run = fmgw(gw, "compare", "--set", str(eval_set), "--models", MODELS, "--concurrency", "2", *extra)
    assert run.returncode == 0, run.stderr
    assert config.read_text() == CONFIG_FILE.read_text()
    proposed = json.loads(target.read_text())["tierStrategies"]
    assert proposed["simple"]["quality"]["nova-lite"] == 1.0 and proposed["medium"]["quality"]["nova-pro"] == 0.0
    assert "tierStrategies.medium.quality.nova-pro" in run.stdout


def test_models_list_with_a_capability_as_json_matches_the_catalog(gw):
    run = fmgw(gw, "list", "--capability", "toolUse", "--json")
    assert run.returncode == 0, run.stderr
    listed = json.loads(run.stdout)
    catalog = json.loads(CONFIG_FILE.read_text())["models"]
    expected = {alias for alias, entry in catalog.items() if "toolUse" in entry.get("capabilities", [])}
    assert {entry["id"] for entry in listed} == expected and all("breaker" in entry for entry in listed)
    table = fmgw(gw, "list", "--modality", "image", "--max-input-price", "0.001", env={"COLUMNS": "400"})
    assert table.returncode == 0 and "nova-lite" in table.stdout and "claude-opus-4-1" not in table.stdout


def test_bad_input_is_refused_with_a_reason(gw, tmp_path, eval_set):
    unknown = fmgw(gw, "compare", "--set", str(eval_set), "--models", "nova-lite,gpt-9")
    assert unknown.returncode == 2 and "not in the gateway's catalog: gpt-9" in unknown.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "x", "scorer": "exact"}\n')
    refused = fmgw(gw, "compare", "--set", str(broken), "--models", "nova-lite")
    assert refused.returncode == 2 and "line 1: scorer exact needs expected" in refused.stderr


def test_a_pinned_model_that_is_down_is_an_error_status_and_an_error_row(gw, tmp_path, eval_set):
    # last in the module: nova-pro's breaker stays open after it, for the gateway's other tests
    script(gw)
    gw.fault(IDS["nova-pro"], down=True)
    body = {"model": "nova-pro", "messages": [{"role": "user", "content": [{"text": "What is 2+2?"}]}]}
    with gw.client() as http:
        assert http.post("/v1/chat", json=body).status_code == 200  # unpinned: the tier's next model answers
        pinned = http.post("/v1/chat", json=body, headers={"x-gateway-pin": "true"})
        assert pinned.status_code == 503, pinned.text
        retired = http.post("/v1/chat", json={**body, "model": "claude-3-5-sonnet"}, headers={"x-gateway-pin": "true"})
        assert retired.status_code == 400 and "its successor is" in retired.json()["error"]["message"]
        bad = http.post("/v1/chat", json=body, headers={"x-gateway-pin": "maybe"})
        assert bad.status_code == 400 and "x-gateway-pin" in bad.json()["error"]["message"]
    rows = figures(gw, tmp_path, eval_set)
    assert rows["nova-pro"]["errors"] == rows["nova-pro"]["requests"] == 4 and rows["nova-pro"]["quality"] is None
    assert rows["nova-pro"]["errorSamples"] and rows["nova-lite"]["errors"] == 0
