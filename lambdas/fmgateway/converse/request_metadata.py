"""Converse ``requestMetadata``, one convention on every route (issue 10).

The caller's tags travel to Bedrock as ``requestMetadata`` (what invocation logs record and what a distillation job's
log filter matches); the gateway adds exactly its own five keys, so logs are searchable by tenant, route, tier, model
and request. Bedrock allows at most 16 pairs, keys of 1-256 and values of 0-256 characters of
``[a-zA-Z0-9\\s:_@$#=/+,.-]``: the caller may send at most 11, and none whose key starts with ``fmgw-``.

The tenant and request id are known to the handler (``with_identity``); route, tier and model only once a candidate
is chosen, so ``for_call`` completes the map per candidate (``fmgw-model`` is the model actually invoked).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fmgateway.values.errors import InvalidRequest

if TYPE_CHECKING:
    from fmgateway.values.exchange import ChatRequest

TENANT, ROUTE, TIER, MODEL, REQUEST_ID = "fmgw-tenant", "fmgw-route", "fmgw-tier", "fmgw-model", "fmgw-request-id"
GATEWAY_KEYS = (TENANT, ROUTE, TIER, MODEL, REQUEST_ID)
RESERVED_PREFIX = "fmgw-"
BEDROCK_MAX_PAIRS = 16
MAX_CALLER_PAIRS = BEDROCK_MAX_PAIRS - len(GATEWAY_KEYS)  # 11
MAX_KEY, MAX_VALUE = 256, 256
ALLOWED = r"[a-zA-Z0-9\s:_@$#=/+,.-]"
_TEXT = re.compile(ALLOWED + "*")
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9\s:_@$#=/+,.-]")
UNKNOWN = "unknown"


def _shown(key: str) -> str:
    return repr(key if len(key) <= 40 else key[:40] + "...")


def check(metadata: Any, root: str = "body.requestMetadata") -> dict[str, str]:
    """The caller's ``requestMetadata``: a 400 that names the pair for a reserved key, a bad character, a length out
    of range, a value that is not a string, or more than ``MAX_CALLER_PAIRS`` pairs. Returns it."""
    if not isinstance(metadata, Mapping):
        raise InvalidRequest(f"{root}: must be an object of string values")
    if len(metadata) > MAX_CALLER_PAIRS:
        raise InvalidRequest(
            f"{root}: at most {MAX_CALLER_PAIRS} pairs, got {len(metadata)} (Bedrock takes {BEDROCK_MAX_PAIRS}; the gateway "
            f"adds its own {len(GATEWAY_KEYS)}: {', '.join(GATEWAY_KEYS)})"
        )
    for key, value in metadata.items():
        where = f"{root}[{_shown(key)}]"
        if key.lower().startswith(RESERVED_PREFIX):
            raise InvalidRequest(f"{where}: keys starting with '{RESERVED_PREFIX}' are reserved for the gateway's own keys")
        if not 1 <= len(key) <= MAX_KEY:
            raise InvalidRequest(f"{where}: a key must be 1 to {MAX_KEY} characters")
        if not _TEXT.fullmatch(key):
            raise InvalidRequest(f"{where}: the key may only contain characters of {ALLOWED}")
        if not isinstance(value, str):
            raise InvalidRequest(f"{where}: must be a string")
        if len(value) > MAX_VALUE:
            raise InvalidRequest(f"{where}: a value must be 0 to {MAX_VALUE} characters")
        if not _TEXT.fullmatch(value):
            raise InvalidRequest(f"{where}: the value may only contain characters of {ALLOWED}")
    return dict(metadata)


def clean(value: str) -> str:
    """A gateway value as Bedrock accepts it: other characters become '_', at most 256 characters."""
    return _NOT_ALLOWED.sub("_", value)[:MAX_VALUE]


def with_identity(metadata: Mapping[str, str] | None, tenant: str, request_id: str) -> dict[str, str]:
    """The caller's pairs plus the tenant and request id (set by the handler, never by the caller)."""
    return {**(metadata or {}), TENANT: clean(tenant or UNKNOWN), REQUEST_ID: clean(request_id or UNKNOWN)}


def identified(request: ChatRequest, tenant: str, request_id: str) -> ChatRequest:
    """``request`` with the tenant and request id in its metadata (``with_identity``), and the tenant as its
    ``caller``, whose share of a model's failures the breaker caps (none for a request without a key)."""
    caller = tenant if tenant and tenant != UNKNOWN else None
    return request._replace(metadata=with_identity(request.metadata, tenant, request_id), caller=caller)


def for_call(metadata: Mapping[str, str] | None, route: str, tier: str | None, model: str) -> dict[str, str]:
    """The ``requestMetadata`` sent with one candidate's call: caller pairs plus exactly the five gateway keys."""
    merged = {key: value for key, value in (metadata or {}).items() if not key.startswith(RESERVED_PREFIX)}
    merged[TENANT] = (metadata or {}).get(TENANT, UNKNOWN)
    merged[ROUTE] = clean(route)
    merged[TIER] = clean(tier or "none")
    merged[MODEL] = clean(model)
    merged[REQUEST_ID] = (metadata or {}).get(REQUEST_ID, UNKNOWN)
    return merged
