"""``fmgw route score`` gives the score and tier that ``model: "auto"`` gets through the handler."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from router_training import data
from tests.conftest import CONFIG_FILE, ROOT

FIXED = [
    {"prompt": "What is the capital of France?"},
    {"messages": [{"role": "user", "content": [{"text": "Prove that there are infinitely many primes."}]}]},
    {
        "system": [{"text": "You are a careful tutor."}],
        "messages": [{"role": "user", "content": [{"text": "A train leaves at 3 pm at 60 mph. When has it gone 150 miles?"}]}],
    },
    {  # a prompt the bundled score sends to 'complex', so the sample exercises more than one tier without shared data
        "prompt": "Prove rigorously, step by step, that for every prime p > 3, p^2 - 1 is divisible by 24. Then characterise "
        "all integers n such that n^2 - 1 is divisible by 24, derive their density, and analyse the asymptotic complexity of "
        "an algorithm that enumerates them up to N, with a formal proof of correctness."
    },
]


# python -m fmgw from the repository root; lambdas/ on the path as without `make install` (fmgw imports fmgateway)
SCORE_COMMAND = [sys.executable, "-m", "fmgw", "route", "score", "--config", str(CONFIG_FILE)]


def sample_lines() -> list[dict]:
    directory = data.default_data_dir()
    if not directory.is_dir():
        return FIXED
    examples = data.load(directory)
    picked = random.Random(15).sample(examples, 12)  # a fixed sample across both benchmarks
    return FIXED + [{"prompt": example.prompt} for example in picked]


def score_cli(lines: list[dict]) -> list[dict]:
    result = subprocess.run(
        SCORE_COMMAND,
        input="".join(json.dumps(line) + "\n" for line in lines),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "lambdas")},
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_score_cli_matches_auto_requests_through_the_handler(api):
    lines = sample_lines()
    scored = score_cli(lines)
    assert len(scored) == len(lines)
    for line, offline in zip(lines, scored, strict=True):
        body = {"model": "auto", "messages": line.get("messages") or [{"role": "user", "content": [{"text": line["prompt"]}]}]}
        if "system" in line:
            body["system"] = line["system"]
        api.answers()
        status, _, response = api.call("POST", "/v1/chat", body)
        assert status == 200, response
        gateway = response["gateway"]
        assert gateway["route"] == f"auto:{offline['tier']}"
        assert gateway["routing"]["tier"] == offline["tier"]
        assert gateway["routing"]["score"] == pytest.approx(offline["score"], abs=5e-5)
        assert gateway["routing"]["threshold"] == offline["threshold"]
    assert len({offline["tier"] for offline in scored}) > 1  # the sample exercises more than one tier


def test_score_cli_keeps_order_and_reports_bad_lines():
    result = subprocess.run(
        SCORE_COMMAND,
        input='{"prompt": "a"}\nnot json\n{"nothing": 1}\n{"prompt": "b"}\n',
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "lambdas")},
        capture_output=True,
        text=True,
    )
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and len(out) == 4
    assert "score" in out[0] and "error" in out[1] and "error" in out[2] and "score" in out[3]
    assert out[3]["tier"] in ("simple", "medium", "complex")
