"""API keys the way clients send them: the rules of the Lambda REQUEST authorizer.

Rules (issue 12, pinned):

- ``x-api-key`` wins when present;
- otherwise ``Authorization: Bearer <key>`` (what the ``openai`` SDK sends with ``api_key``, and what botocore sends
  for bedrock-runtime when ``AWS_BEARER_TOKEN_BEDROCK`` is set);
- an ``Authorization`` header of another scheme (a SigV4 signature) without ``x-api-key``, or no key at all: 401,
  whose message (the UNAUTHORIZED gateway response) says how to send the key;
- a key that is not one of this API stage's usage-plan keys, or a disabled one: 403.

The authorizer returns the key as ``usageIdentifierKey`` (API key source ``AUTHORIZER``), so API Gateway applies the
usage plan of that key exactly as with the ``x-api-key`` header source, and the key's id as ``principalId`` and
``context.apiKeyId`` (the jobs tenant).

The authorizer runs uncached: API Gateway's result cache needs every identity source on every request, which a rule
"one header or the other" cannot give. Key lookups are cached here instead (``KeyDirectory``): a snapshot of the
stage's usage-plan keys per warm sandbox, refreshed every ``ttl`` seconds, and at most once per ``miss_refresh``
seconds when a key is not found (a new key works within seconds; a flood of wrong keys costs no control-plane calls).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The messages of the 401 and 403 answers; infra/constructs/gateway_responses.py puts the same text in the UNAUTHORIZED and
# ACCESS_DENIED gateway responses (tests/unit/test_access.py checks that they agree).
UNAUTHORIZED_MESSAGE = (
    "Unauthorized: send the API key as the x-api-key header or as 'Authorization: Bearer <key>' "
    "(AWS SigV4 signatures are not accepted)"
)
FORBIDDEN_MESSAGE = "Forbidden: the API key is not valid for this API or is disabled"


class Unauthorized(Exception):
    """No usable key in the request (401). ``reason`` is for the log, never for the client."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ApiKey:
    id: str
    value: str
    enabled: bool
    plan: str  # the usage plan's name


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    name = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == name and isinstance(value, str):
            return value
    return None


def presented_key(headers: Mapping[str, Any] | None) -> str:
    """The key a request presents, by the rules above; raises ``Unauthorized``."""
    api_key = (header(headers, "x-api-key") or "").strip()
    if api_key:
        return api_key
    authorization = (header(headers, "authorization") or "").strip()
    if not authorization:
        raise Unauthorized("no x-api-key or Authorization header")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized(f"Authorization scheme {scheme[:40]!r} is not Bearer and there is no x-api-key")
    token = credentials.strip()
    if not token or " " in token:
        raise Unauthorized("Authorization: Bearer without a single token")
    return token


KeyLoader = Callable[[str, str], Iterable[ApiKey]]


class KeyDirectory:
    """Key value -> ``ApiKey`` for one (REST API id, stage), loaded by ``load(api_id, stage)`` and cached."""

    def __init__(self, load: KeyLoader, ttl: float = 60.0, miss_refresh: float = 10.0, clock=time.monotonic):
        self._load, self.ttl, self.miss_refresh, self._clock = load, ttl, miss_refresh, clock
        self._snapshots: dict[tuple[str, str], tuple[float, dict[str, ApiKey]]] = {}
        self._lock = threading.Lock()
        self.loads = 0  # control-plane reloads (for tests and the benchmark)

    def find(self, value: str, api_id: str, stage: str) -> ApiKey | None:
        now = self._clock()
        with self._lock:
            loaded_at, keys = self._snapshots.get((api_id, stage), (float("-inf"), {}))
            age = now - loaded_at
            if age >= self.ttl or (value not in keys and age >= self.miss_refresh):
                keys = {key.value: key for key in self._load(api_id, stage)}
                self.loads += 1
                self._snapshots[(api_id, stage)] = (now, keys)
            return keys.get(value)


def authorize(event: Mapping[str, Any], directory: KeyDirectory) -> dict[str, Any]:
    """The authorizer's answer to a REQUEST event: Allow with the key as ``usageIdentifierKey``, or Deny (403);
    raises ``Unauthorized`` (401)."""
    value = presented_key(event.get("headers"))
    context = event.get("requestContext") or {}
    key = directory.find(value, str(context.get("apiId", "")), str(context.get("stage", "")))
    method_arn = str(event.get("methodArn", "*"))
    if key is None or not key.enabled:
        return policy("Deny", "anonymous", method_arn)
    answer = policy("Allow", key.id, method_arn)
    answer["usageIdentifierKey"] = key.value
    answer["context"] = {"apiKeyId": key.id, "plan": key.plan}
    return answer


def policy(effect: str, principal: str, method_arn: str) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
        },
    }


def api_gateway_loader(client_factory: Callable[[], Any]) -> KeyLoader:
    """Loads the keys of the usage plans attached to (api_id, stage) through API Gateway's control plane:
    GetUsagePlans, GetUsagePlanKeys (ids and values of this stage's keys only), GetApiKeys without values
    (the enabled flags)."""

    def load(api_id: str, stage: str) -> list[ApiKey]:
        client = client_factory()
        plans = [
            plan
            for page in client.get_paginator("get_usage_plans").paginate(PaginationConfig={"PageSize": 500})
            for plan in page.get("items", [])
            if any(s.get("apiId") == api_id and s.get("stage") == stage for s in plan.get("apiStages", []))
        ]
        enabled = {
            item["id"]: bool(item.get("enabled", True))
            for page in client.get_paginator("get_api_keys").paginate(PaginationConfig={"PageSize": 500})
            for item in page.get("items", [])
        }
        keys = []
        for plan in plans:
            pages = client.get_paginator("get_usage_plan_keys").paginate(
                usagePlanId=plan["id"], PaginationConfig={"PageSize": 500}
            )
            for page in pages:
                for item in page.get("items", []):
                    if item.get("type", "API_KEY") == "API_KEY" and item.get("value"):
                        keys.append(ApiKey(item["id"], item["value"], enabled.get(item["id"], False), plan.get("name", "")))
        return keys

    return load
