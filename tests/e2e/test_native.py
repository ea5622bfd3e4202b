"""Bedrock-native paths and embeddings end to end (issue 11): ``python -m local`` with the simulator, driven by an
unmodified boto3 ``bedrock-runtime`` client (``endpoint_url`` = the gateway, the key added by the README's one-line
event hook, SigV4-signed with dummy credentials) and by the ``openai`` SDK.

The code in these tests is the AWS example code: ``converse``, ``invoke_model`` with ``response["body"].read()``,
``converse_stream`` and ``invoke_model_with_response_stream`` iterated with botocore's own event-stream parser.
"""

from __future__ import annotations

import io
import json
import math

import boto3
import httpx
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

PRIMARY = "anthropic.claude-haiku-4-5-20251001-v1:0"  # the simple tier's first model; nova-lite follows it
PRIMARY_PROFILE = f"us.{PRIMARY}"
ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 200,
    "system": "Answer briefly.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Describe the purpose of a 'hello world' program."}]}],
}


def bedrock(gw, key: str | None = None):
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=gw.url,
        region_name="us-east-1",
        aws_access_key_id="dummy",  # boto3 signs with SigV4; the gateway reads x-api-key and ignores the signature
        aws_secret_access_key="dummy",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )
    api_key = key or gw.key
    # the README's one-line hook
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: request.headers.__setitem__("x-api-key", api_key)
    )
    return client


@pytest.fixture
def gw(local_gateway):
    local_gateway.reset_faults()
    yield local_gateway
    local_gateway.reset_faults()


def sim_requests(gw) -> list[dict]:
    return httpx.get(f"{gw.simulator}/_sim/requests", timeout=5).json()["requests"]


def test_converse_with_tool_config_and_request_metadata(gw):
    client = bedrock(gw)
    response = client.converse(
        modelId=PRIMARY,  # a real Bedrock model id: botocore percent-encodes its ':'
        messages=[{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}],
        toolConfig={
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "Current weather of a city",
                        "inputSchema": {
                            "json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
                        },
                    }
                }
            ]
        },
        requestMetadata={"team": "search", "purpose": "e2e"},
    )
    assert response["stopReason"] == "tool_use"
    tool_use = response["output"]["message"]["content"][0]["toolUse"]
    assert tool_use["name"] == "get_weather" and "city" in tool_use["input"]
    assert response["usage"]["inputTokens"] > 0 and response["metrics"]["latencyMs"] >= 0
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-gateway-model"] == "claude-haiku-4-5" and headers["x-gateway-degraded"] == "false"
    assert int(headers["x-amzn-bedrock-output-token-count"]) == response["usage"]["outputTokens"]
    sent = next(r for r in reversed(sim_requests(gw)) if r["modelId"] == PRIMARY_PROFILE and r["operation"] == "converse")
    assert sent["toolConfig"] is True
    assert sent["requestMetadata"]["team"] == "search" and sent["requestMetadata"]["fmgw-model"] == "claude-haiku-4-5"


def test_invoke_model_with_an_anthropic_body_answers_in_anthropic_shape(gw):
    client = bedrock(gw)
    response = client.invoke_model(modelId=PRIMARY, body=json.dumps(ANTHROPIC_BODY))
    model_response = json.loads(response["body"].read())
    assert model_response["type"] == "message" and model_response["role"] == "assistant"
    assert model_response["content"][0]["type"] == "text" and model_response["content"][0]["text"]
    assert model_response["stop_reason"] == "end_turn"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert response["contentType"] == "application/json"
    assert int(headers["x-amzn-bedrock-input-token-count"]) == model_response["usage"]["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == model_response["usage"]["output_tokens"]
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0
    assert headers["x-gateway-model"] == "claude-haiku-4-5" and headers["x-gateway-degraded"] == "false"
    sent = next(r for r in reversed(sim_requests(gw)) if r["operation"] == "invoke")
    assert sent["requestMetadata"]["fmgw-route"] == "model:claude-haiku-4-5"  # the gateway's keys on InvokeModel too


def test_converse_stream_is_parsed_by_botocore(gw):
    client = bedrock(gw)
    messages = [{"role": "user", "content": [{"text": "Tell me a short story."}]}]
    response = client.converse_stream(modelId="simple", messages=messages, inferenceConfig={"maxTokens": 300})
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    kinds, text = [], ""
    for event in response["stream"]:
        kinds.append(next(iter(event)))
        if "contentBlockDelta" in event:
            text += event["contentBlockDelta"]["delta"]["text"]
        if "metadata" in event:
            usage = event["metadata"]["usage"]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    plain = client.converse(modelId="simple", messages=messages, inferenceConfig={"maxTokens": 300})
    assert text == plain["output"]["message"]["content"][0]["text"]
    assert usage["outputTokens"] == plain["usage"]["outputTokens"]


def test_invoke_model_with_response_stream_yields_anthropic_chunks(gw):
    client = bedrock(gw)
    response = client.invoke_model_with_response_stream(modelId="claude-haiku-4-5", body=json.dumps(ANTHROPIC_BODY))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    kinds = [chunk["type"] for chunk in chunks]
    assert kinds[:2] == ["message_start", "content_block_start"] and kinds[-3:] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    plain = json.loads(bedrock(gw).invoke_model(modelId="claude-haiku-4-5", body=json.dumps(ANTHROPIC_BODY))["body"].read())
    assert text == plain["content"][0]["text"]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == plain["usage"]["output_tokens"]


def test_fallback_from_an_anthropic_primary_still_answers_in_anthropic_shape(gw):
    gw.fault(PRIMARY_PROFILE, down=True)  # the primary is down: the simple tier's next model (Nova) answers
    client = bedrock(gw)
    response = client.invoke_model(modelId="simple", body=json.dumps(ANTHROPIC_BODY))
    model_response = json.loads(response["body"].read())
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-gateway-model"] == "nova-lite"
    assert model_response["type"] == "message" and model_response["content"][0]["type"] == "text"
    assert "us.amazon.nova-lite-v1:0" in model_response["content"][0]["text"]  # Nova wrote it
    assert model_response["usage"]["output_tokens"] > 0 and model_response["stop_reason"] == "end_turn"
    stream = client.invoke_model_with_response_stream(modelId="simple", body=json.dumps(ANTHROPIC_BODY))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in stream["body"]]
    assert stream["ResponseMetadata"]["HTTPHeaders"]["x-gateway-model"] == "nova-lite"
    assert chunks[0]["type"] == "message_start" and chunks[-1]["type"] == "message_stop"


def test_a_failure_after_the_first_token_is_an_exception_event(gw):
    gw.fault(PRIMARY_PROFILE, failAfterEvents=3)
    with pytest.raises(EventStreamError) as caught:
        for _ in bedrock(gw).converse_stream(modelId=PRIMARY, messages=[{"role": "user", "content": [{"text": "Hi"}]}])["stream"]:
            pass
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "incomplete" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("model_id", "body", "says"),
    [
        # an Anthropic body for a Llama model: read as Llama's, whose fields it does not have
        ("llama3-3-70b", ANTHROPIC_BODY, "not a field of the Meta Llama request body"),
        # a model the gateway has no body translation for
        ("command-r-plus", ANTHROPIC_BODY, "cannot be sent to command-r-plus"),
        # a tier names no family: the body's own shape must say it
        ("medium", {"foo": "bar"}, "cannot tell which model family"),
        # a catalog model without a translation, and a body of no family: says the model is known, where to go
        ("command-r-plus", {"message": "hi"}, "does not translate (POST /model/command-r-plus/converse"),
    ],
)
def test_an_untranslatable_body_is_a_400(gw, model_id, body, says):
    with pytest.raises(ClientError) as caught:
        bedrock(gw).invoke_model(modelId=model_id, body=json.dumps(body))
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "ValidationException" and says in error["Error"]["Message"]


def test_an_unknown_model_id_is_a_404_naming_the_aliases(gw):
    with pytest.raises(ClientError) as caught:
        bedrock(gw).converse(modelId="gpt-4o", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404 and error["Error"]["Code"] == "ResourceNotFoundException"
    assert "claude-haiku-4-5" in error["Error"]["Message"] and "simple" in error["Error"]["Message"]


def test_no_key_is_401_and_a_signature_alone_is_not_a_key(gw):
    client = boto3.client(
        "bedrock-runtime", endpoint_url=gw.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    with pytest.raises(ClientError) as caught:
        client.converse(modelId="simple", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"  # x-amzn-ErrorType, as the stack sends it
    assert caught.value.response["Error"]["Message"].startswith("Unauthorized: send the API key")  # was empty


def test_an_unknown_key_is_403_with_a_message_boto3_shows(gw):
    client = bedrock(gw, key="fmgw-not-a-key")
    with pytest.raises(ClientError) as caught:
        client.converse(modelId="simple", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert caught.value.response["Error"]["Message"].startswith("Forbidden")


def test_openai_embeddings_of_a_list_come_back_in_order_at_the_requested_dimension(gw):
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key)
    texts = ["first text", "second text", "a third, longer text about gateways"]
    result = client.embeddings.create(model="titan-embed-text-v2", input=texts, dimensions=256)
    assert [item.index for item in result.data] == [0, 1, 2]
    assert all(len(item.embedding) == 256 for item in result.data)
    assert all(math.isclose(sum(v * v for v in item.embedding), 1.0, rel_tol=1e-4) for item in result.data)  # normalized
    alone = client.embeddings.create(model="titan-embed-text-v2", input=texts[1], dimensions=256)
    assert alone.data[0].embedding == pytest.approx(result.data[1].embedding, abs=1e-6)  # the same text, the same vector
    assert result.usage.prompt_tokens > 0 and result.usage.total_tokens == result.usage.prompt_tokens
    assert result.model == "titan-embed-text-v2"


def test_a_cohere_batch_over_its_limit_is_split_and_reassembled(gw):
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key)
    texts = [f"document number {i}" for i in range(130)]  # Cohere takes 96 texts per call
    result = client.embeddings.create(model="english", input=texts, encoding_format="float")
    assert len(result.data) == 130 and all(len(item.embedding) == 1024 for item in result.data)
    last = client.embeddings.create(model="cohere-embed-english-v3", input=texts[-1])
    assert last.data[0].embedding == pytest.approx(result.data[-1].embedding, abs=1e-6)


def test_embeddings_fields_are_honoured_or_refused(gw):
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key)
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model="cohere-embed-english-v3", input="x", dimensions=256)
    with pytest.raises(openai.BadRequestError, match="body.model: unknown embedding model"):  # as on the chat routes
        client.embeddings.create(model="text-embedding-3-small", input="x")
    with gw.client() as http:
        refused = http.post("/v1/embeddings", json={"model": "titan-embed-text-v2", "input": "x", "extra": 1})
    assert refused.status_code == 400 and "extra" in refused.json()["error"]["message"]  # API Gateway's model refuses it


def test_a_titan_embeddings_body_through_invoke_model_returns_titans_shape(gw):
    response = bedrock(gw).invoke_model(
        modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "Hello embeddings", "dimensions": 512})
    )
    answer = json.loads(response["body"].read())
    assert len(answer["embedding"]) == 512 and answer["inputTextTokenCount"] > 0
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-gateway-model"] == "titan-embed-text-v2"


def test_the_bearer_token_botocore_sends_by_itself_is_accepted(gw, monkeypatch):
    """``AWS_BEARER_TOKEN_BEDROCK`` set: botocore (1.44.5) sends ``Authorization: Bearer <token>`` instead of a SigV4
    signature, over HTTPS only. Local mode serves HTTP, so a ``before-send`` hook carries botocore's own prepared
    request (headers and body unchanged) to the local gateway and hands the answer back for botocore to parse."""
    from botocore.awsrequest import AWSResponse

    class Body(io.BytesIO):  # what botocore reads a response from: stream() for parsed bodies, read() for blobs
        def stream(self, **_):
            yield self.getvalue()

    sent: list[str] = []

    def transport(request, **_):
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        sent.append(headers.get("Authorization", ""))
        answer = httpx.request(request.method, request.url.replace("https://gateway.example", gw.url), headers=headers,
                               content=request.body, timeout=30)  # fmt: skip
        return AWSResponse(request.url, answer.status_code, dict(answer.headers), Body(answer.content))

    def client_with(token: str):
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
        client = boto3.client(
            "bedrock-runtime", endpoint_url="https://gateway.example", region_name="us-east-1",
            aws_access_key_id="dummy", aws_secret_access_key="dummy", config=Config(retries={"total_max_attempts": 1}),
        )  # fmt: skip
        client.meta.events.register("before-send.bedrock-runtime.*", transport)
        return client

    client = client_with(gw.key)
    answer = client.converse(modelId="auto", messages=[{"role": "user", "content": [{"text": "Hello"}]}])
    assert answer["output"]["message"]["content"][0]["text"] and sent[-1] == f"Bearer {gw.key}"
    response = client.invoke_model(modelId="claude-haiku-4-5", body=json.dumps(ANTHROPIC_BODY))
    assert json.loads(response["body"].read())["type"] == "message"
    with pytest.raises(ClientError) as caught:
        client_with("wrong-key-000000000").converse(modelId="auto", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and sent[-1] == "Bearer wrong-key-000000000"


def test_every_candidate_down_answers_the_cached_answer_degraded_in_the_callers_shape(gw):
    client = bedrock(gw)
    body = {**ANTHROPIC_BODY, "messages": [{"role": "user", "content": "Remember this answer for later."}]}
    first = json.loads(client.invoke_model(modelId="simple", body=json.dumps(body))["body"].read())
    for model in (
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "us.amazon.nova-lite-v1:0",
        "us.meta.llama3-3-70b-instruct-v1:0",
    ):
        gw.fault(model, down=True)
    response = client.invoke_model(modelId="simple", body=json.dumps(body))
    again = json.loads(response["body"].read())
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-gateway-degraded"] == "true"
    assert again["type"] == "message" and again["content"] == first["content"]


def test_a_usage_plan_throttle_is_a_throttling_exception_for_boto3(gw):
    """Runs last in this module: it spends the standard plan's burst (20) of its key."""
    client = bedrock(gw, key=gw.keys[0])  # the standard plan: rate 10, burst 20
    body = json.dumps({"inputText": "throttle me", "dimensions": 256})
    with pytest.raises(ClientError) as caught:
        for _ in range(60):
            client.invoke_model(modelId="titan-embed-text-v2", body=body)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
