"""Issue 20, point 3: real answers validate against the 200 (202) schemas of the document the gateway serves.

Local mode over HTTP (``tests/e2e/conftest.start_gateway``: the simulator answers every model, the jobs pipeline runs),
so each answer is built by the code that builds it in AWS; each is checked against its operation's documented schema
in the document's dialect (JSON Schema 2020-12), with the document's own components.
"""

from __future__ import annotations

import base64
import time

import jsonschema
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import start_gateway, stop_gateway

CHAT = {"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}
OPENAI = {"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def gateway():
    running = start_gateway(CONFIG_FILE)
    yield running
    stop_gateway(running)


@pytest.fixture(scope="module")
def client(gateway):
    with gateway.client() as client:
        yield client


@pytest.fixture(scope="module")
def document(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def check(document, method: str, path: str, response) -> dict:
    """The answer against the documented schema of its status, for its content type."""
    operation = document["paths"][path][method.lower()]
    documented = operation["responses"][str(response.status_code)]
    media = response.headers["content-type"].split(";")[0]
    schema = documented["content"][media]["schema"]
    body = response.json()
    validator = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == [], (method, path, errors)
    return body


def test_health_models_and_the_document(client, document):
    check(document, "GET", "/v1/health", client.get("/v1/health"))
    models = check(document, "GET", "/v1/models", client.get("/v1/models"))
    assert models["data"]
    check(document, "GET", "/v1/openapi.json", client.get("/v1/openapi.json"))


def test_chat_task_route_and_orchestrated_answers(client, document):
    for path, body in [("/v1/chat", CHAT), ("/v1/chat", {**CHAT, "tier": "complex"}), ("/v1/classify", CHAT),
                       ("/v1/chat/orchestrated", CHAT)]:  # fmt: skip
        answer = check(document, "POST", path, client.post(path, json=body))
        assert answer["gateway"]["model"]


def test_openai_chat_completion_answers(client, document):
    check(document, "POST", "/v1/chat/completions", client.post("/v1/chat/completions", json=OPENAI))
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}]
    body = {**OPENAI, "tools": tools, "tool_choice": "required"}
    answer = check(document, "POST", "/v1/chat/completions", client.post("/v1/chat/completions", json=body))
    assert answer["choices"][0]["message"].get("tool_calls")


def test_a_streamed_answer_is_the_documented_event_stream(client, document):
    with client.stream("POST", "/v1/chat/completions", json={**OPENAI, "stream": True}) as response:
        assert response.status_code == 200
        media = response.headers["content-type"].split(";")[0]
        assert media in document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
        assert media == "text/event-stream"


def test_embeddings_answers_float_and_base64(client, document):
    for encoding in ("float", "base64"):
        body = {"model": "titan-embed-text-v2", "input": ["Hello", "world"], "encoding_format": encoding}
        answer = check(document, "POST", "/v1/embeddings", client.post("/v1/embeddings", json=body))
        if encoding == "base64":
            assert base64.b64decode(answer["data"][0]["embedding"])


def test_job_answers(client, document):
    accepted = check(document, "POST", "/v1/jobs", client.post("/v1/jobs", json={**CHAT, "metadata": {"k": 1}}))
    path = f"/v1/jobs/{accepted['jobId']}"
    for _ in range(100):
        job = check(document, "GET", "/v1/jobs/{id}", client.get(path))
        if job["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.1)
    assert job["status"] == "SUCCEEDED" and job["result"]["gateway"]
    conflict = client.delete(path)
    assert conflict.status_code == 409  # documented: a finished job cannot be cancelled
    check(document, "DELETE", "/v1/jobs/{id}", conflict)
    key = {"Idempotency-Key": f"k-{time.time()}"}
    check(document, "POST", "/v1/jobs", client.post("/v1/jobs", json=CHAT, headers=key))
    reused = client.post("/v1/jobs", json={**CHAT, "tier": "complex"}, headers=key)
    assert reused.status_code == 409
    check(document, "POST", "/v1/jobs", reused)
