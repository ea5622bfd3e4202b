"""API Gateway proxy events in, proxy responses out: body parsing, limits, JSON and error responses."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from fmgateway.converse import request_metadata
from fmgateway.values.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound, PayloadTooLarge, Unavailable

JSON_HEADERS = {"Content-Type": "application/json"}
REQUEST_ID_HEADER = "x-request-id"  # the request id on every response (the openai SDK's request_id reads it)
# What a 413 tells the client to do instead (the stack's REQUEST_TOO_LARGE gateway response says the same).
LARGE_INPUT_HINT = (
    "send large images and documents by S3 reference instead: source.s3Location.uri = s3://<bucket>/<key>, "
    "in a bucket the gateway allows (limits.s3InputBuckets)"
)


def request_id(event: dict) -> str:
    return (event.get("requestContext") or {}).get("requestId") or "local"


def caller(event: dict) -> str | None:
    """The API key's id, as API Gateway passes it (the key authorizer's context, or its own key check's identity);
    ``None`` when there is none (local calls without a key)."""
    context = event.get("requestContext") or {}
    return (context.get("authorizer") or {}).get("apiKeyId") or (context.get("identity") or {}).get("apiKeyId") or None


def tenant_of(event: Mapping[str, Any]) -> str:
    """The caller's API key id (the jobs tenant and ``fmgw-tenant``): ``caller``, or ``unknown`` without a key."""
    return caller(dict(event)) or request_metadata.UNKNOWN


def header(event: dict, name: str) -> str | None:
    name = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


MAX_JSON_DEPTH = 32  # levels of nesting in a request body, the body object itself being level 1
MAX_INTEGER = 2**63  # integers anywhere in a body must lie strictly between -MAX_INTEGER and MAX_INTEGER


def _reject_constant(name: str) -> Any:
    raise InvalidRequest(f"body: {name} is not JSON (RFC 8259); send a finite number or null")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400 parses to infinity, which JSON cannot carry back
        raise InvalidRequest(f"body: number {text[:40]} is out of range")
    return value


def _parse_int(text: str) -> int:
    # the length test comes first: int() of a string longer than 4300 digits raises ValueError
    if len(text) > 20 or abs(value := int(text)) >= MAX_INTEGER:
        raise InvalidRequest(f"body: integer {text[:40]}{'...' if len(text) > 40 else ''} is out of range (at most 2^63 - 1)")
    return value


def _check_structure(body: Any) -> None:
    """Depth limit and no lone surrogates (valid JSON text, but not Unicode: nothing downstream can encode it)."""
    stack: list[tuple[Any, int, str]] = [(body, 1, "body")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                _check_text(value, where)
            continue
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = ((f"[{index}]", item) for index, item in enumerate(value))
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise InvalidRequest(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        for key, item in items:
            if isinstance(value, dict):
                if not key.isascii():
                    _check_text(key, f"{where} (a key)")
                path = f"{where}.{key}" if key.isidentifier() else f"{where}[{json.dumps(key, ensure_ascii=True)}]"
            else:
                path = where + key
            if isinstance(item, (dict, list, str)):
                stack.append((item, depth + 1, path))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{where}: contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not Unicode text") from None


def parse_json(raw: str | bytes) -> Any:
    """Strict RFC 8259 JSON: no NaN/Infinity, finite numbers, bounded integers and nesting, Unicode strings.
    Every refusal is ``InvalidRequest`` naming what is wrong, never a 500."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"body: not valid UTF-8 (byte {exc.start})") from None
    try:
        body = json.loads(raw, parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"body: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise InvalidRequest(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_structure(body)
    return body


def json_body(event: dict, max_bytes: int) -> dict[str, Any]:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError, as is non-ASCII input
            raise InvalidRequest("body: not valid base64-encoded UTF-8") from None
    size = len(raw) if raw.isascii() else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise PayloadTooLarge(f"body: {size} bytes exceeds the limit of {max_bytes} bytes; {LARGE_INPUT_HINT}")
    if not raw.strip():
        raise InvalidRequest("body: a JSON object is required")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("body: must be a JSON object")
    return body


def respond(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


def error_response(err: GatewayError, event: dict) -> dict[str, Any]:
    rid = request_id(event)
    return respond(err.status, err.body(rid), {**err.headers(), REQUEST_ID_HEADER: rid})


def with_request_id(response: dict[str, Any], event: dict) -> dict[str, Any]:
    """``response`` with the ``x-request-id`` header: API Gateway's request id (an error's ``requestId``), where the
    openai SDK reads ``request_id`` / ``_request_id`` from, on every answer of every route."""
    response["headers"] = {**(response.get("headers") or {}), REQUEST_ID_HEADER: request_id(event)}
    return response


Route = Callable[[dict], dict]


DEPENDENCY_RETRY_AFTER = 1  # seconds: a store or queue that failed once is usually back at once


def dispatch(
    event: dict,
    routes: dict[str, dict[str, Route]],
    more_routes: Callable[[str], dict[str, Route] | None] | None = None,
    dependency_errors: tuple[type[BaseException], ...] = (),
) -> dict:
    """Send a proxy event to ``routes[resource][method]`` (``more_routes(resource)`` for routes known only
    at run time); every failure becomes the error contract's response, never a stack trace, and every answer
    carries ``x-request-id``.

    ``dependency_errors``: what a failing store, queue or other AWS dependency raises (the handler names
    them, so the core needs no SDK): a 503 with Retry-After, logged with the request id; anything else
    unexpected is a 500 in the same error shape."""
    from fmgateway.aws.telemetry import logger, metrics

    path = event.get("resource") or event.get("path") or ""
    method = event.get("httpMethod", "GET")
    try:
        methods = routes.get(path) or (more_routes(path) if more_routes else None)
        if methods is None:
            raise NotFound(f"no route {method} {path}")
        route = methods.get(method)
        if route is None:
            raise MethodNotAllowed(f"{method} is not allowed on {path}; use {', '.join(methods)}", allow=list(methods))
        return with_request_id(route(event), event)
    except GatewayError as err:
        if err.status >= 500:
            logger.warning("request failed", extra={"status": err.status, "error": err.message})
            metrics.add_metric(name=f"Errors{err.status}", unit="Count", value=1)
        return error_response(err, event)
    except Exception as exc:
        if isinstance(exc, dependency_errors):
            logger.exception("dependency failed", extra={"requestId": request_id(event)})
            metrics.add_metric(name="Errors503", unit="Count", value=1)
            unavailable = Unavailable("a backing service failed; retry shortly", retry_after=DEPENDENCY_RETRY_AFTER)
            return error_response(unavailable, event)
        logger.exception("unhandled error", extra={"requestId": request_id(event)})
        metrics.add_metric(name="Errors500", unit="Count", value=1)
        return error_response(GatewayError("internal error; see logs with this requestId"), event)
