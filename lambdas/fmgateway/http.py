"""API Gateway proxy events in, proxy responses out: body parsing, limits, JSON and error responses."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from fmgateway.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound, PayloadTooLarge

JSON_HEADERS = {"Content-Type": "application/json"}


def request_id(event: dict) -> str:
    return (event.get("requestContext") or {}).get("requestId") or "local"


def header(event: dict, name: str) -> str | None:
    name = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def json_body(event: dict, max_bytes: int) -> dict[str, Any]:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequest("body: not valid base64-encoded UTF-8") from None
    size = len(raw.encode()) if not raw.isascii() else len(raw)
    if size > max_bytes:
        raise PayloadTooLarge(f"body: {size} bytes exceeds the limit of {max_bytes} bytes")
    if not raw.strip():
        raise InvalidRequest("body: a JSON object is required")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"body: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise InvalidRequest("body: JSON nested too deeply") from None
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
    return respond(err.status, err.body(request_id(event)), err.headers())


Route = Callable[[dict], dict]


def dispatch(
    event: dict,
    routes: dict[str, dict[str, Route]],
    more_routes: Callable[[str], dict[str, Route] | None] | None = None,
) -> dict:
    """Send a proxy event to ``routes[resource][method]`` (``more_routes(resource)`` for routes known only
    at run time); every failure becomes the error contract's response, never a stack trace."""
    from fmgateway.telemetry import logger, metrics

    path = event.get("resource") or event.get("path") or ""
    method = event.get("httpMethod", "GET")
    try:
        methods = routes.get(path) or (more_routes(path) if more_routes else None)
        if methods is None:
            raise NotFound(f"no route {method} {path}")
        route = methods.get(method)
        if route is None:
            raise MethodNotAllowed(f"{method} is not allowed on {path}; use {', '.join(methods)}")
        return route(event)
    except GatewayError as err:
        if err.status >= 500:
            logger.warning("request failed", extra={"status": err.status, "error": err.message})
            metrics.add_metric(name=f"Errors{err.status}", unit="Count", value=1)
        return error_response(err, event)
    except Exception:
        logger.exception("unhandled error")
        metrics.add_metric(name="Errors500", unit="Count", value=1)
        return error_response(GatewayError("internal error; see logs with this requestId"), event)
