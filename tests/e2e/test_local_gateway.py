"""A new user's first minutes: the printed curl, the catalog, keys, bad input, the OpenAI SDK."""

import re
import shutil
import subprocess
import time

import httpx
import openai
import pytest

HELLO = {"messages": [{"role": "user", "content": [{"text": "Hello, who are you?"}]}]}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_printed_curl_works_as_printed(local_gateway):
    curl = re.search(r"^\s*(curl .+)$", local_gateway.banner, re.MULTILINE).group(1)
    out = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30, check=True).stdout
    body = httpx.Response(200, content=out).json()
    assert body["output"]["message"]["content"][0]["text"].startswith("[simulated ")
    assert body["gateway"]["degraded"] is False and body["gateway"]["model"]


def test_health_needs_no_key(local_gateway):
    response = httpx.get(f"{local_gateway.url}/v1/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_models_lists_the_catalog(local_gateway):
    with local_gateway.client() as client:
        data = client.get("/v1/models").json()["data"]
    ids = {entry["id"] for entry in data}
    assert {"claude-sonnet-4-5", "nova-pro", "llama3-3-70b", "pixtral-large", "command-r-plus"} <= ids
    assert all(entry["breaker"] in ("CLOSED", "OPEN", "HALF_OPEN") for entry in data)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/bedrock/aws4_request, Signature=0"}],
    ids=["no key", "SigV4 only"],
)
def test_no_key_is_401_saying_how_to_send_it(local_gateway, headers):
    response = httpx.post(f"{local_gateway.url}/v1/chat", json=HELLO, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and error["type"] == "authentication_error"
    assert "x-api-key" in error["message"] and "Authorization: Bearer <key>" in error["message"]


@pytest.mark.parametrize("headers", [{"x-api-key": "wrong-key-0000000000000"}, {"Authorization": "Bearer wrong-key-000000000"}])
def test_wrong_key_is_403(local_gateway, headers):
    response = httpx.post(f"{local_gateway.url}/v1/chat", json=HELLO, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_x_api_key_wins_over_authorization(local_gateway):
    headers = {"x-api-key": local_gateway.key, "Authorization": "Bearer wrong-key-000000000"}
    assert httpx.post(f"{local_gateway.url}/v1/chat", json=HELLO, headers=headers).status_code == 200
    headers = {"x-api-key": "wrong-key-0000000000000", "Authorization": f"Bearer {local_gateway.key}"}
    assert httpx.post(f"{local_gateway.url}/v1/chat", json=HELLO, headers=headers).status_code == 403


def test_openai_sdk_with_only_base_url_and_api_key(local_gateway):
    client = openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key=local_gateway.keys[-1], max_retries=0)
    completion = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Say hello"}])
    assert completion.object == "chat.completion" and completion.choices[0].message.content
    assert {model.id for model in client.models.list()} >= {"nova-pro"}
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key="wrong-key-000000000", max_retries=0).models.list()


def test_boto3_bearer_token_is_accepted(local_gateway, monkeypatch):
    """What botocore sends for bedrock-runtime with AWS_BEARER_TOKEN_BEDROCK (Authorization: Bearer) or without it
    (SigV4). botocore sends a bearer token only over HTTPS, which local mode does not serve, so the request it
    prepares for an https endpoint has its headers replayed over HTTP to the local gateway, on GET /v1/models (the whole
    request, on the Bedrock-native paths: tests/e2e/test_native.py)."""
    import boto3
    import botocore.config

    class Sent(Exception):
        def __init__(self, status: int):
            self.status = status

    def replay(request, **kwargs):
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        headers.pop("Content-Length", None)
        raise Sent(httpx.get(f"{local_gateway.url}/v1/models", headers=headers).status_code)

    def converse(token: str | None) -> int:
        if token is None:
            monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
        else:
            monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url="https://gateway.example",
            region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            config=botocore.config.Config(retries={"total_max_attempts": 1}),
        )
        client.meta.events.register("before-send.bedrock-runtime.Converse", replay)
        with pytest.raises(Sent) as sent:
            client.converse(modelId="auto", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        return sent.value.status

    assert converse(local_gateway.key) == 200
    assert converse("wrong-key-000000000") == 403
    assert converse(None) == 401  # SigV4 only


def test_malformed_body_is_400_with_a_message(local_gateway):
    with local_gateway.client() as client:
        response = client.post("/v1/chat", content=b'{"messages": [', headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert "Invalid request body" in response.json()["error"]["message"]
        response = client.post("/v1/chat", json={"messages": [{"role": "user"}]})
        assert response.status_code == 400
        assert "body.messages[0] must contain ['content'] properties" in response.json()["error"]["message"]


def test_unknown_route(local_gateway):
    with local_gateway.client() as client:
        response = client.get("/v1/unknown")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        response = client.delete("/v1/chat")
        assert response.status_code == 405 and response.headers["Allow"] == "POST"
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_task_routes(local_gateway):
    with local_gateway.client() as client:
        tiers = {path: client.post(path, json=HELLO).json()["gateway"]["route"] for path in ("/v1/classify", "/v1/analyze")}
    assert tiers == {"/v1/classify": "path:simple", "/v1/analyze": "path:complex"}


def test_openai_sdk_unchanged_but_base_url_and_key(local_gateway):
    client = openai.OpenAI(
        base_url=f"{local_gateway.url}/v1", api_key="unused", default_headers={"x-api-key": local_gateway.keys[-1]}
    )
    completion = client.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
        max_tokens=64,
    )
    assert completion.object == "chat.completion"
    assert completion.model == "claude-sonnet-4-5"
    assert "simulated" in completion.choices[0].message.content
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "Hi"}])
    assert raw.headers["x-gateway-model"] and raw.headers["x-gateway-degraded"] == "false"
    assert {model.id for model in client.models.list()} >= {"nova-pro", "claude-haiku-4-5"}


def test_openai_sdk_errors_are_typed(local_gateway):
    client = openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key="x", default_headers={"x-api-key": local_gateway.keys[-1]})
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "Hi"}])
    assert "unknown model 'gpt-9'" in str(raised.value)
    denied = openai.OpenAI(base_url=f"{local_gateway.url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        denied.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hi"}])


def test_fallback_when_the_primary_fails(local_gateway):
    local_gateway.fault("claude-haiku-4-5", down=True)
    try:
        with local_gateway.client() as client:
            body = client.post("/v1/chat", json={**HELLO, "tier": "simple"}).json()
    finally:
        local_gateway.reset_faults()
    assert body["gateway"]["model"] == "nova-lite"  # said which model answered
    assert [a["outcome"] for a in body["gateway"]["attempts"]] == ["unavailable", "ok"]
    assert "[simulated us.amazon.nova-lite-v1:0]" in body["output"]["message"]["content"][0]["text"]


def test_usage_plan_throttles_with_retry_after(local_gateway):
    """Plan 'standard' allows 10 requests/s with a burst of 20."""
    with local_gateway.client(local_gateway.keys[0]) as client:
        statuses = [client.get("/v1/models") for _ in range(40)]
    throttled = [r for r in statuses if r.status_code == 429]
    assert throttled, [r.status_code for r in statuses]
    assert int(throttled[0].headers["Retry-After"]) >= 1
    assert throttled[0].json()["error"]["code"] == "throttled"
    time.sleep(2.5)  # let the bucket refill for the tests after this one


def test_orchestrated_route_over_http(local_gateway):
    assert "/v1/chat/orchestrated" in local_gateway.banner
    with local_gateway.client() as client:
        response = client.post(
            "/v1/chat/orchestrated", json={"tier": "complex", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
        )
        assert response.status_code == 200, response.text
        gateway = response.json()["gateway"]
        assert gateway["route"] == "tier:complex" and gateway["executionArn"].startswith("arn:aws:states:")
        refused = client.post(
            "/v1/chat/orchestrated", json={"tier": "huge", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
        )
        assert refused.status_code == 400 and set(refused.json()["error"]) == {"message", "type", "param", "code", "requestId"}


def test_the_api_description_is_served_without_a_key(local_gateway):
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    response = httpx.get(f"{local_gateway.url}/v1/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    validate(document, cls=OpenAPIV31SpecValidator)
    assert {"/v1/chat", "/v1/chat/completions", "/v1/jobs/{id}", "/v1/classify"} <= set(document["paths"])
