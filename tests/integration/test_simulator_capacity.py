"""The simulator's Bedrock control plane for capacity (Provisioned Throughput, custom model deployments, imported
models) and invocations by their ARNs, through unmodified boto3 ``bedrock`` and ``bedrock-runtime`` clients; other
control-plane calls forwarded to a moto server (local/simulator_capacity.py, local/simulator_control_plane.py)."""

from __future__ import annotations

import json
import re
import time

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.bedrock_simulator import BedrockSimulator
from local.environment import LocalGateway
from local.moto_server import LocalMotoServer
from local.simulator_text import reply_text

PROVISIONING = 0.3
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10)
NOVA = "amazon.nova-micro-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_CUSTOM = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef012345"
ARN = re.compile(
    r"^arn:aws:bedrock:us-east-1:123456789012:(provisioned-model|custom-model-deployment|imported-model)/[a-z0-9]{12}$"
)


def _boto(service: str, url: str):
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=NO_RETRY
    )


def _error(exc_info) -> tuple[str, int, str]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def _msgs(text: str = "Hello") -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


@pytest.fixture(scope="module")
def sim():
    with BedrockSimulator({"capacity": {"provisioningSeconds": PROVISIONING}}, use_env=False) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _reset(sim):
    sim.reset()
    yield


@pytest.fixture(scope="module")
def bedrock(sim):
    return _boto("bedrock", sim.url)


@pytest.fixture(scope="module")
def runtime(sim):
    return _boto("bedrock-runtime", sim.url)


def _wait(seconds: float = PROVISIONING + 0.1) -> None:
    time.sleep(seconds)


# ---- Provisioned Throughput


def test_provisioned_throughput_is_created_then_in_service_then_deleted(bedrock):
    created = bedrock.create_provisioned_model_throughput(
        modelUnits=2, provisionedModelName="support-pt", modelId=NOVA, commitmentDuration="OneMonth"
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = created["provisionedModelArn"]
    assert ARN.match(arn) and ":provisioned-model/" in arn
    got = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert got["status"] == "Creating"
    assert got["modelArn"] == got["foundationModelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA}"
    assert (got["modelUnits"], got["desiredModelUnits"], got["commitmentDuration"]) == (2, 2, "OneMonth")
    assert got["commitmentExpirationTime"] > got["creationTime"]
    _wait()
    assert bedrock.get_provisioned_model_throughput(provisionedModelId="support-pt")["status"] == "InService"
    summaries = bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]
    assert [(s["provisionedModelArn"], s["status"]) for s in summaries] == [(arn, "InService")]
    assert bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as exc_info:
        bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert _error(exc_info)[:2] == ("ResourceNotFoundException", 404)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


def test_a_client_request_token_makes_creation_idempotent(bedrock):
    request = {"modelUnits": 1, "provisionedModelName": "pt-a", "modelId": NOVA, "clientRequestToken": "token-1"}
    first = bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"]
    assert bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"] == first
    with pytest.raises(ClientError) as exc_info:  # the same token with other parameters
        bedrock.create_provisioned_model_throughput(**{**request, "modelUnits": 3})
    assert _error(exc_info)[:2] == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc_info:  # another token (botocore makes one up), the same name
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-a", modelId=NOVA)
    assert _error(exc_info)[:2] == ("ValidationException", 400)
    assert len(bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]) == 1


def test_provisioning_fails_for_the_names_the_settings_say(sim, bedrock, runtime):
    sim.configure(capacity={"provisioningSeconds": 0, "failProvisioning": ["doomed-*"]})
    doomed = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="doomed-1", modelId=NOVA)
    fine = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="fine-1", modelId=NOVA)
    got = bedrock.get_provisioned_model_throughput(provisionedModelId=doomed["provisionedModelArn"])
    assert got["status"] == "Failed" and got["failureMessage"]
    assert bedrock.get_provisioned_model_throughput(provisionedModelId="fine-1")["status"] == "InService"  # 0 s: at once
    with pytest.raises(ClientError) as exc_info:
        runtime.converse(modelId=doomed["provisionedModelArn"], messages=_msgs())
    assert _error(exc_info)[:2] == ("ValidationException", 400)
    assert runtime.converse(modelId=fine["provisionedModelArn"], messages=_msgs())["stopReason"] == "end_turn"


def test_an_update_switches_the_model_after_updating(sim, bedrock):
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-u", modelId=NOVA)[
        "provisionedModelArn"
    ]
    _wait()
    bedrock.update_provisioned_model_throughput(
        provisionedModelId=arn, desiredProvisionedModelName="pt-renamed", desiredModelId=HAIKU
    )
    got = bedrock.get_provisioned_model_throughput(provisionedModelId="pt-renamed")
    assert got["status"] == "Updating"
    assert got["modelArn"].endswith(NOVA) and got["desiredModelArn"].endswith(HAIKU)
    _wait()
    got = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert (got["status"], got["modelArn"]) == ("InService", f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}")


def test_lists_filter_sort_and_page(sim, bedrock):
    sim.configure(capacity={"provisioningSeconds": 0, "failProvisioning": ["bad-*"]})
    for name in ("alpha-1", "alpha-2", "bad-3"):
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName=name, modelId=NOVA)
    names = lambda answer: [s["provisionedModelName"] for s in answer["provisionedModelSummaries"]]  # noqa: E731
    assert names(bedrock.list_provisioned_model_throughputs()) == ["bad-3", "alpha-2", "alpha-1"]  # newest first
    assert names(bedrock.list_provisioned_model_throughputs(sortOrder="Ascending")) == ["alpha-1", "alpha-2", "bad-3"]
    assert names(bedrock.list_provisioned_model_throughputs(statusEquals="Failed")) == ["bad-3"]
    assert names(bedrock.list_provisioned_model_throughputs(nameContains="alpha")) == ["alpha-2", "alpha-1"]
    page = bedrock.list_provisioned_model_throughputs(maxResults=2)
    assert len(page["provisionedModelSummaries"]) == 2 and page["nextToken"]
    rest = bedrock.list_provisioned_model_throughputs(maxResults=2, nextToken=page["nextToken"])
    assert names(rest) == ["alpha-1"] and "nextToken" not in rest


# ---- custom model deployments


def test_a_custom_model_deployment_is_creating_then_active_then_gone(bedrock, runtime):
    created = bedrock.create_custom_model_deployment(modelDeploymentName="nova-dep", modelArn=NOVA_CUSTOM)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    arn = created["customModelDeploymentArn"]
    assert ARN.match(arn) and ":custom-model-deployment/" in arn
    got = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
    assert (got["status"], got["modelDeploymentName"], got["modelArn"]) == ("Creating", "nova-dep", NOVA_CUSTOM)
    with pytest.raises(ClientError) as exc_info:
        runtime.converse(modelId=arn, messages=_msgs())
    assert _error(exc_info)[:2] == ("ValidationException", 400) and "not active" in _error(exc_info)[2]
    _wait()
    assert bedrock.get_custom_model_deployment(customModelDeploymentIdentifier="nova-dep")["status"] == "Active"
    summaries = bedrock.list_custom_model_deployments()["modelDeploymentSummaries"]
    assert [(s["customModelDeploymentName"], s["status"]) for s in summaries] == [("nova-dep", "Active")]
    # the deployment answers as its model: a Nova InvokeModel body
    body = json.loads(runtime.invoke_model(modelId=arn, body=json.dumps({"messages": _msgs()}))["body"].read())
    assert body["stopReason"] == "end_turn" and body["output"]["message"]["content"][0]["text"] == reply_text(arn, "Hello")
    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
    for call in (
        lambda: bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn),
        lambda: runtime.converse(modelId=arn, messages=_msgs()),
    ):
        with pytest.raises(ClientError) as exc_info:
            call()
        assert _error(exc_info)[:2] == ("ResourceNotFoundException", 404)


def test_deployments_take_custom_models_of_the_allowed_bases_only(bedrock):
    anthropic_custom = NOVA_CUSTOM.replace("amazon.nova-micro-v1:0:128k", "anthropic.claude-3-haiku-20240307-v1:0:200k")
    for model_arn in (anthropic_custom, f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA}"):
        with pytest.raises(ClientError) as exc_info:
            bedrock.create_custom_model_deployment(modelDeploymentName="dep-x", modelArn=model_arn)
        assert _error(exc_info)[:2] == ("ValidationException", 400)


# ---- invocations by ARN


def test_a_provisioned_throughput_answers_as_its_model_under_its_own_arn(sim, bedrock, runtime):
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-h", modelId=HAIKU)[
        "provisionedModelArn"
    ]
    other = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-n", modelId=NOVA)[
        "provisionedModelArn"
    ]
    with pytest.raises(ClientError) as exc_info:
        runtime.converse(modelId=arn, messages=_msgs())
    code, status, message = _error(exc_info)
    assert (code, status) == ("ValidationException", 400) and "not in service" in message
    _wait()
    answer = runtime.converse(modelId=arn, messages=_msgs("Hi there"))
    assert answer["output"]["message"]["content"][0]["text"] == reply_text(arn, "Hi there")
    native = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    body = json.loads(runtime.invoke_model(modelId=arn, body=json.dumps(native))["body"].read())
    assert body["type"] == "message" and body["model"] == arn  # an Anthropic body: the model it was created for
    events = list(runtime.converse_stream(modelId=arn, messages=_msgs())["stream"])
    assert "messageStop" in events[-2] and "metadata" in events[-1]
    # faults and stats are keyed by the ARN: a pattern can target one resource
    sim.set_faults(arn, errorCode="ThrottlingException")
    with pytest.raises(ClientError) as exc_info:
        runtime.converse(modelId=arn, messages=_msgs())
    assert _error(exc_info)[:2] == ("ThrottlingException", 429)
    assert runtime.converse(modelId=other, messages=_msgs())["stopReason"] == "end_turn"
    stats = sim.stats()["models"]
    assert stats[arn]["errors"]["ValidationException"] == 1 and stats[arn]["errors"]["ThrottlingException"] == 1
    assert stats[other]["successes"] == 1


def test_arns_never_created_or_deleted_are_not_found_and_custom_models_need_capacity(bedrock, runtime):
    never = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/000000000000"
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-d", modelId=NOVA)[
        "provisionedModelArn"
    ]
    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    for model_id in (never, arn, never.replace("provisioned-model", "imported-model")):
        with pytest.raises(ClientError) as exc_info:
            runtime.converse(modelId=model_id, messages=_msgs())
        assert _error(exc_info)[:2] == ("ResourceNotFoundException", 404)
        with pytest.raises(ClientError) as exc_info:
            runtime.invoke_model(modelId=model_id, body=json.dumps({"messages": _msgs()}))
        assert _error(exc_info)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc_info:  # a custom model on demand: Bedrock wants Provisioned Throughput
        runtime.converse(modelId=NOVA_CUSTOM, messages=_msgs())
    assert _error(exc_info) == ("ValidationException", 400, "The provided model doesn't support on-demand throughput.")


# ---- imported models


def test_an_idle_imported_model_is_not_ready_then_ready_after_its_cold_start(sim, bedrock, runtime):
    answer = httpx.post(
        f"{sim.url}/_sim/imported-models", json={"name": "domain-llama", "coldStartSeconds": 0.5, "idleSeconds": 1.0}
    )
    assert answer.status_code == 201
    arn = answer.json()["modelArn"]
    assert ARN.match(arn) and ":imported-model/" in arn
    for _ in range(2):  # never called: its copy loads; still loading
        with pytest.raises(ClientError) as exc_info:
            runtime.converse(modelId=arn, messages=_msgs())
        assert _error(exc_info) == (
            "ModelNotReadyException",
            429,
            "Model is not ready for inference. Wait and try your request again.",
        )
    assert sim.capacity()["importedModels"][0]["copy"] == "loading"
    time.sleep(0.55)
    assert runtime.converse(modelId=arn, messages=_msgs())["stopReason"] == "end_turn"
    llama = json.loads(runtime.invoke_model(modelId=arn, body=json.dumps({"prompt": "Hi", "max_gen_len": 20}))["body"].read())
    assert "generation" in llama  # a Llama architecture takes Llama's body
    assert sim.capacity()["importedModels"][0]["copy"] == "ready"
    time.sleep(1.1)  # idle longer than idleSeconds: the copy is gone again
    with pytest.raises(ClientError) as exc_info:
        runtime.converse(modelId=arn, messages=_msgs())
    assert _error(exc_info)[0] == "ModelNotReadyException"


def test_imported_models_are_listed_got_and_deleted_through_the_bedrock_api(sim, bedrock, runtime):
    arn = sim.add_imported_model("warm-mistral", cold_start_seconds=0, architecture="mistral")
    got = bedrock.get_imported_model(modelIdentifier=arn)
    assert (got["modelArn"], got["modelName"], got["modelArchitecture"]) == (arn, "warm-mistral", "mistral")
    assert bedrock.get_imported_model(modelIdentifier="warm-mistral")["modelArn"] == arn
    assert [m["modelArn"] for m in bedrock.list_imported_models()["modelSummaries"]] == [arn]
    mistral = json.loads(runtime.invoke_model(modelId=arn, body=json.dumps({"prompt": "Hi", "max_tokens": 20}))["body"].read())
    assert mistral["outputs"][0]["text"]  # coldStartSeconds 0: ready at once
    bedrock.delete_imported_model(modelIdentifier=arn)
    with pytest.raises(ClientError) as exc_info:
        bedrock.get_imported_model(modelIdentifier=arn)
    assert _error(exc_info)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc_info:
        runtime.converse(modelId=arn, messages=_msgs())
    assert _error(exc_info)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc_info:  # imported models take no Provisioned Throughput
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pt-i", modelId=NOVA_CUSTOM.replace("amazon.nova-micro-v1:0:128k", "imported")
        )
    assert _error(exc_info)[:2] == ("ValidationException", 400)


# ---- what exists, and what is not served


def test_sim_capacity_lists_everything_with_status_and_reset_clears_it(sim, bedrock):
    bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-c", modelId=NOVA)
    bedrock.create_custom_model_deployment(modelDeploymentName="dep-c", modelArn=NOVA_CUSTOM)
    sim.add_imported_model("imp-c")
    overview = httpx.get(f"{sim.url}/_sim/capacity").json()
    assert [(p["provisionedModelName"], p["status"]) for p in overview["provisionedModelThroughputs"]] == [("pt-c", "Creating")]
    assert [(d["customModelDeploymentName"], d["status"]) for d in overview["customModelDeployments"]] == [("dep-c", "Creating")]
    assert [(m["modelName"], m["copy"]) for m in overview["importedModels"]] == [("imp-c", "idle")]
    sim.reset()
    assert sim.capacity() == {
        "provisionedModelThroughputs": [],
        "customModelDeployments": [],
        "importedModels": [],
        "sagemakerEndpoints": {},
    }


def test_bad_requests_and_settings_are_refused(sim, bedrock):
    # botocore checks modelUnits >= 1 itself; the simulator checks again, as Bedrock
    answer = httpx.post(
        f"{sim.url}/provisioned-model-throughput", json={"modelUnits": 0, "provisionedModelName": "pt", "modelId": NOVA}
    )
    assert (answer.status_code, answer.headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    with pytest.raises(ClientError) as exc_info:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt", modelId="arn:aws:s3:::bucket")
    assert _error(exc_info)[:2] == ("ValidationException", 400)
    assert httpx.put(f"{sim.url}/_sim/config", json={"capacity": {"provisioningSeconds": -1}}).status_code == 400
    assert httpx.put(f"{sim.url}/_sim/config", json={"capacity": {"nope": 1}}).status_code == 400
    assert httpx.post(f"{sim.url}/_sim/imported-models", json={"name": "bad name"}).status_code == 400


def test_other_control_plane_calls_without_a_fallback_are_unknown_operations(bedrock):
    with pytest.raises(ClientError) as exc_info:
        bedrock.get_model_invocation_logging_configuration()
    code, status, message = _error(exc_info)
    assert (code, status) == ("UnknownOperationException", 404) and "GetModelInvocationLoggingConfiguration" in message


# ---- forwarding to moto, and local mode's wiring


@pytest.fixture(scope="module")
def moto_url():
    server = LocalMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def forwarding(moto_url):
    with BedrockSimulator({"controlPlaneFallback": moto_url, "capacity": {"provisioningSeconds": 0}}, use_env=False) as simulator:
        yield simulator


def test_other_control_plane_calls_end_in_moto(moto_url, forwarding):
    through, direct = _boto("bedrock", forwarding.url), _boto("bedrock", moto_url)
    logging_config = {"s3Config": {"bucketName": "fmgw-logs", "keyPrefix": "sim"}, "textDataDeliveryEnabled": True}
    through.put_model_invocation_logging_configuration(loggingConfig=logging_config)
    assert direct.get_model_invocation_logging_configuration()["loggingConfig"] == logging_config
    assert through.get_model_invocation_logging_configuration()["loggingConfig"] == logging_config


def test_capacity_for_a_custom_model_checks_it_exists_in_moto(moto_url, forwarding):
    bedrock, runtime = _boto("bedrock", forwarding.url), _boto("bedrock-runtime", forwarding.url)
    moto = _boto("bedrock", moto_url)  # the simulator answers customization itself: a custom model made in moto
    moto.create_model_customization_job(
        jobName="job-1",
        customModelName="support-nova",
        roleArn="arn:aws:iam::123456789012:role/fmgw-customization",
        baseModelIdentifier=NOVA,
        trainingDataConfig={"s3Uri": "s3://fmgw-data/train.jsonl"},
        outputDataConfig={"s3Uri": "s3://fmgw-data/out/"},
        hyperParameters={},
    )  # moto creates the custom model at once
    custom = moto.get_custom_model(modelIdentifier="support-nova")["modelArn"]
    pt = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-m", modelId=custom)
    got = bedrock.get_provisioned_model_throughput(provisionedModelId=pt["provisionedModelArn"])
    assert (got["modelArn"], got["foundationModelArn"]) == (custom, f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA}")
    body = json.loads(
        runtime.invoke_model(modelId=pt["provisionedModelArn"], body=json.dumps({"messages": _msgs()}))["body"].read()
    )
    assert body["stopReason"] == "end_turn"  # answers as its base model, Nova
    dep = bedrock.create_custom_model_deployment(modelDeploymentName="dep-m", modelArn=custom)["customModelDeploymentArn"]
    assert runtime.converse(modelId=dep, messages=_msgs())["stopReason"] == "end_turn"
    with pytest.raises(ClientError) as exc_info:  # not in moto: as Bedrock, not found
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-x", modelId=NOVA_CUSTOM)
    assert _error(exc_info)[:2] == ("ResourceNotFoundException", 404)
    forwarding.configure(capacity={"provisioningSeconds": 0, "checkCustomModels": False})
    try:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-x", modelId=NOVA_CUSTOM)
    finally:
        forwarding.reset()


def test_local_mode_points_bedrock_and_sagemaker_runtime_at_the_simulator(moto_url, forwarding, monkeypatch):
    monkeypatch.delenv("FMGW_SIMULATOR_URL", raising=False)
    monkeypatch.delenv("FMGW_INVOCATION_LOGS", raising=False)
    gateway = LocalGateway()
    gateway.moto_url = gateway.url = moto_url
    env = gateway.start_simulator()
    try:
        assert env == dict.fromkeys(
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL_BEDROCK", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"),
            gateway.simulator_url,
        )
        assert gateway.control_plane_fallback == moto_url
        _boto("bedrock", env["AWS_ENDPOINT_URL_BEDROCK"]).put_model_invocation_logging_configuration(
            loggingConfig={"s3Config": {"bucketName": "local-mode", "keyPrefix": "x"}}
        )
        assert _boto("bedrock", moto_url).get_model_invocation_logging_configuration()["loggingConfig"]["s3Config"][
            "bucketName"
        ] == ("local-mode")
        banner = gateway.banner()
        assert f"simulator at {gateway.simulator_url}" in banner and f"moto at {moto_url}" in banner
        assert (
            "Provisioned Throughput" in banner and "go on to moto" in banner and "SageMaker control plane stays on moto" in banner
        )
    finally:
        gateway.simulator.stop()
    # FMGW_SIMULATOR_URL reuses a running simulator: its own fallback, or none
    monkeypatch.setenv("FMGW_SIMULATOR_URL", forwarding.url)
    reused = LocalGateway()
    reused.moto_url = reused.url = moto_url
    assert reused.start_simulator()["AWS_ENDPOINT_URL_BEDROCK"] == forwarding.url and reused.simulator is None
    assert reused.control_plane_fallback == moto_url
    with BedrockSimulator(use_env=False) as bare:
        monkeypatch.setenv("FMGW_SIMULATOR_URL", bare.url)
        reused.start_simulator()
        assert reused.control_plane_fallback is None and "are unanswered" in reused.banner()
