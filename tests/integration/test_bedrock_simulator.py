"""Integration tests for local/bedrock_simulator.py using real boto3 clients over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from local.bedrock_simulator import BedrockSimulator
from local.simulator_settings import ENV_CONFIG, ENV_FAULTS, load_settings
from local.simulator_text import count_tokens, reply_text

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
OTHER = "amazon.nova-lite-v1:0"
# botocore's retries["max_attempts"] counts *retries*; total_max_attempts=1 means one attempt, no retry.
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10)


def _client(url: str, region: str = "us-east-1"):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=NO_RETRY,
    )


def _msgs(text: str = "Hello world") -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def _error(exc_info) -> tuple[str, int]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(autouse=True)
def _reset(sim):
    sim.reset()
    yield


@pytest.fixture(scope="module")
def client(sim):
    return _client(sim.url)


# ---------------------------------------------------------------- happy paths
def test_converse_happy_path_usage_and_determinism(client):
    kwargs = {"modelId": MODEL, "messages": _msgs("Hello world"), "system": [{"text": "Be brief."}]}
    first = client.converse(**kwargs)
    text = first["output"]["message"]["content"][0]["text"]
    assert first["output"]["message"]["role"] == "assistant"
    assert text.startswith(f"[simulated {MODEL}] ")
    assert first["stopReason"] == "end_turn"
    # Token rule: "Be"=1 "brief."=2 "Hello"=2 "world"=2.
    assert first["usage"]["inputTokens"] == 7
    assert first["usage"]["outputTokens"] == count_tokens(text)
    assert first["usage"]["totalTokens"] == 7 + count_tokens(text)
    assert first["metrics"]["latencyMs"] >= 0
    assert first["ResponseMetadata"]["HTTPHeaders"]["x-fmgw-simulator"] == "true"

    again = client.converse(**kwargs)
    assert again["output"]["message"]["content"][0]["text"] == text
    different = client.converse(modelId=MODEL, messages=_msgs("Something else entirely"))
    assert different["output"]["message"]["content"][0]["text"] != text


def test_invoke_model_anthropic_body(client):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 512,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello world"}]}],
    }
    response = client.invoke_model(modelId=MODEL, body=json.dumps(body))
    assert response["contentType"] == "application/json"
    payload = json.loads(response["body"].read())
    assert payload["type"] == "message" and payload["role"] == "assistant" and payload["model"] == MODEL
    assert payload["id"].startswith("msg_")
    assert payload["stop_reason"] == "end_turn"
    assert payload["content"][0]["type"] == "text"
    assert payload["content"][0]["text"] == reply_text(MODEL, "Hello world")
    assert payload["usage"] == {
        "input_tokens": 7,
        "output_tokens": count_tokens(payload["content"][0]["text"]),
    }


def test_converse_stream_events_match_converse(client):
    plain = client.converse(modelId=MODEL, messages=_msgs())
    events = list(client.converse_stream(modelId=MODEL, messages=_msgs())["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and events[0]["messageStart"] == {"role": "assistant"}
    assert kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = kinds[1:-3]
    assert len(deltas) >= 2 and set(deltas) == {"contentBlockDelta"}
    streamed = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:-3])
    assert streamed == plain["output"]["message"]["content"][0]["text"]
    assert all(e["contentBlockDelta"]["contentBlockIndex"] == 0 for e in events[1:-3])
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    usage_keys = ("inputTokens", "outputTokens", "totalTokens")
    assert events[-1]["metadata"]["usage"] == {k: plain["usage"][k] for k in usage_keys}
    assert "latencyMs" in events[-1]["metadata"]["metrics"]


def test_max_tokens_truncation(client):
    response = client.converse(modelId=MODEL, messages=_msgs(), inferenceConfig={"maxTokens": 20})
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 20
    text = response["output"]["message"]["content"][0]["text"]
    assert reply_text(MODEL, "Hello world").startswith(text) and text.startswith("[simulated")

    streamed = client.converse_stream(modelId=MODEL, messages=_msgs(), inferenceConfig={"maxTokens": 20})
    events = list(streamed["stream"])
    assert events[-2]["messageStop"]["stopReason"] == "max_tokens"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 20


def test_latency_is_applied(sim, client):
    sim.set_latency(MODEL, fixed_ms=150)
    started = time.monotonic()
    response = client.converse(modelId=MODEL, messages=_msgs())
    assert time.monotonic() - started >= 0.15
    assert response["metrics"]["latencyMs"] >= 150


def test_stream_events_are_spaced_by_per_token_latency(sim, client):
    sim.set_latency(MODEL, perTokenMs=3)
    started = time.monotonic()
    stream = client.converse_stream(modelId=MODEL, messages=_msgs())["stream"]
    arrivals = [(next(iter(e)), time.monotonic() - started) for e in stream]
    output_tokens = count_tokens(reply_text(MODEL, "Hello world"))
    assert arrivals[-1][1] >= 3 * output_tokens / 1000
    # Events are flushed as produced, not buffered until the end.
    assert arrivals[-1][1] - arrivals[0][1] >= 0.5 * 3 * output_tokens / 1000


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize(
    ("fields", "codes", "status"),
    [
        ({"throttleRate": 1.0}, {"ThrottlingException"}, {429}),
        ({"errorRate": 1.0}, {"ServiceUnavailableException", "InternalServerException"}, {500, 503}),
        ({"timeoutRate": 1.0, "timeoutSeconds": 0.05}, {"ModelTimeoutException"}, {408}),
        ({"down": True}, {"ServiceUnavailableException"}, {503}),
    ],
)
def test_injected_faults_map_to_client_errors(sim, client, fields, codes, status):
    sim.set_faults(MODEL, **fields)
    for call in (
        lambda: client.converse(modelId=MODEL, messages=_msgs()),
        lambda: client.converse_stream(modelId=MODEL, messages=_msgs()),
    ):
        with pytest.raises(ClientError) as exc_info:
            call()
        code, http_status = _error(exc_info)
        assert code in codes and http_status in status
    # Other models are unaffected.
    assert client.converse(modelId=OTHER, messages=_msgs())["stopReason"] == "end_turn"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 429),
        ("ServiceUnavailableException", 503),
        ("InternalServerException", 500),
        ("ModelTimeoutException", 408),
        ("ModelNotReadyException", 429),
        ("ModelErrorException", 424),
        ("ValidationException", 400),
        ("ResourceNotFoundException", 404),
        ("AccessDeniedException", 403),
    ],
)
def test_forced_error_code(sim, client, code, status):
    sim.set_faults("*claude-haiku*", errorCode=code)  # glob pattern
    with pytest.raises(ClientError) as exc_info:
        client.converse(modelId=MODEL, messages=_msgs())
    assert _error(exc_info) == (code, status)
    assert exc_info.value.response["Error"]["Message"]


def test_down_model_via_substring_and_default_entry(sim, client):
    sim.set_faults("nova", down=True)  # plain string = substring match
    with pytest.raises(ClientError) as exc_info:
        client.converse(modelId=OTHER, messages=_msgs())
    assert _error(exc_info) == ("ServiceUnavailableException", 503)
    assert client.converse(modelId=MODEL, messages=_msgs())["stopReason"] == "end_turn"
    sim.set_faults("*", down=True)
    sim.set_faults(MODEL, down=False)  # exact id wins over "*"
    assert client.converse(modelId=MODEL, messages=_msgs())["stopReason"] == "end_turn"


def test_fail_after_events_raises_event_stream_error(sim, client):
    sim.set_faults(MODEL, failAfterEvents=2)
    response = client.converse_stream(modelId=MODEL, messages=_msgs())
    received = []
    with pytest.raises(EventStreamError) as exc_info:
        for event in response["stream"]:
            received.append(next(iter(event)))
    assert received == ["messageStart", "contentBlockDelta"]
    assert exc_info.value.response["Error"]["Code"] == "modelStreamErrorException"

    sim.set_faults(MODEL, failAfterEvents=0, streamErrorType="throttlingException")
    with pytest.raises(EventStreamError) as exc_info:
        list(client.converse_stream(modelId=MODEL, messages=_msgs())["stream"])
    assert exc_info.value.response["Error"]["Code"] == "throttlingException"


def test_region_down(sim):
    sim.configure(regionsDown=["us-east-1"])
    with pytest.raises(ClientError) as exc_info:
        _client(sim.url, "us-east-1").converse(modelId=MODEL, messages=_msgs())
    assert _error(exc_info) == ("ServiceUnavailableException", 503)
    assert _client(sim.url, "us-west-2").converse(modelId=MODEL, messages=_msgs())["stopReason"] == "end_turn"


def test_seeded_fault_rates_are_reproducible(sim, client):
    def outcomes() -> list[str]:
        sim.reset()
        sim.set_faults(MODEL, throttleRate=0.5)
        result = []
        for _ in range(12):
            try:
                client.converse(modelId=MODEL, messages=_msgs())
                result.append("ok")
            except ClientError as exc:
                result.append(exc.response["Error"]["Code"])
        return result

    first = outcomes()
    assert first == outcomes()
    assert set(first) == {"ok", "ThrottlingException"}


# ---------------------------------------------------------------- validation
def test_validation_errors(sim, client):
    with pytest.raises(ClientError) as exc_info:
        client.converse(modelId=MODEL, messages=[])
    assert _error(exc_info) == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc_info:
        client.converse(modelId="gpt-4o", messages=_msgs())
    assert _error(exc_info) == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc_info:
        client.invoke_model(modelId=MODEL, body=json.dumps({"messages": _msgs()}))  # no max_tokens
    assert _error(exc_info) == ("ValidationException", 400)
    sim.configure(unknownModels=["*titan*"])
    with pytest.raises(ClientError) as exc_info:
        client.converse(modelId="amazon.titan-text-premier-v1:0", messages=_msgs())
    assert _error(exc_info) == ("ResourceNotFoundException", 404)


# ---------------------------------------------------------------- control endpoint
def test_control_endpoint(sim, client):
    with httpx.Client(base_url=sim.url, timeout=5) as http:
        health = http.get("/_sim/health")
        assert health.status_code == 200 and health.headers["x-fmgw-simulator"] == "true"
        assert http.get("/_sim/config").json()["faults"]["*"]["throttleRate"] == 0

        put = http.put("/_sim/config", json={"faults": {MODEL: {"throttleRate": 1.0}}})
        assert put.status_code == 200 and put.json()["faults"] == {MODEL: {"throttleRate": 1.0}}
        with pytest.raises(ClientError) as exc_info:
            client.converse(modelId=MODEL, messages=_msgs())
        assert _error(exc_info)[0] == "ThrottlingException"

        fields = {"model": MODEL, "throttleRate": 0, "errorCode": "ModelErrorException"}
        posted = http.post("/_sim/faults", json=fields)
        assert posted.status_code == 200
        assert posted.json()["faults"] == {"throttleRate": 0, "errorCode": "ModelErrorException"}
        with pytest.raises(ClientError) as exc_info:
            client.converse(modelId=MODEL, messages=_msgs())
        assert _error(exc_info) == ("ModelErrorException", 424)

        bad = http.post("/_sim/faults", json={"model": MODEL, "throttleRat": 1})
        assert bad.status_code == 400 and "throttleRat" in bad.json()["message"]

        stats = http.get("/_sim/stats").json()
        assert stats["models"][MODEL]["calls"] == 2
        assert stats["models"][MODEL]["successes"] == 0
        assert stats["models"][MODEL]["errors"] == {"ThrottlingException": 1, "ModelErrorException": 1}

        assert http.post("/_sim/reset").status_code == 200
        empty = {"totals": {"calls": 0, "successes": 0, "errors": 0}, "models": {}}
        assert http.get("/_sim/stats").json() == empty
        assert client.converse(modelId=MODEL, messages=_msgs())["stopReason"] == "end_turn"
        assert sim.stats()["models"][MODEL]["successes"] == 1


# ---------------------------------------------------------------- settings sources and CLI
def test_settings_layering(tmp_path, monkeypatch):
    config_file = tmp_path / "sim.json"
    config_file.write_text(json.dumps({"seed": 7, "faults": {"*": {"throttleRate": 0.3, "errorRate": 0.2}}}))
    monkeypatch.setenv(ENV_CONFIG, str(config_file))
    monkeypatch.setenv(ENV_FAULTS, json.dumps({"*": {"throttleRate": 0.9}, MODEL: {"down": True}}))
    settings = load_settings()
    assert settings["seed"] == 7
    assert settings["faults"]["*"]["throttleRate"] == 0.9
    assert settings["faults"]["*"]["errorRate"] == 0.2
    assert settings["faults"]["*"]["timeoutRate"] == 0.0  # from local/simulator.json
    assert settings["faults"][MODEL] == {"down": True}
    assert load_settings(use_env=False)["faults"]["*"]["throttleRate"] == 0.0
    with pytest.raises(ValueError):
        load_settings(use_env=False, overrides={"faults": {"*": {"throttleRate": 2}}})


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup, `cmd &` in a script, some CI runners


@pytest.mark.parametrize(
    ("stop_signal", "started_with_sigint_ignored"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGTERM, True)],
)
def test_cli_prints_url_and_stops_on_ctrl_c(stop_signal, started_with_sigint_ignored):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop(ENV_CONFIG, None)
    env.pop(ENV_FAULTS, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.bedrock_simulator", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if started_with_sigint_ignored else None,
    )
    try:
        line = proc.stdout.readline().strip()
        url = line.rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/_sim/health", timeout=5).status_code == 200
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_primary_slower_than_the_read_timeout_is_tried_once_then_the_fallback_answers(tmp_path):
    """The read timeout is not retried on the same model (botocore's standard mode would): one timeout
    on the primary, then the next candidate, well within the request budget."""
    from fmgateway import runtime
    from fmgateway.values.exchange import ChatRequest
    from tests.conftest import CONFIG_FILE

    config = json.loads(CONFIG_FILE.read_text())
    config["timeouts"] = {"connectSeconds": 1, "readSeconds": 1, "requestBudgetSeconds": 20}
    config["retries"] = {"maxAttempts": 3}
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    with BedrockSimulator(use_env=False) as simulator:
        simulator.set_latency(MODEL, fixedMs=1500)  # the exact id wins over the default patterns
        env = {
            "FMGW_CONFIG_FILE": str(path),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
        }
        old = os.environ.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = simulator.url
        try:
            gateway = runtime.build_gateway(env)
            result = gateway.chat(ChatRequest(messages=_msgs(), tier="simple"))
        finally:
            if old is None:
                os.environ.pop("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
            else:
                os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = old
        models = simulator.stats()["models"]
    assert [(a.model, a.outcome) for a in result.attempts] == [("claude-haiku-4-5", "timeout"), ("nova-lite", "ok")]
    assert models[MODEL]["calls"] == 1  # not retried on the slow model


def test_replies_per_prompt_per_model_right_for_one_wrong_for_another(sim, client):
    sim.configure(replies={MODEL: {"What is 2+2?": "4", "*": "something else"}, "*nova-lite*": {"What is 2+2?": "5"}})
    ask = [{"role": "user", "content": [{"text": " What is 2+2? "}]}]
    assert client.converse(modelId=MODEL, messages=ask)["output"]["message"]["content"][0]["text"] == "4"
    other = client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert other["output"]["message"]["content"][0]["text"] == "something else"
    nova = client.converse(modelId="us.amazon.nova-lite-v1:0", messages=ask)
    assert nova["output"]["message"]["content"][0]["text"] == "5"
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "What is 2+2?"}],
    }
    invoked = json.loads(client.invoke_model(modelId=MODEL, body=json.dumps(body))["body"].read())
    assert invoked["content"][0]["text"] == "4"
    unscripted = client.converse(modelId="us.amazon.nova-pro-v1:0", messages=ask)
    assert unscripted["output"]["message"]["content"][0]["text"] == reply_text("us.amazon.nova-pro-v1:0", " What is 2+2? ")
    with pytest.raises(ValueError, match="reply text, or -> {prompt: reply text}"):
        sim.configure(replies={MODEL: {"What?": 4}})
