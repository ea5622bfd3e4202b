"""What API Gateway does in front of the Lambda, on one machine.

Same contract as the deployed REST API: API key required on every route but ``GET /v1/health``
(403 otherwise), usage-plan throttling per key (rate/burst token bucket and daily quota from the
config's ``plans``, 429 with ``Retry-After``), stage throttling, JSON-schema validation of request
bodies with the same ``schemas/`` files (400), API Gateway's 10 MB payload limit (413), then an API
Gateway proxy event handed to the unmodified Lambda handler.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import fastjsonschema

ROOT = Path(__file__).resolve().parents[1]
MAX_PAYLOAD = 10 * 1024 * 1024


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


def default_routes(config: dict, api: Callable, jobs: Callable | None = None) -> list[Route]:
    """The deployed REST API's resources, each with the handler of its Lambda."""
    routes = [
        Route("/v1/health", {"GET": None}, api, key_required=False),
        Route("/v1/models", {"GET": None}, api),
        Route("/v1/chat", {"POST": "chat-request"}, api),
        Route("/v1/chat/completions", {"POST": "openai-chat-request"}, api),
    ]
    routes += [Route(path, {"POST": "chat-request"}, api) for path in config["routes"]]
    if jobs is not None:
        routes += [
            Route("/v1/jobs", {"POST": "chat-request"}, jobs),
            Route("/v1/jobs/{id}", {"GET": None, "DELETE": None}, jobs),
        ]
    return routes


def api_key_id(key: str) -> str:
    """API Gateway hands the Lambda the key's id, never the key: the jobs tenant."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


class LocalApiGateway:
    def __init__(self, routes: list[Route], config: dict, keys: dict[str, str], stage: str = "local"):
        self.routes, self.stage = routes, stage
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
            payload = {"error": {"type": kind, "message": message, "requestId": request_id}}
            return status, {"Content-Type": "application/json", **(extra or {})}, json.dumps(payload).encode()

        route, params = next(((r, p) for r in self.routes if (p := r.match(path)) is not None), (None, None))
        if route is None or method not in route.methods:
            # API Gateway answers unknown resources/methods as missing authentication
            return error(403, "forbidden", "Missing Authentication Token")
        lowered = {k.lower(): v for k, v in headers.items()}
        api_key = lowered.get("x-api-key")
        if route.key_required and (refusal := self.plans.check(api_key)):
            return error(*refusal)
        if len(body) > MAX_PAYLOAD:
            return error(413, "request_too_large", "Request Too Long")
        schema = route.methods[method]
        if schema is not None:
            try:
                self.validator(schema)(json.loads(body or b"null"))
            except json.JSONDecodeError as exc:
                return error(400, "invalid_request", f"Invalid request body: {exc.msg}")
            except RecursionError:
                return error(400, "invalid_request", "Invalid request body: nested too deeply")
            except fastjsonschema.JsonSchemaValueException as exc:
                return error(400, "invalid_request", f"Invalid request body: {exc.message.replace('data', 'body', 1)}")

        event = {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": dict(p.split("=", 1) for p in query.split("&") if "=" in p) or None,
            "pathParameters": params or None,
            "requestContext": {
                "requestId": request_id,
                "stage": self.stage,
                "resourcePath": route.resource,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "identity": {"apiKey": api_key, "apiKeyId": api_key and api_key_id(api_key), "sourceIp": "127.0.0.1"},
            },
            "body": body.decode() if body else None,
            "isBase64Encoded": False,
        }
        response = route.handler(event, _Context(request_id))
        out_headers = dict(response.get("headers") or {})
        out_headers["x-amzn-RequestId"] = request_id
        return response["statusCode"], out_headers, (response.get("body") or "").encode()

    def start(self, host: str = "127.0.0.1", port: int = 8080) -> str:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def _serve(self):
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = gateway.handle(self.command, path, query, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format, *args):  # quiet: the handler logs requests
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
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


class _Context:
    function_name = "fmgw-local"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:fmgw-local"

    def __init__(self, request_id: str):
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
