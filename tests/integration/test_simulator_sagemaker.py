"""SageMaker Runtime on the simulator through an unmodified boto3 ``sagemaker-runtime`` client: InvokeEndpoint and
InvokeEndpointWithResponseStream for the TGI Messages API and LMI chat containers, with and without inference components
(local/simulator_sagemaker.py, local/simulator_containers.py)."""

from __future__ import annotations

import json
import time

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from local.bedrock_simulator import BedrockSimulator
from local.simulator_text import count_tokens, reply_text

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10)
ENDPOINTS = {
    "support-tgi": {"container": "tgi-messages"},
    "domain-lmi": {"container": "lmi-chat", "inferenceComponents": ["lora-a", "lora-b"]},
}
TGI, LMI = "sagemaker/support-tgi", "sagemaker/domain-lmi/lora-a"


@pytest.fixture(scope="module")
def sim():
    with BedrockSimulator({"sagemakerEndpoints": ENDPOINTS}, use_env=False) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _reset(sim):
    sim.reset()
    yield


@pytest.fixture(scope="module")
def client(sim):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=sim.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=NO_RETRY,
    )


def _body(text: str = "Hello there", **fields) -> bytes:
    return json.dumps(
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}], **fields}
    ).encode()


def _invoke(client, endpoint: str = "support-tgi", component: str | None = None, **fields) -> tuple[dict, dict]:
    extra = {"InferenceComponentName": component} if component else {}
    answer = client.invoke_endpoint(EndpointName=endpoint, Body=_body(**fields), ContentType="application/json", **extra)
    return answer, json.loads(answer["Body"].read())


def _stream(client, endpoint: str = "support-tgi", component: str | None = None, **fields) -> tuple[dict, list[bytes]]:
    extra = {"InferenceComponentName": component} if component else {}
    answer = client.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=_body(**fields), **extra)
    return answer, [event["PayloadPart"]["Bytes"] for event in answer["Body"]]


def _sse(data: bytes) -> list[str]:
    """Server-sent events' data fields, reassembled."""
    assert data.endswith(b"\n\n")
    return [event.removeprefix("data: ") for event in data.decode().split("\n\n") if event]


def _error(exc_info) -> tuple[str, int, dict]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


def _usage(text: str) -> dict:
    prompt = count_tokens("Be brief.") + count_tokens("Hello there")
    return {"prompt_tokens": prompt, "completion_tokens": count_tokens(text), "total_tokens": prompt + count_tokens(text)}


# ---- InvokeEndpoint


def test_tgi_answers_a_chat_completion(sim, client):
    answer, body = _invoke(client)
    text = reply_text(TGI, "Hello there")
    assert answer["ContentType"] == "application/json" and answer["InvokedProductionVariant"] == "AllTraffic"
    assert body["object"] == "chat.completion" and body["id"] == "" and body["system_fingerprint"]
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}
    ]
    assert body["usage"] == _usage(text) and body["model"] == TGI
    _, cut = _invoke(client, max_tokens=3)
    assert cut["choices"][0]["finish_reason"] == "length" and cut["usage"]["completion_tokens"] <= 3
    _, stopped = _invoke(client, stop=["]"])
    assert stopped["choices"][0] == {**stopped["choices"][0], "finish_reason": "stop_sequence"}
    assert stopped["choices"][0]["message"]["content"] == f"[simulated {TGI}"
    assert sim.requests()[0] == {
        "modelId": TGI,
        "operation": "InvokeEndpoint",
        "endpoint": "support-tgi",
        "inferenceComponent": None,
        "container": "tgi-messages",
        "stream": False,
        "bodyStream": False,
    }


def test_lmi_answers_with_the_inference_component_named(sim, client):
    _, body = _invoke(client, "domain-lmi", "lora-a", temperature=0.2, top_p=0.9)
    text = reply_text(LMI, "Hello there")
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion" and body["model"] == LMI
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": text, "tool_calls": []}
    assert (choice["finish_reason"], choice["stop_reason"]) == ("stop", None) and body["usage"] == _usage(text)
    _, other = _invoke(client, "domain-lmi", "lora-b")
    assert other["choices"][0]["message"]["content"] == reply_text("sagemaker/domain-lmi/lora-b", "Hello there")
    _, stopped = _invoke(client, "domain-lmi", "lora-a", stop="]")
    assert stopped["choices"][0]["finish_reason"] == "stop"  # vLLM says stop for a stop string too
    recorded = [
        (r["endpoint"], r["inferenceComponent"], r["container"]) for r in httpx.get(f"{sim.url}/_sim/requests").json()["requests"]
    ]
    assert recorded == [
        ("domain-lmi", "lora-a", "lmi-chat"),
        ("domain-lmi", "lora-b", "lmi-chat"),
        ("domain-lmi", "lora-a", "lmi-chat"),
    ]


def test_invoke_endpoint_with_a_stream_body_answers_the_whole_stream(client):
    answer = client.invoke_endpoint(EndpointName="support-tgi", Body=_body(stream=True))
    assert answer["ContentType"] == "text/event-stream"
    events = _sse(answer["Body"].read())
    assert events[-1] == "[DONE]" and json.loads(events[0])["object"] == "chat.completion.chunk"


# ---- InvokeEndpointWithResponseStream


def test_tgi_streams_server_sent_events_in_parts_that_cut_json(client):
    answer, parts = _stream(client, stream=True, stream_options={"include_usage": True})
    assert answer["ContentType"] == "text/event-stream"
    assert max(map(len, parts)) <= 7 and len(parts) > 20
    assert any(not _valid_json(part) for part in parts)  # parts cut JSON objects...
    assert any(b"\n\n" in part and not part.endswith(b"\n\n") for part in parts)  # ...and end one event inside a part
    events = _sse(b"".join(parts))
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    content = [c for c in chunks if c["choices"]]
    text = reply_text(TGI, "Hello there")
    assert "".join(c["choices"][0]["delta"]["content"] for c in content) == text
    assert all(c["choices"][0]["delta"]["role"] == "assistant" and c["object"] == "chat.completion.chunk" for c in content)
    assert [c["choices"][0]["finish_reason"] for c in content] == [None] * (len(content) - 1) + ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == _usage(text)  # include_usage: one more chunk
    _, parts = _stream(client, stream=True)  # without include_usage no usage at all, as TGI
    chunks = [json.loads(event) for event in _sse(b"".join(parts))[:-1]]
    assert all(c["usage"] is None and c["choices"] for c in chunks)


def test_lmi_streams_json_lines_with_the_component_recorded(sim, client):
    answer, parts = _stream(client, "domain-lmi", "lora-b", stream=True, stream_options={"include_usage": True})
    assert answer["ContentType"] == "application/jsonlines"
    data = b"".join(parts)
    assert data.endswith(b"\n") and b"data:" not in data and b"[DONE]" not in data
    assert any(not _valid_json(part) for part in parts)
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert lines[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = reply_text("sagemaker/domain-lmi/lora-b", "Hello there")
    content = [line for line in lines[1:] if line["choices"]]
    assert "".join(line["choices"][0]["delta"]["content"] for line in content) == text
    assert content[-1]["choices"][0]["finish_reason"] == "stop" and lines[-1]["usage"] == _usage(text)
    assert len({line["id"] for line in lines}) == 1 and lines[0]["id"].startswith("chatcmpl-")
    recorded = sim.requests()[-1]
    assert (recorded["operation"], recorded["inferenceComponent"], recorded["stream"], recorded["bodyStream"]) == (
        "InvokeEndpointWithResponseStream",
        "lora-b",
        True,
        True,
    )


def test_a_stream_of_a_body_without_stream_carries_the_whole_completion(sim, client):
    sim.configure(sagemaker_part_bytes=64)
    answer, parts = _stream(client, "domain-lmi", "lora-a", max_tokens=4)
    assert answer["ContentType"] == "application/json" and max(map(len, parts)) == 64
    body = json.loads(b"".join(parts))
    assert body["object"] == "chat.completion" and body["choices"][0]["finish_reason"] == "length"


def _valid_json(part: bytes) -> bool:
    try:
        json.loads(part)
    except ValueError:
        return False
    return True


# ---- errors


def test_unknown_endpoints_and_components_are_validation_errors(client):
    cases = [
        ("nope", None, "Endpoint nope of account 123456789012 not found."),
        ("domain-lmi", None, "Inference Component Name header is required"),
        ("domain-lmi", "lora-z", "Inference component lora-z not found"),
        ("support-tgi", "lora-a", "Inference component lora-a not found"),
    ]
    for endpoint, component, says in cases:
        for call in (_invoke, _stream):
            with pytest.raises(ClientError) as exc_info:
                call(client, endpoint, component)
            code, status, response = _error(exc_info)
            assert (code, status) == ("ValidationError", 400) and says in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ValidationError"


def test_a_body_the_container_refuses_is_a_model_error(client):
    for endpoint, component, original in (("support-tgi", None, 422), ("domain-lmi", "lora-a", 400)):
        with pytest.raises(ClientError) as exc_info:
            client.invoke_endpoint(EndpointName=endpoint, Body=b'{"inputs": "no messages"}', **_component(component))
        code, status, response = _error(exc_info)
        assert (code, status, response["OriginalStatusCode"]) == ("ModelError", 424, original)
        assert "messages" in response["OriginalMessage"] and response["LogStreamArn"].startswith("arn:aws:logs:us-east-1:")


def _component(component: str | None) -> dict:
    return {"InferenceComponentName": component} if component else {}


def test_faults_by_pattern_become_sagemaker_errors(sim, client):
    sim.set_faults("sagemaker/domain-lmi/lora-b", errorCode="ThrottlingException")
    with pytest.raises(ClientError) as exc_info:
        _invoke(client, "domain-lmi", "lora-b")
    assert _error(exc_info)[:2] == ("ThrottlingException", 400)
    _invoke(client, "domain-lmi", "lora-a")  # the other component is fine
    for fault, expected in (
        ({"errorCode": "ModelTimeoutException"}, ("ModelError", 424)),
        ({"errorCode": "ModelNotReadyException"}, ("ModelNotReadyException", 429)),
        ({"errorCode": "InternalServerException"}, ("InternalFailure", 500)),
        ({"errorCode": None, "down": True}, ("ServiceUnavailable", 503)),
    ):
        sim.set_faults("sagemaker/support-tgi", **fault)
        with pytest.raises(ClientError) as exc_info:
            _stream(client, stream=True)
        assert _error(exc_info)[:2] == expected
    stats = sim.stats()["models"]
    assert stats["sagemaker/domain-lmi/lora-b"]["errors"] == {"ThrottlingException": 1}
    assert stats["sagemaker/domain-lmi/lora-a"]["successes"] == 1
    assert stats["sagemaker/support-tgi"]["operations"] == {"InvokeEndpointWithResponseStream": 4}


def test_a_stream_can_break_after_some_messages(sim, client):
    sim.set_faults("sagemaker/support-tgi", failAfterEvents=2)
    answer = client.invoke_endpoint_with_response_stream(EndpointName="support-tgi", Body=_body(stream=True))
    received = b""
    with pytest.raises(EventStreamError) as exc_info:
        for event in answer["Body"]:
            received += event["PayloadPart"]["Bytes"]
    assert exc_info.value.response["Error"]["Code"] == "ModelStreamError"
    assert received.count(b"data: ") == 2  # two events, then the error
    sim.set_faults("sagemaker/support-tgi", streamErrorType="throttlingException")
    with pytest.raises(EventStreamError) as exc_info:
        list(client.invoke_endpoint_with_response_stream(EndpointName="support-tgi", Body=_body(stream=True))["Body"])
    assert exc_info.value.response["Error"]["Code"] == "InternalStreamFailure"


def test_latency_and_replies_follow_the_patterns(sim, client):
    sim.set_latency("sagemaker/support-tgi", fixedMs=300)
    sim.configure(replies={"sagemaker/domain-lmi/*": {"ping": "pong", "*": "other"}})
    started = time.monotonic()
    _invoke(client)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    answer = client.invoke_endpoint_with_response_stream(EndpointName="support-tgi", Body=_body(stream=True))
    next(iter(answer["Body"]))
    assert time.monotonic() - started >= 0.3  # the first part waits fixedMs
    started = time.monotonic()
    _, body = _invoke(client, "domain-lmi", "lora-a", text="ping")
    assert time.monotonic() - started < 0.3 and body["choices"][0]["message"]["content"] == "pong"
    assert _invoke(client, "domain-lmi", "lora-b", text="hm")[1]["choices"][0]["message"]["content"] == "other"


def test_endpoints_are_added_at_run_time(sim, client):
    answer = httpx.put(f"{sim.url}/_sim/sagemaker-endpoints", json={"late-tgi": {"container": "tgi-messages"}})
    assert answer.status_code == 200 and set(answer.json()["sagemakerEndpoints"]) == {"support-tgi", "domain-lmi", "late-tgi"}
    assert _invoke(client, "late-tgi")[1]["object"] == "chat.completion"
    sim.add_sagemaker_endpoint("late-lmi", "lmi-chat", ["adapter-1"])
    assert _invoke(client, "late-lmi", "adapter-1")[1]["id"].startswith("chatcmpl-")
    assert sim.capacity()["sagemakerEndpoints"]["late-lmi"] == {"container": "lmi-chat", "inferenceComponents": ["adapter-1"]}
    assert httpx.put(f"{sim.url}/_sim/sagemaker-endpoints", json={"bad": {"container": "triton"}}).status_code == 400
    assert httpx.put(f"{sim.url}/_sim/sagemaker-endpoints", json={"bad name": {"container": "lmi-chat"}}).status_code == 400
    sim.reset()  # back to the configured endpoints
    assert set(sim.capacity()["sagemakerEndpoints"]) == {"support-tgi", "domain-lmi"}
