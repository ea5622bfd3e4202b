"""Local mode's HTTP layer answers every malformed request in the error shape: raw sockets, no client library
smoothing anything over."""

from __future__ import annotations

import json
import socket

import pytest

from local.api_gateway import LocalApiGateway, Route
from local.api_gateway_http import MAX_PAYLOAD
from tests.conftest import CONFIG_FILE

KEY = "test-key"


def echo(event: dict, context) -> dict:
    if event["path"] == "/v1/crash":
        raise RuntimeError("boom")
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"body": event["body"]})}


@pytest.fixture(scope="module")
def front():
    config = json.loads(CONFIG_FILE.read_text())
    routes = [
        Route("/v1/health", {"GET": None}, echo, key_required=False),
        Route("/v1/chat", {"POST": "chat-request"}, echo),
        Route("/v1/echo", {"POST": None}, echo),
        Route("/v1/crash", {"GET": None}, echo, key_required=False),
    ]
    gateway = LocalApiGateway(routes, config, {KEY: "premium"}, read_timeout=1)
    gateway.start(port=0)
    yield gateway
    gateway.stop()


def exchange(front, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one response (the server must answer, not drop or hang)."""
    host, port = front.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {received!r}"
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
        length = int(headers["content-length"])
        if not data.startswith(b"HEAD "):
            while len(rest) < length:
                chunk = sock.recv(65536)
                assert chunk, "body cut short"
                rest += chunk
        return int(status_line.split()[1]), headers, rest[:length]


def error_of(status: int, headers: dict, body: bytes) -> dict:
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code", "requestId"}
    return error


def post(path: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"x-api-key: {KEY}", "Content-Type: application/json", *extra]
    if not any(line.lower().startswith(("content-length", "transfer-encoding")) for line in extra):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


HELLO = b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}'


@pytest.mark.parametrize(
    ("request_bytes", "status", "says"),
    [
        (post("/v1/chat", b'{"messages": [{"role": "user", "content": [{"text": "\xff\xfe"}]}]}'), 400, "UTF-8"),
        (post("/v1/chat", b'{"messages": NaN}'), 400, "NaN"),
        (post("/v1/chat", b"", "Content-Length: -1"), 400, "Content-Length"),
        (post("/v1/chat", b"", "Content-Length: ten"), 400, "Content-Length"),
        (post("/v1/chat", b"", "Content-Length: +5"), 400, "Content-Length"),
        (post("/v1/chat", HELLO, f"Content-Length: {len(HELLO)}", f"Content-Length: {len(HELLO)}"), 400, "more than one"),
        (post("/v1/chat", b"", f"Content-Length: {MAX_PAYLOAD + 1}"), 413, "Too Long"),
        (post("/v1/chat", b"", "Content-Length: 99999999999999999999"), 413, "Too Long"),
        (post("/v1/chat", HELLO, "Content-Length: 5", "Transfer-Encoding: chunked"), 400, "ambiguous"),
        (post("/v1/chat", HELLO, "Transfer-Encoding: gzip"), 400, "chunked"),
        (post("/v1/chat", b"zz\r\nabc\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), 400, "chunk"),
        (post("/v1/chat", b"5\r\nab", "Transfer-Encoding: chunked"), 408, "in time"),
        (post("/v1/chat", HELLO[:10], f"Content-Length: {len(HELLO)}"), 408, "in time"),  # the rest never comes
        (b"GET /v1/health HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "65536 bytes"),
        (b"GET /v1/health HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431, "headers"),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "64 KiB"),
        (b"HELLO\r\n\r\n", 400, "request"),
        (b"GET /v1/health\r\n\r\n", 400, "malformed request line"),
        (b"   \r\n\r\n", 400, "malformed request line"),
        (b"GET /v1/health FOO/1.1\r\n\r\n", 400, "version"),
        (b"GET /v1/health HTTP/2.0\r\n\r\n", 400, "version"),
        (b"OPTIONS /v1/chat HTTP/1.1\r\nHost: x\r\n\r\n", 405, "use POST"),
        (b"PROPFIND /v1/chat HTTP/1.1\r\nHost: x\r\n\r\n", 405, "use POST"),
        (b"GET /v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, "no such resource"),
        (b"GET /v1/crash HTTP/1.1\r\nHost: x\r\n\r\n", 502, "Internal server error"),
    ],
    ids=lambda value: repr(value)[:48] if isinstance(value, bytes) else None,
)
def test_every_malformed_request_gets_a_json_error(front, request_bytes, status, says):
    answer = exchange(front, request_bytes)
    assert answer[0] == status, answer
    assert says in error_of(*answer)["message"]


def test_head_and_wrong_methods_are_405_with_allow(front):
    status, headers, body = exchange(front, b"HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405 and headers["allow"] == "GET" and int(headers["content-length"]) > 0 and body == b""
    status, headers, _ = exchange(front, b"DELETE /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert status == 405 and headers["allow"] == "POST"


def test_chunked_bodies_are_read(front):
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (HELLO[:7], HELLO[7:])) + b"0\r\n\r\n"
    status, _, body = exchange(front, post("/v1/chat", chunked, "Transfer-Encoding: chunked"))
    assert status == 200 and json.loads(json.loads(body)["body"]) == json.loads(HELLO)


def test_keep_alive_serves_several_requests_on_one_connection(front):
    host, port = front.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(post("/v1/echo", b"{}") + b"\r\n" + post("/v1/echo", b"[]"))  # a stray CRLF between is allowed
        received = b""
        while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n0\r\n\r\n",
        b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\n{}\r\n0\r\n\r\n",
        b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n",
        b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET\t/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET  /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\n  Host: x\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nx-api-key : test-key\r\n\r\n",
    ],
    ids=[
        "negative-chunk",
        "plus-chunk",
        "0x-chunk",
        "gzip",
        "relative-path",
        "tab",
        "double-space",
        "no-colon",
        "nul",
        "folded-first-header",
        "space-before-colon",
    ],  # fmt: skip
)
def test_framing_the_standard_library_lets_through_is_a_400(front, raw):
    status, headers, body = exchange(front, raw)
    assert status == 400, body
    assert set(json.loads(body)["error"]) == {"message", "type", "param", "code", "requestId"}


def test_a_request_line_that_stops_arriving_gets_a_408(front):
    status, _, body = exchange(front, b"GET /v1/health HTTP/1.1")  # no CRLF: the read times out (1 s here)
    assert status == 408 and json.loads(body)["error"]["code"] == "timeout"


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "multipart/mixed", "multipart/related; boundary=b"])
def test_a_multipart_content_type_is_not_a_malformed_header(front, content_type):
    """The email parser reports MIME body defects for multipart/* (it never sees the body); only header-line defects
    are a 400 of framing. The request reaches the route, which answers for the content type itself."""
    head = f"POST /v1/echo HTTP/1.1\r\nHost: x\r\nx-api-key: test-key\r\nContent-Type: {content_type}\r\n"
    raw = head + "Content-Length: 2\r\n\r\n{}"
    status, _, body = exchange(front, raw.encode())
    assert b"malformed header" not in body
    assert status != 400 or "content" in json.loads(body)["error"]["message"].lower(), body
