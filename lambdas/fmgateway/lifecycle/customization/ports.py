"""What the customization steps depend on, as small Protocols (boto3 adapters in ``fmgateway.aws.customization``,
in-memory fakes in the tests): the Bedrock customization control plane, S3 buckets, and the task's settings from its
environment. Capacity goes through part 3's ``fmgateway.lifecycle.provisioning.CapacityControl``.

Objects are named by ``s3://bucket/key`` URIs throughout; ``jsonl_objects`` reads one object or every ``.jsonl``
object under a prefix (as Bedrock and the simulator read a training data location)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Protocol

from fmgateway.lifecycle.customization.errors import InvalidDataset, Misconfigured

# botocore's S3Uri shape (bedrock 2023-04-20): what CreateModelCustomizationJob accepts for every location
S3_URI = re.compile(r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-zA-Z0-9]+(?:/[-!_*'().a-zA-Z0-9]+)*)?/?$")
ROLE_ENV, BUCKET_ENV, KMS_ENV = "FMGW_CUSTOMIZATION_ROLE_ARN", "FMGW_CUSTOMIZATION_BUCKET", "FMGW_CUSTOMIZATION_KMS_KEY_ARN"
SUBNETS_ENV, SECURITY_GROUPS_ENV = "FMGW_CUSTOMIZATION_SUBNET_IDS", "FMGW_CUSTOMIZATION_SECURITY_GROUP_IDS"
MIN_RECORDS_ENV = "FMGW_CUSTOMIZATION_MIN_LOG_RECORDS"
BEDROCK_MIN_DISTILLATION_RECORDS = 100  # Bedrock's minimum of prompts for a distillation job (the simulator's default)


class ControlPlaneError(Exception):
    """Bedrock refused a control-plane call: its error code (``ValidationException`` ...) and message."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class CustomizationControl(Protocol):
    """Bedrock's model customization jobs (one region). Failures raise ``ControlPlaneError``."""

    def create_job(self, request: dict[str, Any]) -> str:
        """CreateModelCustomizationJob with the request as botocore names its members; the job's ARN."""
        ...

    def job(self, arn: str) -> dict[str, Any]:
        """GetModelCustomizationJob's plain fields: ``status``, ``failureMessage``, ``outputModelArn``,
        ``outputModelName``, ``statusDetails`` (JSON values only: no datetimes)."""
        ...

    def stop_job(self, arn: str) -> None: ...


class Objects(Protocol):
    """One bucket: keys under a prefix in key order, an object's bytes, a write (``fmgateway.aws.log_objects.S3Objects``
    has this shape, and ``fmgateway.lifecycle.invocation_logs`` reads logs through it)."""

    def keys(self, prefix: str) -> Iterable[str]: ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes) -> None: ...


class Buckets(Protocol):
    def bucket(self, name: str) -> Objects: ...


def split(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an ``s3://`` URI."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ValueError(f"{uri!r}: expected s3://bucket[/key]")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def read(buckets: Buckets, uri: str) -> bytes:
    bucket, key = split(uri)
    return buckets.bucket(bucket).read(key)


def write(buckets: Buckets, uri: str, data: bytes) -> None:
    bucket, key = split(uri)
    buckets.bucket(bucket).write(key, data)


def jsonl_objects(buckets: Buckets, uri: str) -> list[tuple[str, str]]:
    """(URI, text) of the object ``uri`` names, else of every ``.jsonl`` object under it as a prefix, in key order;
    InvalidDataset when there is none or one cannot be read."""
    bucket, key = split(uri)
    objects = buckets.bucket(bucket)
    try:
        keys = list(objects.keys(key))
        chosen = [key] if key in keys else [k for k in keys if k.endswith(".jsonl")]
        if not chosen:
            raise InvalidDataset(f"{uri}: no such object, and no .jsonl object under it")
        return [(f"s3://{bucket}/{k}", objects.read(k).decode("utf-8")) for k in chosen]
    except InvalidDataset:
        raise
    except UnicodeDecodeError as exc:
        raise InvalidDataset(f"{uri}: not UTF-8 text ({exc})") from None
    except Exception as exc:  # a missing bucket, access denied: the location cannot be read
        raise InvalidDataset(f"{uri}: cannot be read ({type(exc).__name__}: {exc})") from None


class Settings(NamedTuple):
    """The task's environment (set by CDK, and by the local harness)."""

    role_arn: str
    bucket: str
    region: str
    kms_key_arn: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    min_log_records: int = BEDROCK_MIN_DISTILLATION_RECORDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in (ROLE_ENV, BUCKET_ENV) if not env.get(name)]
        if missing:
            raise Misconfigured(f"the customization task needs {' and '.join(missing)} (set by the stack)")
        region = env.get("FMGW_BEDROCK_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        try:
            minimum = int(env.get(MIN_RECORDS_ENV) or BEDROCK_MIN_DISTILLATION_RECORDS)
        except ValueError:
            raise Misconfigured(f"{MIN_RECORDS_ENV}: an integer") from None
        return cls(
            role_arn=env[ROLE_ENV],
            bucket=env[BUCKET_ENV],
            region=region,
            kms_key_arn=env.get(KMS_ENV) or None,
            subnet_ids=_listed(env.get(SUBNETS_ENV)),
            security_group_ids=_listed(env.get(SECURITY_GROUPS_ENV)),
            min_log_records=minimum,
        )


def _listed(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())
