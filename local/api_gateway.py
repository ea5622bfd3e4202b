"""What API Gateway does in front of the Lambda, on one machine.

Same contract as the deployed REST API: API key required on every route but ``GET /v1/health``,
checked by the real key authorizer (``handlers.authorizer``: ``x-api-key`` or ``Authorization: Bearer``,
401 without a usable key, 403 for an unknown or disabled one) whose ``usageIdentifierKey`` selects the
usage plan, or with ``authorizer=None`` by the plain ``x-api-key`` check (403); an unknown path is 404;
usage-plan throttling per key (rate/burst token bucket and daily quota from the
config's ``plans``, 429 with ``Retry-After``), stage throttling, JSON-schema validation of request
bodies with the same ``schemas/`` files (400), API Gateway's 10 MB payload limit (413), then an API
Gateway proxy event handed to the unmodified Lambda handler.

This module owns the routes (path and method matching, 404/405), the key step (the authorizer's answer read as API
Gateway reads it), the request-body checks and the gateway's own error responses; ``usage_plans`` owns the throttles
and quotas, ``lambda_proxy`` the proxy event and the function call, ``api_gateway_http`` the HTTP front, where every
request gets an answer in the error contract's shape (``{"error": {"message", "type", "param", "code", "requestId"}}``
and ``x-request-id``, as every answer), never a dropped connection, a hang or an HTML page.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import fastjsonschema

from fmgateway.aws.access import FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE
from fmgateway.aws.http import LARGE_INPUT_HINT, REQUEST_ID_HEADER, parse_json
from fmgateway.native.invocation import ERROR_CODES as BEDROCK_ERROR_CODES
from fmgateway.values.errors import InvalidRequest
from local import tls
from local.api_gateway_http import MAX_PAYLOAD, GatewayHttpHandler, GatewayServer, error_payload
from local.lambda_proxy import LambdaContext, invoke, proxy_event, request_fields
from local.usage_plans import UsagePlans

ROOT = Path(__file__).resolve().parents[1]
READ_TIMEOUT_SECONDS = 30  # a client that stops sending mid-request gets a 408, not a thread held forever
# The texts of infra/constructs/api.py's gateway responses (tests/infra/test_api.py checks that they agree).
NOT_FOUND_MESSAGE = "Not Found: no such resource; the API is described at GET /v1/openapi.json"
AUTHORIZER_FAILED_MESSAGE = "the API key check failed; retry shortly"


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


def error_response(status: int, code: str, message: str, request_id: str, extra: dict | None = None) -> tuple[int, dict, bytes]:
    """One of API Gateway's own answers (not the function's), in the error contract's shape."""
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id, REQUEST_ID_HEADER: request_id, **(extra or {})}
    if status in BEDROCK_ERROR_CODES:  # what boto3 bedrock-runtime reads the error code from, as in the stack
        headers["x-amzn-ErrorType"] = BEDROCK_ERROR_CODES[status]
    return status, headers, error_payload(status, code, message, request_id)


class LocalApiGateway:
    """The REST API's routes behind its key step, usage plans and body checks; ``start()`` serves it over HTTP."""

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
        self.tls = tls.make() if tls.wanted() else None  # FMGW_TLS=1: HTTPS with a CA made now (local/tls.py)
        self.plans = UsagePlans(config["plans"], keys, config.get("stage"))
        self.validators: dict[str, Callable] = {}
        self.server: GatewayServer | None = None
        self.thread: threading.Thread | None = None

    def validator(self, schema: str) -> Callable:
        if schema not in self.validators:
            self.validators[schema] = fastjsonschema.compile(json.loads((ROOT / "schemas" / f"{schema}.json").read_text()))
        return self.validators[schema]

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        request_id = str(uuid.uuid4())

        def error(status: int, code: str, message: str, extra: dict | None = None) -> tuple[int, dict, bytes]:
            return error_response(status, code, message, request_id, extra)

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

        event = proxy_event(
            route.resource,
            method,
            path,
            query,
            headers,
            params,
            text,
            request_id=request_id,
            stage=self.stage,
            api_key=api_key,
            authorized=authorized,
        )
        try:
            status, out_headers, payload = invoke(route.handler, event, request_id)
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
            answer = self.authorizer(event, LambdaContext(request_id))
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

        class Handler(GatewayHttpHandler):
            timeout = self.read_timeout

            def respond_to(self, method, path, query, headers, body):
                return gateway.handle(method, path, query, headers, body)

        self.server = GatewayServer((host, port), Handler)
        if self.tls is not None:
            self.server.tls = self.tls.context
        self.thread = threading.Thread(target=self.server.serve_forever, name="local-api-gateway", daemon=True)
        self.thread.start()
        return self.url

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls is not None else 'http'}://{host}:{port}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
