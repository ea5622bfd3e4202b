"""Async jobs: submit, queue, process, store, notify, poll; nothing lost, nothing run twice.

Submit writes the QUEUED record (flagged ``pendingEnqueue``) before it enqueues, then clears the flag.
A crash in between leaves a flagged record that ``sweep`` enqueues later (and an idempotent resubmit
enqueues at once): never a job that does not run, never a message without a record. The worker
starts a run with a conditional QUEUED|RUNNING -> RUNNING transition that records a new ``runId``;
only the run holding the current ``runId`` may complete the job, so each job gets exactly one result
write however often its message is delivered. A terminal job is announced on SNS once: an announcer
first claims the notice with a conditional write (a short lease), publishes, then sets ``notified``;
concurrent announcers lose the claim, and a crashed one's claim expires for the next delivery.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.converse import request_metadata
from fmgateway.core.gateway import Gateway
from fmgateway.routing import capabilities, strategies
from fmgateway.routing import planner as routing
from fmgateway.values.errors import SERVER_ERROR, Conflict, GatewayError, NotFound
from fmgateway.values.exchange import ChatRequest

logger = logging.getLogger(__name__)  # stdlib: the handlers' Powertools logger is an adapter this package may not import

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
PERMANENT_STATUSES = frozenset({400, 404, 413})  # the request itself is wrong: retrying cannot help
NOTICE_LEASE_SECONDS = 15  # shorter than the worker's first retry (30 s): a crashed announcer's retry can re-claim
ITEM_BUDGET_BYTES = 350_000  # a job record must stay under DynamoDB's 400 KB item limit, request included


class JobStore(Protocol):
    def create(self, job: dict, idempotency: dict | None) -> dict | None:
        """Write job (+ idempotency marker) atomically; returns the existing marker if the key was taken."""

    def get(self, job_id: str) -> dict | None: ...

    def update(
        self,
        job_id: str,
        changes: dict,
        *,
        expect_status: set[str] | None = None,
        expect: dict | None = None,
        remove: tuple[str, ...] = (),
    ) -> bool:
        """Conditional update: False if the status/attributes no longer match."""

    def get_marker(self, tenant: str, key_hash: str) -> dict | None: ...

    def pending_enqueue(self, older_than: float) -> list[str]: ...

    def claim_notice(self, job_id: str, now: float, lease_seconds: float) -> bool:
        """Take the right to announce the job: False if it was announced, or another claim is younger than the lease."""

    def release_notice(self, job_id: str) -> None: ...


class JobQueue(Protocol):
    def send(self, job_id: str) -> None: ...


class ResultStore(Protocol):
    def put(self, key: str, body: bytes) -> None: ...

    def url(self, key: str, expires_in: int) -> str: ...


class Notifier(Protocol):
    def publish(self, message: dict, attributes: dict[str, str]) -> None: ...


def _error(err: GatewayError) -> dict[str, str]:
    """A job's ``error`` in the error contract's terms: OpenAI's ``type``, the gateway's ``code`` and the message."""
    return {"type": err.type, "code": err.code, "message": err.message}


def now_iso(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Jobs:
    def __init__(
        self,
        store: JobStore,
        queue: JobQueue,
        results: ResultStore,
        notifier: Notifier,
        gateway: Callable[[], Gateway],
        settings: Callable[[], dict],
        clock: Callable[[], float] = time.time,
        config: Callable[[], GatewayConfig] | None = None,
    ):
        """``config``: the live gateway configuration, to refuse at submit a job the worker could not route."""
        self.store, self.queue, self.results, self.notifier = store, queue, results, notifier
        self._gateway, self._settings, self.clock, self._config = gateway, settings, clock, config

    # ---- API side ------------------------------------------------------------------------------------

    def submit(self, tenant: str, body: dict, idempotency_key: str | None = None) -> tuple[dict, bool]:
        """Returns the job and whether it was created now (False: an idempotent repeat)."""
        settings = self._settings()
        self._check_routable(body)
        now = self.clock()
        request_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        marker: dict[str, Any] | None = None
        if idempotency_key:
            key_hash = hashlib.sha256(idempotency_key.encode("utf-8", "surrogatepass")).hexdigest()
            marker = {"tenant": tenant, "keyHash": key_hash, "requestHash": request_hash}
            existing = self.store.get_marker(tenant, key_hash)
            if existing is not None:
                return self._repeat(existing, request_hash), False
        job_id = uuid.uuid4().hex
        expires_at = int(now + settings.get("retentionDays", 7) * 86400)
        job: dict[str, Any] = {
            "jobId": job_id,
            "tenant": tenant,
            "status": QUEUED,
            "createdAt": now_iso(self.clock),
            "updatedAt": now_iso(self.clock),
            "createdEpoch": int(now),
            "attempts": 0,
            "request": {k: v for k, v in body.items() if k != "metadata"},
            "metadata": body.get("metadata"),
            "pendingEnqueue": "1",
            "expiresAt": expires_at,
        }
        if marker is not None:
            marker.update(jobId=job_id, expiresAt=expires_at)
        taken = self.store.create(job, marker)
        if taken is not None:  # lost a race for the same key
            return self._repeat(taken, request_hash), False
        self._enqueue(job_id)
        return job, True

    def _check_routable(self, body: dict) -> None:
        """What the worker will plan, planned now: an unknown model or a prompt no candidate fits is the
        submitter's 400/413, not a job that fails later. (Breaker state is not checked: it may change.)"""
        if self._config is None:
            return
        config = self._config()
        request = ChatRequest.from_body(body)
        max_tokens = (request.inference or {}).get("maxTokens", config.default_max_tokens)
        features = routing.extract_features(request.messages, request.system, max_tokens)
        features = features._replace(capabilities=capabilities.required(request.messages, request.system, request.fields))
        plan = routing.plan(config, features, model=request.model, tier=request.tier)
        if request.max_cost_usd is not None:  # a ceiling no candidate meets is the submitter's 400 too
            pinned = plan.candidates[0] if plan.kind in ("alias", "model") else None
            strategies.within_cost(plan.candidates, features.input_tokens, max_tokens, request.max_cost_usd, pinned)

    def _repeat(self, marker: dict, request_hash: str) -> dict:
        if marker.get("requestHash") != request_hash:
            raise Conflict("Idempotency-Key was already used with a different request body")
        job = self.store.get(marker["jobId"])
        if job is None:
            raise NotFound("the job for this Idempotency-Key has expired")
        if job.get("pendingEnqueue"):
            self._enqueue(job["jobId"])  # the first submit may have died before enqueueing
        return job

    def _enqueue(self, job_id: str) -> None:
        try:
            self.queue.send(job_id)
        except Exception:
            # The record is flagged: the sweeper enqueues it. The job is accepted either way.
            logger.exception("enqueue failed; the sweeper will retry", extra={"jobId": job_id})
            return
        try:
            self.store.update(job_id, {}, remove=("pendingEnqueue",))
        except Exception:  # enqueued all the same; a second message is harmless (the worker is idempotent)
            logger.exception("could not clear pendingEnqueue; the job may be enqueued twice", extra={"jobId": job_id})

    def get(self, tenant: str, job_id: str) -> dict:
        job = self.store.get(job_id)
        if job is None or job["tenant"] != tenant:  # another tenant's job does not exist for you
            raise NotFound(f"no job {job_id}")
        return job

    def view(self, job: dict) -> dict:
        """What a submitter sees: status and result, never the tenant or internal bookkeeping."""
        out = {
            "jobId": job["jobId"],
            "status": job["status"],
            "createdAt": job["createdAt"],
            "updatedAt": job["updatedAt"],
            "attempts": job.get("attempts", 0),
            "metadata": job.get("metadata"),
            "error": job.get("error"),
        }
        if job.get("result") is not None:
            out["result"] = job["result"]
        elif job.get("resultKey"):
            out["resultUrl"] = self.results.url(job["resultKey"], self._settings().get("resultUrlSeconds", 900))
        return out

    def cancel(self, tenant: str, job_id: str) -> dict:
        job = self.get(tenant, job_id)
        changes = {"status": CANCELLED, "updatedAt": now_iso(self.clock)}
        if not self.store.update(job_id, changes, expect_status={QUEUED}, remove=("pendingEnqueue",)):
            job = self.get(tenant, job_id)
            if job["status"] == CANCELLED:
                self._announce(job)  # a repeated DELETE finishes what a failed one started
                return job
            raise Conflict(f"job {job_id} is {job['status']}: only a job that has not started can be cancelled")
        job = {**job, **changes}
        self._announce(job)
        return job

    # ---- worker side ---------------------------------------------------------------------------------

    def process(self, job_id: str) -> str:
        """Run one delivery of a job's message. Returns what happened; raises to have SQS retry."""
        job = self.store.get(job_id)
        if job is None:
            return "missing"  # expired or never created: nothing to do, drop the message
        if job["status"] in TERMINAL:
            self._announce(job)  # a no-op unless an earlier delivery died before announcing
            return "duplicate"
        run_id = uuid.uuid4().hex
        started = {"status": RUNNING, "runId": run_id, "updatedAt": now_iso(self.clock), "attempts": job.get("attempts", 0) + 1}
        if not self.store.update(job_id, started, expect_status={QUEUED, RUNNING}, remove=("pendingEnqueue",)):
            return self.process(job_id)  # cancelled or finished meanwhile: handled as such
        job.update(started)

        try:
            # requestMetadata: the submitter's API key id, and the job id as the request id
            request = ChatRequest.from_body(job["request"], caller=job.get("tenant"))
            request = request_metadata.identified(request, job["tenant"], job["jobId"])
            result = self._gateway().chat(request)
        except GatewayError as err:
            if err.status in PERMANENT_STATUSES:
                return self._finish(job, run_id, FAILED, error=_error(err))
            self.store.update(job_id, {"lastError": _error(err)}, expect={"runId": run_id})
            raise  # transient (throttled, unavailable, timeout): SQS redelivers, the DLQ takes over after maxReceives

        payload = json.dumps(result.body(), separators=(",", ":"))
        fields: dict[str, Any] = {"route": result.route}
        size = len(payload.encode())
        request_size = len(json.dumps(job["request"], ensure_ascii=False).encode("utf-8", "surrogatepass"))
        if size > self._settings().get("inlineResultMaxBytes", 300_000) or size + request_size > ITEM_BUDGET_BYTES:
            key = f"results/{job['tenant']}/{job_id}.json"
            self.results.put(key, payload.encode())  # same key on every run: a retry overwrites, never adds
            fields["resultKey"] = key
        else:
            fields["result"] = json.loads(payload)
        return self._finish(job, run_id, SUCCEEDED, **fields)

    def _finish(self, job: dict, run_id: str, status: str, **fields) -> str:
        changes = {"status": status, "updatedAt": now_iso(self.clock), **fields}
        if not self.store.update(job["jobId"], changes, expect_status={RUNNING}, expect={"runId": run_id}):
            return "superseded"  # a newer run owns the job now
        self._announce({**job, **changes})
        return status

    def fail_poisoned(self, job_id: str) -> str:
        """The message went to the DLQ: the job will never succeed, say so and why."""
        job = self.store.get(job_id)
        if job is None:
            return "missing"
        if job["status"] in TERMINAL:
            self._announce(job)
            return "duplicate"
        last = job.get("lastError") or {
            "type": SERVER_ERROR,
            "code": "worker_error",
            "message": "the worker failed without a recorded error",
        }
        error = {
            "type": SERVER_ERROR,
            "code": "poisoned",
            "message": f"gave up after {job.get('attempts', 0)} attempts; last error: {last['message']}",
            "last": last,
        }
        changes = {"status": FAILED, "updatedAt": now_iso(self.clock), "error": error}
        if not self.store.update(job_id, changes, expect_status={QUEUED, RUNNING}, remove=("pendingEnqueue",)):
            return self.fail_poisoned(job_id)
        self._announce({**job, **changes})
        return FAILED

    def _announce(self, job: dict) -> None:
        if job["status"] not in TERMINAL or job.get("notified"):
            return
        message = {
            "jobId": job["jobId"],
            "status": job["status"],
            "updatedAt": job["updatedAt"],
            "metadata": job.get("metadata"),
            "error": job.get("error"),
        }
        attributes = {"status": job["status"], "tenant": job["tenant"], "route": job.get("route") or "none"}
        if not self.store.claim_notice(job["jobId"], self.clock(), NOTICE_LEASE_SECONDS):
            return  # announced already, or being announced by another delivery right now
        try:
            self.notifier.publish(message, attributes)
        except Exception:
            self.store.release_notice(job["jobId"])
            raise
        self.store.update(job["jobId"], {"notified": True})

    def sweep(self) -> int:
        """Enqueue jobs whose submit died between writing the record and enqueueing it."""
        grace = self._settings().get("enqueueGraceSeconds", 60)
        job_ids = self.store.pending_enqueue(self.clock() - grace)
        for job_id in job_ids:
            self._enqueue(job_id)
        return len(job_ids)
