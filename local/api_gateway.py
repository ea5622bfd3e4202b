"""What API Gateway does in front of the Lambda, on one machine.

Same contract as the deployed REST API: API key required on every route but ``GET /v1/health``,
checked by the real key authorizer (``handlers.authorizer``: ``x-api-key`` or ``Authorization: Bearer``,
401 without a usable key, 403 for an unknown or disabled one) whose ``usageIdentifierKey`` selects the
usage plan, or with ``authorizer=None`` by the plain ``x-api-key`` check (403); an unknown path is 404;
usage-plan throttling per key (rate/burst token bucket and daily quota from the
config's ``plans``, 429 with ``Retry-After``), stage throttling, JSON-schema validation of request
bodies with the same ``schemas/`` files (400), API Gateway's 10 MB payload limit (413), then an API
Gateway proxy event handed to the unmodified Lambda handler.

At the HTTP layer every request gets an answer in the error contract's shape
(``{"error": {"type", "message", "requestId"}}``), never a dropped connection, a hang or an HTML page:
malformed request lines and bodies (400), a method the resource does not have (405 with ``Allow``),
bodies over the limit (413), oversized headers (431), a body that never arrives (408), an
unsupported HTTP version (400). The Python standard library's server does the parsing; ``_HttpHandler`` replaces its
HTML errors and its silent closes.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import fastjsonschema

from fmgateway.aws.access import FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE
from fmgateway.aws.http import LARGE_INPUT_HINT, parse_json
from fmgateway.native.invocation import ERROR_CODES as BEDROCK_ERROR_CODES
from fmgateway.values.errors import InvalidRequest

ROOT = Path(__file__).resolve().parents[1]
MAX_PAYLOAD = 10 * 1024 * 1024
READ_TIMEOUT_SECONDS = 30  # a client that stops sending mid-request gets a 408, not a thread held forever
# The texts of infra/constructs/api.py's gateway responses (tests/infra/test_api.py checks that they agree).
NOT_FOUND_MESSAGE = "Not Found: no such resource; the API is described at GET /v1/openapi.json"
AUTHORIZER_FAILED_MESSAGE = "the API key check failed; retry shortly"
ERROR_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    411: "invalid_request",
    413: "request_too_large",
    414: "request_too_large",
    431: "request_too_large",
    502: "internal_error",
}


def error_payload(status: int, kind: str, message: str, request_id: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message, "requestId": request_id}}).encode()


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()
        self.lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may pass, else the seconds until one may."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class UsagePlans:
    """API keys bound to the config's usage plans: throttle and daily quota per key."""

    def __init__(self, plans: dict, keys: dict[str, str], stage: dict | None):
        self.plans, self.keys = plans, keys
        self.buckets = {key: TokenBucket(plans[plan]["rateLimit"], plans[plan]["burstLimit"]) for key, plan in keys.items()}
        self.stage = TokenBucket(stage["rateLimit"], stage["burstLimit"]) if stage else None
        self.used: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def check(self, key: str | None) -> tuple[int, str, str, dict] | None:
        """None if the request may pass, else (status, type, message, headers)."""
        if key is None or key not in self.keys:
            return 403, "forbidden", "Forbidden: a valid x-api-key header is required", {}
        if self.stage and (wait := self.stage.take()):
            return 429, "throttled", "Too Many Requests", {"Retry-After": str(max(1, round(wait + 0.5)))}
        if wait := self.buckets[key].take():
            return 429, "throttled", "Too Many Requests", {"Retry-After": str(max(1, round(wait + 0.5)))}
        day = time.strftime("%Y-%m-%d", time.gmtime())
        with self.lock:
            used = self.used.get((key, day), 0) + 1
            self.used[(key, day)] = used
        if used > self.plans[self.keys[key]]["quotaPerDay"]:
            return 429, "quota_exceeded", "Limit Exceeded: daily quota used up", {"Retry-After": "3600"}
        return None


class Route:
    """A REST API resource: its methods (method -> request-body schema, or None) and its Lambda."""

    def __init__(self, resource: str, methods: dict[str, str | None], handler: Callable, key_required: bool = True):
        self.resource, self.methods, self.handler, self.key_required = resource, methods, handler, key_required
        self.parts = resource.strip("/").split("/")

    def match(self, path: str) -> dict[str, str] | None:
        parts = path.strip("/").split("/")
        if len(parts) != len(self.parts):
            return None
        params = {}
        for mine, theirs in zip(self.parts, parts, strict=True):
            if mine.startswith("{") and mine.endswith("}"):
                params[mine[1:-1]] = theirs
            elif mine != theirs:
                return None
        return params


def default_routes(config: dict, api: Callable, jobs: Callable | None = None, streaming: Callable | None = None) -> list[Route]:
    """The deployed REST API's resources, each with the handler of its Lambda."""
    routes = [
        Route("/v1/health", {"GET": None}, api, key_required=False),
        Route("/v1/openapi.json", {"GET": None}, api, key_required=False),
        Route("/v1/models", {"GET": None}, api),
        Route("/v1/chat", {"POST": "chat-request"}, api),
        Route("/v1/chat/completions", {"POST": "openai-chat-request"}, streaming or api),
        Route("/v1/embeddings", {"POST": "openai-embeddings-request"}, api),
        # the Bedrock Runtime paths (boto3 bedrock-runtime with endpoint_url): bodies are checked by the function
        Route("/model/{modelId}/converse", {"POST": None}, api),
        Route("/model/{modelId}/invoke", {"POST": None}, api),
    ]
    routes += [Route(path, {"POST": "chat-request"}, api) for path in config["routes"]]
    if streaming is not None:
        routes += streaming_routes(config, streaming)
    if jobs is not None:
        routes += [
            Route("/v1/jobs", {"POST": "chat-request"}, jobs),
            Route("/v1/jobs/{id}", {"GET": None, "DELETE": None}, jobs),
        ]
    return routes


def streaming_routes(config: dict, streaming: Callable) -> list[Route]:
    """The streaming function's own resources (it also serves /v1/chat/completions)."""
    paths = ["/v1/chat/stream", *(f"{path}/stream" for path in config["routes"])]
    native = ("/model/{modelId}/converse-stream", "/model/{modelId}/invoke-with-response-stream")
    return [Route(path, {"POST": "chat-request"}, streaming) for path in paths] + [
        Route(path, {"POST": None}, streaming) for path in native
    ]


def api_key_id(key: str) -> str:
    """API Gateway hands the Lambda the key's id, never the key: the jobs tenant."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


class LocalApiGateway:
    def __init__(
        self,
        routes: list[Route],
        config: dict,
        keys: dict[str, str],
        stage: str = "local",
        read_timeout: float = READ_TIMEOUT_SECONDS,
        authorizer: Callable | None = None,
        api_id: str = "local",
    ):
        self.routes, self.stage, self.read_timeout = routes, stage, read_timeout
        self.authorizer, self.api_id = authorizer, api_id
        self.plans = UsagePlans(config["plans"], keys, config.get("stage"))
        self.validators: dict[str, Callable] = {}
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def validator(self, schema: str) -> Callable:
        if schema not in self.validators:
            self.validators[schema] = fastjsonschema.compile(json.loads((ROOT / "schemas" / f"{schema}.json").read_text()))
        return self.validators[schema]

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        request_id = str(uuid.uuid4())

        def error(status: int, kind: str, message: str, extra: dict | None = None):
            headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id, **(extra or {})}
            if status in BEDROCK_ERROR_CODES:  # what boto3 bedrock-runtime reads the error code from, as in the stack
                headers["x-amzn-ErrorType"] = BEDROCK_ERROR_CODES[status]
            return status, headers, error_payload(status, kind, message, request_id)

        route, params = next(((r, p) for r in self.routes if (p := r.match(path)) is not None), (None, None))
        if route is None:
            # API Gateway's MISSING_AUTHENTICATION_TOKEN, which the stack answers as 404
            return error(404, "not_found", NOT_FOUND_MESSAGE)
        if method not in route.methods:
            allowed = ", ".join(route.methods)
            message = f"{method} is not allowed on {route.resource}; use {allowed}"
            return error(405, "method_not_allowed", message, {"Allow": allowed})
        api_key, authorized = None, None
        if route.key_required:
            refusal, api_key, authorized = self.admit(route.resource, method, path, query, headers, params or {}, request_id)
            if refusal:
                return error(*refusal)
        if len(body) > MAX_PAYLOAD:
            return error(413, "request_too_large", f"Request Too Long; {LARGE_INPUT_HINT}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error(400, "invalid_request", f"Invalid request body: not valid UTF-8 (byte {exc.start})")
        schema = route.methods[method]
        if schema is not None:
            try:
                # the same strict RFC 8259 reading as the handlers: NaN, lone surrogates or 33 levels never reach them
                self.validator(schema)(parse_json(text or "null"))
            except InvalidRequest as exc:
                return error(400, "invalid_request", f"Invalid request body: {exc.message}")
            except fastjsonschema.JsonSchemaValueException as exc:
                return error(400, "invalid_request", f"Invalid request body: {exc.message.replace('data', 'body', 1)}")

        event = {
            "resource": route.resource,
            **request_fields(method, path, query, headers, params),
            "requestContext": {
                "requestId": request_id,
                "stage": self.stage,
                "resourcePath": route.resource,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "identity": {
                    "apiKey": api_key,
                    "apiKeyId": (authorized or {}).get("apiKeyId") or (api_key and api_key_id(api_key)),
                    "sourceIp": "127.0.0.1",
                },
                **({"authorizer": authorized} if authorized else {}),
            },
            "body": text or None,
            "isBase64Encoded": False,
        }
        try:
            response = route.handler(event, _Context(request_id))
            status = int(response["statusCode"])
            out_headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
            body = response.get("body") or ""
            payload = body.encode("utf-8") if isinstance(body, str) else body  # bytes, or the chunks of a stream
        except Exception as exc:  # a crashed function or a malformed proxy response: API Gateway's 502
            print(f"[local] {route.resource}: the function failed: {exc!r}", flush=True)
            return error(502, "internal_error", "Internal server error")
        out_headers["x-amzn-RequestId"] = request_id
        return status, out_headers, payload

    def admit(
        self, resource: str, method: str, path: str, query: str, headers: dict[str, str], params: dict[str, str], request_id: str
    ) -> tuple[tuple | None, str | None, dict | None]:
        """API Gateway's key step: (refusal or None, the API key, the authorizer's context).

        With an authorizer: its REQUEST event, then its answer as API Gateway reads it: "Unauthorized" -> 401, any other
        failure -> 503 (the stack's AUTHORIZER_FAILURE response), Deny -> 403, Allow -> the usage plan of the returned
        ``usageIdentifierKey`` (a key in no plan: 403, as API Gateway's INVALID_API_KEY). Without: ``x-api-key``."""
        if self.authorizer is None:
            api_key = next((v for k, v in headers.items() if k.lower() == "x-api-key"), None)
            return self.plans.check(api_key), api_key, None
        event = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:us-east-1:000000000000:{self.api_id}/{self.stage}/{method}{path}",
            "resource": resource,
            **request_fields(method, path, query, headers, params),
            "stageVariables": None,
            "requestContext": {"apiId": self.api_id, "stage": self.stage, "requestId": request_id, "httpMethod": method},
        }
        try:
            answer = self.authorizer(event, _Context(request_id))
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return (401, "unauthorized", UNAUTHORIZED_MESSAGE, {"WWW-Authenticate": "Bearer"}), None, None
            print(f"[local] the key authorizer failed: {exc!r}", flush=True)
            return (503, "service_unavailable", AUTHORIZER_FAILED_MESSAGE, {"Retry-After": "1"}), None, None
        effects = {statement.get("Effect") for statement in answer["policyDocument"]["Statement"]}
        if effects != {"Allow"}:
            return (403, "forbidden", FORBIDDEN_MESSAGE, {}), None, None
        api_key = answer.get("usageIdentifierKey")
        if api_key not in self.plans.keys:
            return (403, "forbidden", "Forbidden", {}), None, None
        return self.plans.check(api_key), api_key, {**(answer.get("context") or {}), "principalId": answer["principalId"]}

    def start(self, host: str = "127.0.0.1", port: int = 8080) -> str:
        gateway = self

        class Handler(_HttpHandler):
            timeout = self.read_timeout

            def respond_to(self, method, path, query, headers, body):
                return gateway.handle(method, path, query, headers, body)

        self.server = _Server((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="local-api-gateway", daemon=True)
        self.thread.start()
        return self.url

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def request_fields(method: str, path: str, query: str, headers: dict[str, str], params: dict | None) -> dict:
    """The request as API Gateway puts it in both a proxy event and a REQUEST authorizer's event."""
    return {
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&") if "=" in p) or None,
        "pathParameters": params or None,
    }


class _Context:
    function_name = "fmgw-local"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:fmgw-local"

    def __init__(self, request_id: str):
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


HEX_DIGITS = b"0123456789abcdefABCDEF"


def _header_problem(headers) -> str | None:
    """What RFC 9112 refuses in a header section that the standard library's parser lets through."""
    if headers.defects:
        return "malformed header line (a line without a colon, or a continuation line)"
    for name, value in headers.items():
        if not name or name != name.strip() or any(c in name for c in " \t"):
            return f"malformed header name {name[:40]!r}"
        if any(c in value for c in "\x00\r\n"):
            return f"header {name[:40]}: control characters are not allowed in a value"
    return None


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 refuses connections under a burst


class _HttpHandler(BaseHTTPRequestHandler):
    """The standard library's HTTP/1.1 parsing with every failure answered in the error contract's shape."""

    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # so that an error before the version is known still has a status line
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    server_version = "fmgw-local"
    sys_version = ""

    def respond_to(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def handle_one_request(self) -> None:
        """The standard loop, but every method goes to ``_serve`` (unknown ones too: the router answers
        405), and blank lines between keep-alive requests are skipped as RFC 9112 allows."""
        try:
            self._responded = False
            self.raw_requestline = self.rfile.readline(65537)
            for _ in range(4):
                if self.raw_requestline not in (b"\r\n", b"\n"):
                    break
                self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if len(self.raw_requestline) > 65536:
                self.requestline, self.request_version, self.command = "", "", ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, explain="request line longer than 64 KiB")
                return
            if not self.parse_request():
                return
            self._serve()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
            if not self._responded:  # a request line, headers or body that stopped arriving: 408, never silence
                if not getattr(self, "command", None):
                    self.requestline, self.request_version, self.command = "", self.default_request_version, ""
                self.send_error(HTTPStatus.REQUEST_TIMEOUT, explain="the request did not arrive in time")
        except (ConnectionError, OSError):
            self.close_connection = True  # the client went away: nobody to answer

    def parse_request(self) -> bool:
        ok = super().parse_request()
        parts = self.requestline.split(" ")
        # HTTP/0.9 ("GET /"), tabs or runs of spaces, or a path that is not absolute: API Gateway refuses them too
        if ok and (len(parts) != 3 or not parts[1].startswith("/")):
            self.send_error(HTTPStatus.BAD_REQUEST, explain="malformed request line: expected METHOD /PATH HTTP/1.1")
            return False
        if ok and (problem := _header_problem(self.headers)):
            self.send_error(HTTPStatus.BAD_REQUEST, explain=problem)
            return False
        if not ok and not self._responded:  # an empty request line: the standard library closes silently
            self.send_error(HTTPStatus.BAD_REQUEST, explain="malformed request line: expected METHOD PATH HTTP/1.1")
        return ok

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of the standard library's HTML page; the connection closes after it."""
        self._responded = True
        self.close_connection = True
        # an unsupported HTTP version is the client's error: 400, not 505, so that no bad input is a 5xx
        status = 400 if int(code) == HTTPStatus.HTTP_VERSION_NOT_SUPPORTED else int(code)
        detail = explain or message or HTTPStatus(status).phrase
        request_id = str(uuid.uuid4())
        payload = error_payload(status, ERROR_TYPES.get(status, "invalid_request"), detail, request_id)
        self._write(status, {"Content-Type": "application/json", "x-amzn-RequestId": request_id}, payload)

    def _write(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self._responded = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the headers of the body it does not carry
            self.wfile.write(payload)
        self.wfile.flush()
        if self.close_connection:
            self._discard_unread()

    def _discard_unread(self) -> None:
        """Read what the client is still sending before closing: closing a socket with unread data
        resets the connection, and the client may lose the answer it has not read yet."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            for _ in range(256):  # at most 16 MiB
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as err:
            self.send_error(err.status, explain=err.message)
            return
        path, _, query = self.path.partition("?")
        headers = {name: value for name, value in self.headers.items()}
        try:
            status, out_headers, payload = self.respond_to(self.command, path, query, headers, body)
        except Exception as exc:  # the router itself failed: still an answer in the error shape
            print(f"[local] {self.command} {path}: {exc!r}", flush=True)
            self.send_error(HTTPStatus.BAD_GATEWAY, explain="Internal server error")
            return
        if isinstance(payload, bytes):
            self._write(status, out_headers, payload)
        else:
            self._write_stream(status, out_headers, payload)

    def _write_stream(self, status: int, headers: dict[str, str], chunks) -> None:
        """A streamed function response, as API Gateway passes it on: chunked, each chunk as soon as it comes. A client
        that leaves breaks the write; closing ``chunks`` then tells the function."""
        self._responded = True
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _read_body(self) -> bytes:
        """Framing as RFC 9112 §6 requires of a server, refused rather than guessed."""
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if lengths:
                raise _BadRequest(400, "Content-Length and Transfer-Encoding together are ambiguous")
            if [e.strip().lower() for e in ",".join(encodings).split(",")] != ["chunked"]:
                # RFC 9112 suggests 501, but the request is the client's to fix: a 4xx, as every bad input here
                raise _BadRequest(400, "only Transfer-Encoding: chunked is supported")
            return self._read_chunked()
        if len(lengths) > 1:
            raise _BadRequest(400, "more than one Content-Length header")
        if not lengths:
            return b""
        value = lengths[0].strip()
        if not value.isascii() or not value.isdigit():
            raise _BadRequest(400, f"Content-Length must be a non-negative integer, not {value[:20]!r}")
        if len(value) > 12 or int(value) > MAX_PAYLOAD:
            raise _BadRequest(413, f"Request Too Long: the limit is {MAX_PAYLOAD} bytes; {LARGE_INPUT_HINT}")
        length = int(value)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _BadRequest(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not size_text or len(size_text) > 8 or size_text.strip(HEX_DIGITS):
                raise _BadRequest(400, "malformed chunk size line")  # hex digits only: int() would take -5, +5, 0x5
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunk size line") from None
            if size == 0:
                for _ in range(100):  # trailers, ignored
                    if self.rfile.readline(65537) in (b"\r\n", b"\n", b""):
                        return bytes(body)
                raise _BadRequest(431, "too many trailer fields")
            if len(body) + size > MAX_PAYLOAD:
                raise _BadRequest(413, f"Request Too Long: the limit is {MAX_PAYLOAD} bytes; {LARGE_INPUT_HINT}")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest(400, "truncated or malformed chunk")
            body += chunk

    def log_message(self, format, *args):  # quiet: the handler logs requests
        pass
