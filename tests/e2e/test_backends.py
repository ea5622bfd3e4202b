"""Serving custom and domain models (issue 23) through ``python -m local``: Provisioned Throughput, an on-demand
custom model deployment and an imported model invoked by ARN, SageMaker endpoints with and without an inference
component, streamed and not; each falls back to a Bedrock model when it fails, opens its own breaker and no other,
and shows its cost figure; the candidate survives the state machine.

The capacity is created the way a platform team would (boto3 ``bedrock`` against local mode's simulator), then the
catalog entries are written into the configuration file local mode reloads."""

from __future__ import annotations

import json
import time

import boto3
import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import start_gateway, stop_gateway, wait_until

ENTRY = {
    "provider": "amazon",
    "profileScope": "in-region",
    "contextWindow": 300000,
    "maxOutputTokens": 4096,
    "inputModalities": ["text"],
    "languages": ["*"],
    "pricePer1k": {"input": 0, "output": 0},
    "lifecycle": "active",
}
ASK = [{"role": "user", "content": [{"text": "Summarise our refund policy."}]}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    config = json.loads(CONFIG_FILE.read_text())
    # the observed rate (rateConfidence 50): three failures open a breaker even beside an earlier success in the bucket
    config["circuitBreaker"].update(minimumCalls=2, failureRateThreshold=50, rateConfidence=50, stateCacheSeconds=0)
    path = tmp_path_factory.mktemp("backends") / "gateway.json"
    path.write_text(json.dumps(config))
    gateway = start_gateway(path)
    gateway.config_path, gateway.config = path, config
    yield gateway
    stop_gateway(gateway)


def sim(gw, method: str, path: str, body=None):
    response = httpx.request(method, f"{gw.simulator}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def capacity(gw):
    """Capacity of every kind, created and in service, and the catalog entries that use it (first in the simple
    tier, whose Bedrock models follow them)."""
    sim(gw, "PUT", "/_sim/config", {"capacity": {"provisioningSeconds": 0, "checkCustomModels": False}})
    bedrock = boto3.client("bedrock", endpoint_url=gw.simulator, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    pt = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="support-pt", modelId="amazon.nova-lite-v1:0"
    )
    custom = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-lite-v1:0:300k/abcdefgh1234"
    deployment = bedrock.create_custom_model_deployment(modelDeploymentName="support-deploy", modelArn=custom)
    imported = sim(gw, "POST", "/_sim/imported-models", {"name": "support-llama", "coldStartSeconds": 1})["modelArn"]
    sim(gw, "PUT", "/_sim/sagemaker-endpoints", {
        "fmgw-tgi": {"container": "tgi-messages"},
        "fmgw-lmi": {"container": "lmi-chat", "inferenceComponents": ["lora-support"]},
    })  # fmt: skip
    pt_backend = {"type": "bedrock-provisioned", "arn": pt["provisionedModelArn"], "unitHourlyUsd": 23.5, "units": 1}
    deployed = {"type": "bedrock-custom-deployment", "arn": deployment["customModelDeploymentArn"], "hourlyUsd": 0.5}
    entries = {
        "support-pt": {**ENTRY, "modelId": "amazon.nova-lite-v1:0", "backend": pt_backend},
        "support-deploy": {**ENTRY, "modelId": "amazon.nova-lite-v1:0", "backend": deployed},
        "support-llama": {**ENTRY, "provider": "meta", "modelId": "meta.llama3-1-8b-instruct-v1:0",
                          "backend": {"type": "bedrock-imported", "arn": imported, "hourlyUsd": 4.71}},
        "support-tgi": {**ENTRY, "modelId": "mistral.mistral-7b-instruct-v0:2", "provider": "mistral",
                        "backend": {"type": "sagemaker", "endpoint": "fmgw-tgi", "container": "tgi-messages", "hourlyUsd": 1.52}},
        "support-lora": {**ENTRY, "modelId": "meta.llama3-1-8b-instruct-v1:0", "provider": "meta",
                         "backend": {"type": "sagemaker", "endpoint": "fmgw-lmi", "inferenceComponent": "lora-support",
                                     "container": "lmi-chat", "hourlyUsd": 1.52}},
    }  # fmt: skip
    config = json.loads(json.dumps(gw.config))
    config["models"].update(entries)
    config["tiers"]["simple"] = [*entries, *config["tiers"]["simple"]]
    config["version"] = "backends-1"
    gw.config_path.write_text(json.dumps(config))
    with gw.client() as http:
        assert wait_until(lambda: "support-pt" in {m["id"] for m in http.get("/v1/models").json()["data"]}, timeout=10)
    return {"pt": pt["provisionedModelArn"], "deployment": deployment["customModelDeploymentArn"], "imported": imported,
            "bedrock": bedrock}  # fmt: skip


def chat(gw, model: str, stream: bool = False, path: str = "/v1/chat") -> dict:
    with gw.client() as http:
        if not stream:
            response = http.post(path, json={"model": model, "messages": ASK})
            assert response.status_code == 200, response.text
            return response.json()["gateway"]
        with http.stream("POST", "/v1/chat/stream", json={"model": model, "messages": ASK}) as response:
            assert response.status_code == 200
            lines = [line for line in response.iter_lines() if line.startswith("data:")]
    block = json.loads(lines[-1][5:])
    text = "".join(json.loads(line[5:])["delta"]["text"] for line in lines if '"delta":{"text"' in line)
    return {**block, "text": text}


@pytest.mark.parametrize(
    ("alias", "backend"),
    [("support-pt", "bedrock-provisioned"), ("support-deploy", "bedrock-custom-deployment"),
     ("support-tgi", "sagemaker"), ("support-lora", "sagemaker")],
)  # fmt: skip
def test_each_backend_answers_streamed_and_not_and_names_itself(gw, capacity, alias, backend):
    answered = chat(gw, alias)
    assert answered["model"] == alias and answered["backend"] == backend and answered["costUsd"] == 0.0
    streamed = chat(gw, alias, stream=True)
    assert streamed["model"] == alias and streamed["text"]


def test_the_inference_component_each_sagemaker_call_named_is_recorded(gw, capacity):
    chat(gw, "support-lora")
    calls = [r for r in sim(gw, "GET", "/_sim/requests")["requests"] if r.get("endpoint") == "fmgw-lmi"]
    assert calls and all(call["inferenceComponent"] == "lora-support" for call in calls)


def test_an_imported_model_not_ready_falls_back_then_answers_once_loaded(gw, capacity):
    first = chat(gw, "support-llama")
    assert first["model"] != "support-llama" and first["attempts"][0]["code"] == "ModelNotReadyException"
    time.sleep(1.2)
    assert chat(gw, "support-llama")["model"] == "support-llama"


def test_a_failing_backend_falls_back_to_bedrock_and_opens_only_its_own_breaker(gw, capacity):
    sim(gw, "POST", "/_sim/faults", {"model": "sagemaker/fmgw-tgi", "down": True})
    try:
        for _ in range(3):
            answered = chat(gw, "support-tgi")
            assert answered["model"] != "support-tgi" and answered["attempts"][0]["model"] in ("support-tgi", "support-pt")
        with gw.client() as http:
            models = {m["id"]: m for m in http.get("/v1/models").json()["data"]}
        assert models["support-tgi"]["breaker"] == "OPEN"
        assert all(models[alias]["breaker"] == "CLOSED" for alias in ("support-pt", "support-deploy", "support-lora"))
        assert models["support-pt"]["amortisedCostPerRequestUsd"] > 0  # 23.5 $/h over the window's requests
    finally:
        sim(gw, "POST", "/_sim/faults", {"model": "sagemaker/fmgw-tgi", "down": False})


def test_the_candidate_survives_the_state_machine(gw, capacity):
    with gw.client() as http:
        response = http.post("/v1/chat/orchestrated", json={"model": "support-deploy", "messages": ASK})
    assert response.status_code == 200, response.text
    assert response.json()["gateway"]["model"] == "support-deploy"
    assert response.json()["gateway"]["backend"] == "bedrock-custom-deployment"


def test_released_capacity_fails_as_bedrock_would(gw, capacity):
    capacity["bedrock"].delete_provisioned_model_throughput(provisionedModelId=capacity["pt"])
    with gw.client() as http:
        pinned = http.post("/v1/chat", json={"model": "support-pt", "messages": ASK}, headers={"x-gateway-pin": "true"})
    assert pinned.status_code >= 500 and "ResourceNotFoundException" in pinned.text
