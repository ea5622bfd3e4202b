"""API Gateway's Lambda proxy integration, on one machine: the request fields API Gateway puts in a proxy event and in
a REQUEST authorizer's event, the proxy event itself, the key id it hands the function instead of the key, the Lambda
context object, and the function's proxy response read back."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable


def api_key_id(key: str) -> str:
    """API Gateway hands the Lambda the key's id, never the key: the jobs tenant."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


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


class LambdaContext:
    """The Lambda context object the handlers read."""

    function_name = "fmgw-local"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:fmgw-local"

    def __init__(self, request_id: str):
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def proxy_event(
    resource: str,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    params: dict | None,
    text: str,
    *,
    request_id: str,
    stage: str,
    api_key: str | None,
    authorized: dict | None,
) -> dict:
    """The proxy event for a request that passed API Gateway's checks (``authorized``: the key authorizer's context)."""
    return {
        "resource": resource,
        **request_fields(method, path, query, headers, params),
        "requestContext": {
            "requestId": request_id,
            "stage": stage,
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
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


def invoke(handler: Callable, event: dict, request_id: str) -> tuple[int, dict[str, str], bytes | Iterable[bytes]]:
    """Call the function with the event; its proxy response as (status, headers, body bytes or the chunks of a stream).
    A crashed function or a malformed proxy response raises (API Gateway answers 502)."""
    response = handler(event, LambdaContext(request_id))
    status = int(response["statusCode"])
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    body = response.get("body") or ""
    return status, headers, body.encode("utf-8") if isinstance(body, str) else body
