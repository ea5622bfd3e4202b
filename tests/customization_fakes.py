"""In-memory fakes of the customization workflow's ports (``fmgateway.lifecycle.customization.ports``,
``provisioning.CapacityControl``) and a ready ``Ports`` over them: fakes, not mocks, so each unit test reads as a
small story of what the control plane did."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from typing import Any

from fmgateway.config.gateway_config import parse_config
from fmgateway.lifecycle.customization.ports import ControlPlaneError, Settings
from fmgateway.lifecycle.customization.tasks import Ports
from fmgateway.values.backends import CUSTOM_DEPLOYMENT
from tests.conftest import CONFIG_FILE
from tests.fakes import FakeStreamingInvoker, StaticSource

BUCKET = "fmgw-customization"
LOGS = "fmgw-logs"
EVAL_URI = f"s3://{BUCKET}/evaluation/eval.jsonl"
LOGS_URI = f"s3://{LOGS}/AWSLogs/"
ROLE = "arn:aws:iam::123456789012:role/fmgw-customization"
CUSTOM_MODEL = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-lite-v1:0:300k/abcdef012345"
SETTINGS = Settings(role_arn=ROLE, bucket=BUCKET, region="us-east-1", min_log_records=3)


class MemoryObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def keys(self, prefix: str) -> Iterable[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))

    def read(self, key: str) -> bytes:
        if key not in self.objects:
            raise KeyError(f"NoSuchKey: {key}")
        return self.objects[key]

    def write(self, key: str, data: bytes) -> None:
        self.objects[key] = data


class MemoryBuckets:
    def __init__(self) -> None:
        self.buckets: dict[str, MemoryObjects] = {}

    def bucket(self, name: str) -> MemoryObjects:
        return self.buckets.setdefault(name, MemoryObjects())

    def put(self, uri: str, data: str | bytes) -> None:
        bucket, _, key = uri[5:].partition("/")
        self.bucket(bucket).write(key, data.encode() if isinstance(data, str) else data)

    def json(self, uri: str) -> Any:
        bucket, _, key = uri[5:].partition("/")
        return json.loads(self.bucket(bucket).read(key))


class FakeControl:
    """Customization jobs: each poll takes the next of ``statuses`` (the last one stays)."""

    def __init__(
        self, statuses: Iterable[str] = ("InProgress", "Completed"), failure: str = "", refuse: ControlPlaneError | None = None
    ):
        self.statuses = list(statuses)
        self.failure, self.refuse = failure, refuse
        self.requests: list[dict] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.stopped: list[str] = []

    def create_job(self, request: dict[str, Any]) -> str:
        if self.refuse is not None:
            raise self.refuse
        self.requests.append(request)
        arn = f"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-lite-v1:0:300k/{len(self.jobs):012d}"
        self.jobs[arn] = {"polls": 0, "status": "InProgress"}
        return arn

    def job(self, arn: str) -> dict[str, Any]:
        job = self.jobs[arn]
        if job["status"] not in ("Stopping", "Stopped"):
            job["status"] = self.statuses[min(job["polls"], len(self.statuses) - 1)]
            job["polls"] += 1
        found: dict[str, Any] = {"status": job["status"]}
        if job["status"] == "Completed":
            found["outputModelArn"] = CUSTOM_MODEL
        if job["status"] == "Failed":
            found["failureMessage"] = self.failure
        return found

    def stop_job(self, arn: str) -> None:
        self.stopped.append(arn)
        self.jobs[arn]["status"] = "Stopped"


class FakeCapacity:
    """Provisioned Throughput and deployments: each status call takes the next of ``statuses``."""

    def __init__(self, statuses: Iterable[str] = ("Creating", "Active"), refuse: Exception | None = None, stuck: bool = False):
        self.statuses, self.refuse, self.stuck = list(statuses), refuse, stuck
        self.created: list[tuple[str, str, str, int, str | None]] = []
        self.deleted: list[str] = []
        self.live: dict[str, int] = {}

    def create(self, kind: str, name: str, model: str, units: int, commitment: str | None) -> str:
        if self.refuse is not None:
            raise self.refuse
        self.created.append((kind, name, model, units, commitment))
        kind_name = "custom-model-deployment" if kind == CUSTOM_DEPLOYMENT else "provisioned-model"
        arn = f"arn:aws:bedrock:us-east-1:123456789012:{kind_name}/{len(self.created):012x}"
        self.live[arn] = 0
        return arn

    def status(self, kind: str, arn: str) -> tuple[str, str]:
        polls = self.live[arn]
        self.live[arn] += 1
        status = self.statuses[min(polls, len(self.statuses) - 1)]
        if status == "Active" and kind != CUSTOM_DEPLOYMENT:
            status = "InService"
        return status, "simulated failure" if status == "Failed" else ""

    def delete(self, kind: str, arn: str) -> None:
        if self.stuck:
            raise RuntimeError("AccessDeniedException: not allowed")
        if arn not in self.live:
            raise RuntimeError(f"ResourceNotFoundException: {arn} not found")
        del self.live[arn]
        self.deleted.append(arn)


def log_record(request_id: str, metadata: dict[str, str], text: str = "What is 2+2?", error: str | None = None) -> dict:
    record: dict[str, Any] = {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": "2026-12-01T10:00:00Z",
        "accountId": "123456789012", "region": "us-east-1", "requestId": request_id, "operation": "Converse",
        "modelId": "us.amazon.nova-pro-v1:0", "requestMetadata": metadata,
    }  # fmt: skip
    if error:
        record["errorCode"] = error
    else:
        record["input"] = {"inputBodyJson": {"messages": [{"role": "user", "content": [{"text": text}]}]}, "inputTokenCount": 5}
        record["output"] = {"outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": "4"}]}}}}
    return record


def put_logs(buckets: MemoryBuckets, records: list[dict], name: str = "part-1") -> None:
    key = f"AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/12/01/10/{name}.json.gz"
    buckets.put(f"s3://{LOGS}/{key}", gzip.compress("\n".join(json.dumps(r) for r in records).encode()))


def eval_set(count: int = 3, expected: str = "ok") -> str:
    return "\n".join(json.dumps({"prompt": f"question {i}", "expected": expected}) for i in range(count))


def distillation_spec(**changes: Any) -> dict:
    spec = {
        "name": "support-distill",
        "type": "DISTILLATION",
        "baseModel": "nova-lite",
        "teacher": "nova-pro",
        "trainingData": {"invocationLogs": {"s3Uri": LOGS_URI, "requestMetadataFilters": {"equals": {"team": "support"}}}},
        "evaluation": {"s3Uri": EVAL_URI, "tier": "simple", "expectedRequestsPerHour": 10_000, "hourlyUsd": 0.2, "batchSize": 2},
        "polling": {"jobSeconds": 1, "jobMaxSeconds": 100, "capacitySeconds": 1, "capacityMaxSeconds": 50},
    }
    spec.update(changes)
    return spec


class World:
    """Every fake together, with the shipped configuration, the evaluation set and matching logs in place."""

    def __init__(self, config_doc: dict | None = None, clock=None):
        self.buckets = MemoryBuckets()
        self.control = FakeControl()
        self.capacity = FakeCapacity()
        self.invoker = FakeStreamingInvoker()
        self.config_doc = config_doc or json.loads(CONFIG_FILE.read_text())
        self.now = [1_000_000.0]
        self.slept: list[float] = []
        self.settings = SETTINGS
        self.buckets.put(EVAL_URI, eval_set())
        put_logs(self.buckets, [log_record(f"r{i}", {"team": "support"}) for i in range(4)])

    def tick(self, seconds: float) -> None:
        self.now[0] += seconds

    @property
    def ports(self) -> Ports:
        if getattr(self, "_parsed", (None,))[0] is not self.config_doc:
            self._parsed = (self.config_doc, parse_config(self.config_doc))
        return Ports(
            settings=lambda: self.settings,
            config=StaticSource(self._parsed[1]),
            buckets=self.buckets,
            control=lambda region: self.control,
            capacity=lambda region: self.capacity,
            invoker_for=lambda region: lambda candidate: self.invoker,
            clock=lambda: self.now[0],
            sleep=self.slept.append,
        )
