"""Exact-match response cache: the last good answer for a normalised request, served (marked degraded)
only when every candidate model has failed.

Writes happen on a background thread so a healthy request does not wait for DynamoDB. A write that is
still pending when Lambda freezes the sandbox completes when it thaws; one lost with a recycled sandbox
only costs a cache entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from fmgateway.values.ports import ResponseStore

log = logging.getLogger(__name__)


def request_key(
    route: str, messages: list[dict], system: list[dict] | None, inference: dict | None, fields: dict | None = None
) -> str:
    """SHA-256 of the request with key order and runs of whitespace in text normalised away. ``fields``: the forwarded
    Converse fields (tools, guardrails, output schema...), which change the answer as much as the messages do."""

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (" ".join(v.split()) if k == "text" and isinstance(v, str) else norm(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    shape: dict[str, Any] = {
        "route": route,
        "messages": norm(messages),
        "system": norm(system or []),
        "inference": inference or {},
    }
    if fields:  # only when present: keys of requests without them stay as they were
        shape["fields"] = norm(fields)
    canonical = json.dumps(shape, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()  # odd text must not fail a request


class ResponseCache:
    def __init__(self, store: ResponseStore, background: bool = True):
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-write") if background else None
        self._pending: list[Future] = []

    def lookup(self, key: str) -> dict[str, Any] | None:
        try:
            return self.store.get(key)
        except Exception:  # the cache is a last resort: its own failure must not mask the real error
            log.exception("response cache read failed")
            return None

    def remember(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        if self._executor is None:
            self._write(key, value, ttl_seconds)
            return
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._write, key, value, ttl_seconds))

    def _write(self, key: str, value: dict[str, Any], ttl_seconds: int) -> None:
        try:
            self.store.put(key, value, ttl_seconds)
        except Exception:
            log.exception("response cache write failed")

    def flush(self, timeout: float = 5.0) -> None:
        """Wait for pending writes (tests, and before a sandbox is known to end)."""
        for future in list(self._pending):
            future.result(timeout=timeout)
        self._pending.clear()
