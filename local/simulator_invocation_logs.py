"""The simulator's model invocation logs: every call written as Bedrock writes it to S3 (issue 21), so the path from a
request to a training dataset runs on a laptop (``FMGW_INVOCATION_LOGS=1 make local``).

Format and layout as ``fmgateway.lifecycle.invocation_logs`` reads them and ``tests/fixtures/invocation_logs`` pins
them (the fixtures' README names the sources): gzipped JSON lines under
``AWSLogs/<account>/BedrockModelInvocationLogs/<region>/<YYYY>/<MM>/<DD>/<HH>/``, several records per object, a body
over ``LARGE_BODY_BYTES`` in its own object under the hour's ``data/`` folder with ``input.inputBodyS3Path`` /
``output.outputBodyS3Path`` pointing at it, a failed call as ``errorCode`` without bodies, and the permission-check
object written once when logging starts. ``tests/integration/test_simulator_invocation_logs.py`` checks that these
records have exactly the fixtures' keys and types, so the writer and the reader cannot agree on a format of their own.

Records are buffered and written every ``flush_seconds`` by a background thread (Bedrock delivers in batches too),
and on ``flush()`` / ``stop()``.
"""

from __future__ import annotations

import gzip
import json
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"  # moto's default account, the one local mode's resources live in
LARGE_BODY_BYTES = 100 * 1024  # bodies above this go to a data/ object (the size sources report; unconfirmed by AWS)
PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
OPERATIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
}
GEOGRAPHIES = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.")
IDENTITY = f"arn:aws:sts::{ACCOUNT}:assumed-role/fmgw-local-gateway/local"

Put = Callable[[str, bytes], None]  # (key, bytes): the destination, a local folder or local mode's S3 bucket


class InvocationLogWriter:
    """Buffers records and writes them as Bedrock's log objects through ``put``; ``bucket`` names the destination in
    the ``s3://`` pointers of large bodies."""

    def __init__(self, put: Put, bucket: str, account: str = ACCOUNT, flush_seconds: float = 1.0):
        self.put, self.bucket, self.account, self.flush_seconds = put, bucket, account, flush_seconds
        self.lock = threading.Lock()
        self.pending: dict[str, list[str]] = {}  # hour folder -> JSON lines
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.failures = 0

    @property
    def root(self) -> str:
        return f"AWSLogs/{self.account}/BedrockModelInvocationLogs/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.root}"

    def start(self) -> InvocationLogWriter:
        self.put(self.root + PERMISSION_CHECK, b"")  # what Bedrock writes when the setting is made: not a log
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, name="invocation-logs", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)
            self.thread = None
        self.flush()

    def _run(self) -> None:
        while not self.stopping.wait(self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered, one object per hour folder."""
        with self.lock:
            pending, self.pending = self.pending, {}
        for folder, lines in pending.items():
            name = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}_{secrets.token_hex(8)}.json.gz"
            try:
                self.put(folder + name, gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
            except Exception as exc:  # a log delivery failing must never fail the simulated call
                self.failures += 1
                print(f"[simulator] invocation log not written: {exc}", flush=True)

    def _body(self, folder: str, request_id: str, part: str, body: Any) -> dict[str, Any]:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if len(data) <= LARGE_BODY_BYTES:
            return {f"{part}BodyJson": body}
        key = f"{folder}data/{request_id}_{part}.json.gz"
        self.put(key, gzip.compress(data))
        return {f"{part}BodyS3Path": f"s3://{self.bucket}/{key}"}

    def record(
        self,
        operation: str,
        model_id: str,
        request_id: str,
        region: str,
        metadata: dict[str, str] | None,
        call: tuple[Any, Any, int, int] | None = None,
        error_code: str | None = None,
    ) -> None:
        """One call: ``call`` is (input body, output body, input tokens, output tokens) of an answered call;
        ``error_code`` the exception name of a failed one."""
        now = datetime.now(UTC)
        folder = f"{self.root}{region}/{now:%Y/%m/%d/%H}/"
        record: dict[str, Any] = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": f"{now:%Y-%m-%dT%H:%M:%SZ}",
            "accountId": self.account,
            "identity": {"arn": IDENTITY},
            "region": region,
            "requestId": request_id,
            "operation": OPERATIONS[operation],
            "modelId": model_id,
        }
        if call is not None:
            given, produced, tokens_in, tokens_out = call
            record["input"] = {
                "inputContentType": "application/json",
                **self._body(folder, request_id, "input", given),
                "inputTokenCount": tokens_in,
                "cacheReadInputTokenCount": 0,
                "cacheWriteInputTokenCount": 0,
            }
            record["output"] = {
                "outputContentType": "application/json",
                **self._body(folder, request_id, "output", produced),
                "outputTokenCount": tokens_out,
            }
        if error_code is not None:
            record["errorCode"] = error_code
        if metadata:
            record["requestMetadata"] = metadata
        if model_id.startswith(GEOGRAPHIES):  # a cross-Region profile: served in the signing region here
            record["inferenceRegion"] = region
        with self.lock:
            self.pending.setdefault(folder, []).append(json.dumps(record, ensure_ascii=False))
