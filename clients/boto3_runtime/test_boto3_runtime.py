"""boto3 ``bedrock-runtime`` against the gateway's native routes, as AWS's own examples call it, both ways of sending
the key: README's event hook on an unsigned client, and a Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``) over HTTPS."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError


def hooked(url: str, key: str):
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: request.headers.__setitem__("x-api-key", key)
    )
    return client


@pytest.fixture(scope="module")
def runtime(url, key):
    return hooked(url, key)


@pytest.fixture(scope="module")
def bearer(tls_url, key, ca_file, monkeypatch_module):
    monkeypatch_module.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    return boto3.client("bedrock-runtime", endpoint_url=tls_url, region_name="us-east-1", verify=ca_file)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"  # the id AWS's examples use (deprecated: answered, with a header)
NOVA = "amazon.nova-lite-v1:0"


def converse_example(client, model_id: str, unique: str) -> str:
    """AWS's Converse example, as published."""
    conversation = [
        {"role": "user", "content": [{"text": f"Describe the purpose of a 'hello world' program in one line. {unique}"}]}
    ]
    response = client.converse(
        modelId=model_id, messages=conversation, inferenceConfig={"maxTokens": 512, "temperature": 0.5, "topP": 0.9}
    )
    return response["output"]["message"]["content"][0]["text"]


@pytest.mark.parametrize("model_id", [CLAUDE, NOVA, "claude-haiku-4-5"])
def test_converse(runtime, model_id, unique):
    assert converse_example(runtime, model_id, unique)


def test_converse_stream(runtime, unique):
    streamed = runtime.converse_stream(modelId=NOVA, messages=[{"role": "user", "content": [{"text": f"Hi {unique}"}]}])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in streamed["stream"] if "contentBlockDelta" in e)
    assert text


def test_invoke_model_anthropic_body(runtime, unique):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 512,
        "temperature": 0.5,
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"Hello {unique}"}]}],
    }
    response = runtime.invoke_model(modelId=CLAUDE, body=json.dumps(body))
    assert json.loads(response["body"].read())["content"][0]["text"]


def test_invoke_model_nova_body(runtime, unique):
    body = {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": f"Hello {unique}"}]}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.7},  # AWS's Nova example spells them this way
    }
    response = runtime.invoke_model(modelId=NOVA, body=json.dumps(body))
    assert json.loads(response["body"].read())["output"]["message"]["content"][0]["text"]


def test_invoke_model_with_response_stream_anthropic_body(runtime, unique):
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": f"Hi {unique}"}],
    }
    streamed = runtime.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
    chunks = [json.loads(event["chunk"]["bytes"]) for event in streamed["body"] if "chunk" in event]
    text = "".join(c["delta"].get("text", "") for c in chunks if c["type"] == "content_block_delta")
    assert text


def test_titan_embeddings_body(runtime):
    response = runtime.invoke_model(
        modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "hello", "dimensions": 256})
    )
    assert len(json.loads(response["body"].read())["embedding"]) == 256


def test_an_error_has_its_code_and_message(runtime):
    with pytest.raises(ClientError) as caught:
        runtime.converse(modelId="gpt-nope", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    error = caught.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException" and error["Message"]


def test_a_bad_key_says_so(url):
    with pytest.raises(ClientError) as caught:
        hooked(url, "not-a-key").converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert caught.value.response["Error"]["Message"].startswith("Forbidden")


def test_a_bedrock_api_key_over_https_without_hook_or_credentials(bearer, unique):
    assert converse_example(bearer, NOVA, unique)
