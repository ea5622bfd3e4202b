"""The streaming function's ASGI app over plain HTTP requests (as the Web Adapter forwards them), Bedrock stubbed:
request context, the non-streamed path on the same route, and the error contract before any stream."""

from __future__ import annotations

import asyncio
import json

from tests.integration.test_api_handler import HAIKU

HELLO = [{"role": "user", "content": "Hello"}]


def call(method: str, path: str, body: bytes | dict = b"", headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request through ``handlers.streaming_app.app``, as uvicorn would drive it."""
    from handlers.streaming_app import app

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"content-type": "application/json", **(headers or {})}.items()],
    }
    sent: list[dict] = []
    incoming = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> dict:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, b"".join(m.get("body", b"") for m in sent[1:])


def test_non_streamed_completions_is_the_sync_answer_with_the_adapters_request_id(api):
    api.answers(HAIKU, text="Hi there")
    context = json.dumps({"requestId": "req-from-api-gateway", "stage": "prod"})
    status, headers, body = call(
        "POST", "/v1/chat/completions", {"model": "claude-haiku-4-5", "messages": HELLO}, {"x-amzn-request-context": context}
    )
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["id"] == "chatcmpl-req-from-api-gateway"
    assert answer["choices"][0]["message"]["content"] == "Hi there"
    assert headers["x-gateway-model"] == "claude-haiku-4-5"
    assert headers["x-request-id"] == "req-from-api-gateway"  # the openai SDK's _request_id


def test_errors_before_a_stream_are_plain_json_in_the_contract(api):
    status, headers, body = call("POST", "/v1/chat/stream", {"messages": []})
    assert status == 400 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_request" and error["type"] == "invalid_request_error" and error["param"] == "messages"
    assert headers["x-request-id"] == error["requestId"]  # made up by the app when no request context came with it
    status, _, body = call("POST", "/v1/nothing/stream", {"messages": []})
    assert status == 404
    status, headers, _ = call("GET", "/v1/chat/stream")
    assert status == 405 and headers["allow"] == "POST"
    status, _, body = call("POST", "/v1/chat/stream", b"\xff\xfe not utf-8")
    assert status == 400 and "UTF-8" in json.loads(body)["error"]["message"]
    status, _, body = call(
        "POST", "/v1/chat/completions", {"model": "simple", "messages": HELLO, "stream": False, "stream_options": {}}
    )
    assert status == 400 and "stream_options" in json.loads(body)["error"]["message"]


def test_all_candidates_down_before_the_first_token_is_a_plain_503(api):
    for _ in range(3):
        api.stub.add_client_error(
            "converse_stream", service_error_code="ServiceUnavailableException", service_message="down", http_status_code=503
        )
    status, headers, body = call("POST", "/v1/classify/stream", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
    assert status == 503 and int(headers["retry-after"]) >= 1
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "service_unavailable"
