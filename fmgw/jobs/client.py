"""The jobs API over HTTP, and the request bodies the commands build from prompts and JSONL files.

Each line of a JSONL file is either ``{"prompt": "...", "metadata": {...}}`` or a full ``POST /v1/chat`` body. Every
submit carries an ``Idempotency-Key`` derived from the body (and ``--key-prefix``), so submitting the same file again
picks up the same jobs instead of running them twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from fmgw.target import Target

THROTTLE_RETRIES = 5
MAX_RETRY_AFTER = 10.0  # seconds
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
UNSUCCESSFUL = frozenset({"FAILED", "CANCELLED"})

# Exit codes of every jobs command
OK = 0
FAILED = 1  # a job failed or was cancelled, or the gateway refused the request (4xx)
UNUSABLE = 2  # a usage error, an unreachable gateway or a gateway error (5xx)
TIMED_OUT = 3  # polling gave up before every job finished


class UsageError(Exception):
    """Input the commands cannot submit (exit code 2)."""


class GatewayError(Exception):
    """The gateway answered with an error status."""

    def __init__(self, status: int, text: str):
        self.status = status
        try:
            detail = json.loads(text)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = text
        super().__init__(f"the gateway answered {status}: {detail}")

    @property
    def exit_code(self) -> int:
        return FAILED if self.status < 500 else UNUSABLE


def read_items(file: Path | None, prompts: Sequence[str]) -> list[dict[str, Any]]:
    """The JSONL file's lines, then one ``{"prompt": ...}`` per ``--prompt``."""
    items: list[dict[str, Any]] = []
    lines = [line for line in file.read_text().splitlines() if line.strip()] if file else []
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{file}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise UsageError(f"{file}:{number}: each line must be a JSON object")
        items.append(item)
    return items + [{"prompt": prompt} for prompt in prompts]


def bodies(items: Sequence[dict[str, Any]], tier: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
    """``POST /v1/jobs`` bodies; ``tier`` and ``model`` fill in what an item does not set itself."""
    out = []
    for item in items:
        if "messages" in item:
            body = dict(item)
        else:
            if not isinstance(item.get("prompt"), str) or not item["prompt"]:
                raise UsageError(f"each item needs 'prompt' or 'messages': {json.dumps(item)[:80]}")
            body = {"messages": [{"role": "user", "content": [{"text": item["prompt"]}]}]}
            if "metadata" in item:
                body["metadata"] = item["metadata"]
        for field, value in (("tier", tier), ("model", model)):
            if value and field not in body:
                body[field] = value
        out.append(body)
    if not out:
        raise UsageError("nothing to submit: give --prompt or --file")
    return out


def idempotency_key(body: dict[str, Any], prefix: str = "") -> str:
    """The same body (and prefix) gives the same key: resubmitting returns the job already created."""
    return hashlib.sha256((prefix + json.dumps(body, sort_keys=True)).encode()).hexdigest()[:40]


def record(view: dict[str, Any], result: dict[str, Any] | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One line of results JSONL: the job's status, its answer's text and the full result or error."""
    text = None
    if result:
        text = "".join(block.get("text", "") for block in result["output"]["message"]["content"])
    head: dict[str, Any] = {"jobId": view["jobId"], "status": view["status"]}
    if body is not None:
        head["input"] = body
    return {**head, "text": text, "result": result, "error": view.get("error")}


class JobsClient:
    """``/v1/jobs`` of one gateway with one API key."""

    def __init__(
        self,
        target: Target,
        timeout: float = 30,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.target, self.sleep = target, sleep
        headers = {"x-api-key": target.key}
        self._http = httpx.Client(base_url=target.url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def submit(self, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """``{"jobId", "status", "statusUrl"}``; the job already created for ``key`` if there is one."""
        headers = {"Idempotency-Key": key} if key else {}
        return self._call("POST", "/v1/jobs", 202, json=body, headers=headers)

    def status(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", self._path(job_id), 200)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancels a job that has not started; a started one is a 409 (``GatewayError``)."""
        return self._call("DELETE", self._path(job_id), 200)

    def result(self, view: dict[str, Any]) -> dict[str, Any] | None:
        """The job's result: inline, or behind ``resultUrl`` (presigned S3: fetched without the API key)."""
        if view.get("result") is None and view.get("resultUrl"):
            response = httpx.get(view["resultUrl"], timeout=self._http.timeout)
            response.raise_for_status()
            return response.json()
        return view.get("result")

    @staticmethod
    def _path(job_id: str) -> str:
        return f"/v1/jobs/{quote(job_id, safe='')}"

    def _call(self, method: str, path: str, expected: int, **kwargs: Any) -> dict[str, Any]:
        """One request; a 429 (the usage plan's rate limit) waits for ``Retry-After`` and tries again, a few times."""
        for attempt in range(THROTTLE_RETRIES + 1):
            response = self._http.request(method, path, **kwargs)
            if response.status_code != 429 or attempt == THROTTLE_RETRIES:
                break
            self.sleep(_retry_after(response))
        if response.status_code != expected:
            raise GatewayError(response.status_code, response.text)
        return response.json()


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", 1)), 0.1), MAX_RETRY_AFTER)
    except ValueError:
        return 1.0
