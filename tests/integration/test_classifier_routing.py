"""Classifier-model routing in the Lambda path, against the Bedrock simulator over HTTP.

``contentRouting.mode: "classifier"`` asks a small model (nova-micro here) for a label; the simulator's
``replies`` setting makes that model answer a chosen text. The heuristic decides whenever the classifier
cannot: failure, timeout, an unparseable answer, an open breaker.
"""

from __future__ import annotations

import json

import pytest

from fmgateway import runtime
from tests.conftest import CONFIG_FILE
from tests.integration.conftest import LambdaContext, api_event

CLASSIFIER = "us.amazon.nova-micro-v1:0"
TIER_MODELS = {
    "simple": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "medium": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "complex": "us.anthropic.claude-opus-4-1-20250805-v1:0",
}
HELLO = {"model": "auto", "messages": [{"role": "user", "content": [{"text": "Hello there"}]}]}


def classifier_config(tmp_path, **classifier) -> str:
    doc = json.loads(CONFIG_FILE.read_text())
    doc["contentRouting"].update(
        mode="classifier",
        classifier={"model": "nova-micro", "budgetSeconds": 1.5, "labelScores": {"simple": 0.2, "medium": 0.5, "complex": 0.8}},
    )
    doc["contentRouting"]["classifier"].update(classifier)
    doc["circuitBreaker"].update(failureRateThreshold=50, minimumCalls=1, stateCacheSeconds=0)
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(doc))
    return str(path)


def chat_with(sim, monkeypatch, config_file: str):
    """The API handler with ``config_file``, Bedrock from the simulator, in-memory breaker and cache."""
    sim.reset()
    monkeypatch.setenv("FMGW_CONFIG_FILE", config_file)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.url)
    monkeypatch.delenv("FMGW_BREAKER_TABLE", raising=False)
    monkeypatch.delenv("FMGW_CACHE_TABLE", raising=False)
    runtime.reset()
    from handlers.api import handler

    def call(body=HELLO) -> tuple[int, dict]:
        response = handler(api_event("POST", "/v1/chat", body), LambdaContext())
        return response["statusCode"], json.loads(response["body"])

    return call


@pytest.fixture
def chat(sim, tmp_path, monkeypatch):
    yield chat_with(sim, monkeypatch, classifier_config(tmp_path))
    runtime.reset()


def calls_to(sim, model_id: str) -> int:
    return sim.stats()["models"].get(model_id, {}).get("calls", 0)


@pytest.mark.parametrize("label", ["simple", "medium", "complex"])
def test_the_classifier_label_picks_the_tier(sim, chat, label):
    sim.configure(replies={"*nova-micro*": label})
    status, body = chat()
    assert status == 200
    gateway = body["gateway"]
    assert gateway["route"] == f"auto:{label}" and gateway["modelId"] == TIER_MODELS[label]
    routing = gateway["routing"]
    assert routing["decidedBy"] == "classifier" and routing["tier"] == label
    assert routing["score"] == {"simple": 0.2, "medium": 0.5, "complex": 0.8}[label]
    assert routing["classifier"]["model"] == "nova-micro" and routing["classifier"]["label"] == label
    assert calls_to(sim, CLASSIFIER) == 1
    assert gateway["costUsd"] > 0 and routing["classifier"]["costUsd"] > 0  # the classifier's tokens are paid for too


def test_the_classifier_call_carries_the_request_metadata(sim, chat):
    """Issue 10: every model call carries requestMetadata, the classifier's too (route ``classifier``), so the
    invocation logs attribute its tokens to the caller."""
    sim.configure(replies={"*nova-micro*": "simple"})
    status, _ = chat({**HELLO, "requestMetadata": {"team": "search"}})
    assert status == 200
    (call,) = [r for r in sim.requests() if r["modelId"] == CLASSIFIER]
    metadata = call["requestMetadata"]
    assert metadata["team"] == "search" and metadata["fmgw-route"] == "classifier" and metadata["fmgw-model"] == "nova-micro"
    assert set(metadata) == {"team", "fmgw-tenant", "fmgw-route", "fmgw-tier", "fmgw-model", "fmgw-request-id"}
    assert metadata["fmgw-tenant"] == "key-1" and metadata["fmgw-request-id"] != "unknown"


def test_label_case_and_final_period_are_accepted(sim, chat):
    sim.configure(replies={"*nova-micro*": " Complex.\n"})
    assert chat()[1]["gateway"]["routing"]["tier"] == "complex"


def test_an_unparseable_label_falls_back_to_the_heuristic(sim, chat):
    sim.configure(replies={"*nova-micro*": "I would say this is complex"})
    status, body = chat()
    routing = body["gateway"]["routing"]
    assert status == 200 and routing["decidedBy"] == "heuristic"
    assert "no valid label" in routing["reason"] and routing["tier"] == "simple"  # "Hello there": the heuristic's simple


def test_a_failing_classifier_falls_back_and_counts_on_its_breaker(sim, chat):
    sim.set_faults(CLASSIFIER, errorCode="ServiceUnavailableException")
    status, body = chat()
    routing = body["gateway"]["routing"]
    assert status == 200 and routing["decidedBy"] == "heuristic"
    assert "failed (ServiceUnavailableException)" in routing["reason"]
    # minimumCalls 1: the classifier's breaker is open now, so the next request does not even call it
    before = calls_to(sim, CLASSIFIER)
    status, body = chat()
    assert status == 200 and "circuit open" in body["gateway"]["routing"]["reason"]
    assert calls_to(sim, CLASSIFIER) == before


def test_a_classifier_slower_than_its_budget_falls_back(sim, chat):
    sim.set_latency(CLASSIFIER, fixedMs=2500)  # budget 1.5 s: the call is cut at its read timeout
    sim.configure(replies={"*nova-micro*": "complex"})
    status, body = chat()
    routing = body["gateway"]["routing"]
    assert status == 200 and routing["decidedBy"] == "heuristic" and routing["tier"] == "simple"
    assert "failed" in routing["reason"] and "Timeout" in routing["classifier"]["error"]


def test_explicit_tiers_and_models_never_call_the_classifier(sim, chat):
    assert chat({**HELLO, "model": "nova-pro"})[0] == 200
    assert chat({"messages": HELLO["messages"], "tier": "medium"})[0] == 200
    assert calls_to(sim, CLASSIFIER) == 0


@pytest.fixture
def chat_learned(sim, tmp_path, monkeypatch):
    """``learned`` mode with the classifier consulted inside ``uncertainBand`` of a threshold."""

    def make(band: float):
        doc = json.loads(CONFIG_FILE.read_text())
        doc["contentRouting"].update(mode="learned", uncertainBand=band)
        path = tmp_path / f"learned-{band}.json"
        path.write_text(json.dumps(doc))
        return chat_with(sim, monkeypatch, str(path))

    yield make
    runtime.reset()


def test_learned_mode_without_a_band_never_calls_the_classifier(sim, chat_learned):
    status, body = chat_learned(0)()
    assert status == 200 and body["gateway"]["routing"]["decidedBy"] == "learned"
    assert calls_to(sim, CLASSIFIER) == 0


def test_a_score_in_the_uncertain_band_is_settled_by_the_classifier(sim, chat_learned):
    call = chat_learned(0.5)  # the widest band: every score is near a threshold
    sim.configure(replies={"*nova-micro*": "complex"})
    status, body = call()
    routing = body["gateway"]["routing"]
    assert status == 200 and routing["decidedBy"] == "classifier" and routing["tier"] == "complex"
    assert 0 <= routing["classifier"]["learnedScore"] <= 1 and calls_to(sim, CLASSIFIER) == 1


def test_in_the_band_a_failing_classifier_leaves_the_learned_decision(sim, chat_learned):
    call = chat_learned(0.5)
    sim.set_faults(CLASSIFIER, errorCode="ServiceUnavailableException")
    status, body = call()
    routing = body["gateway"]["routing"]
    assert status == 200 and routing["decidedBy"] == "learned" and "failed" in routing["reason"]
    assert routing["score"] is not None and "threshold" in routing
