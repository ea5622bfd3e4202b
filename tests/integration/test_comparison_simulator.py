"""The comparison in-process (issue 22), as the customization workflow will run it: a ``Candidate`` that is not in
the catalog, called through the gateway's own Bedrock invoker against the simulator, scripted per prompt."""

from __future__ import annotations

import json

from fmgateway.aws.bedrock import BedrockInvoker
from fmgateway.lifecycle import comparison
from fmgateway.lifecycle.evaluation import load_cases
from fmgateway.values.candidates import Candidate
from fmgateway.values.model import Model
from local.bedrock_simulator import BedrockSimulator

CUSTOM = Model("support-bot-v4", "amazon.nova-micro-v1:0", "amazon", "us", 128000, 4096, frozenset({"text"}),
               frozenset({"*"}), 0.000035, 0.00014, "active", None)  # fmt: skip
BASE = CUSTOM._replace(alias="support-bot-v3", model_id="amazon.nova-lite-v1:0")
CASES = {"What is 2+2?": "4", "Capital of France?": "Paris"}


def test_a_candidate_outside_the_catalog_is_measured_with_every_figure():
    settings = {
        "replies": {"us.amazon.nova-micro-v1:0": dict(CASES), "us.amazon.nova-lite-v1:0": {"*": "no idea"}},
        "latency": {"us.amazon.nova-lite-v1:0": {"fixedMs": 120}},
    }
    with BedrockSimulator(settings, use_env=False) as sim:
        client = sim.client()
        invoker = BedrockInvoker(lambda _config: client)
        invoke = comparison.direct(invoker, {"support-bot-v4": Candidate(CUSTOM), "support-bot-v3": Candidate(BASE)})
        cases = load_cases([json.dumps({"prompt": p, "expected": a}) for p, a in CASES.items()])
        new, old = (report.to_json() for report in comparison.compare(["support-bot-v4", "support-bot-v3"], cases, invoke))
    assert new["quality"] == 1.0 and old["quality"] == 0.0 and new["errors"] == old["errors"] == 0
    assert new["costPerRequestUsd"] > 0 and new["outputTokensPerSecond"] is not None
    assert old["ttftP50Ms"] - new["ttftP50Ms"] >= 100  # the base model's 120 ms before its first token
