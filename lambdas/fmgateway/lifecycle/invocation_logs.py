"""Bedrock model invocation logs as Bedrock delivers them to S3, read into records (issue 21).

The format (``tests/fixtures/invocation_logs/README.md`` names a source for each point):

- objects ``[<prefix>/]AWSLogs/<account>/BedrockModelInvocationLogs/<region>/<YYYY>/<MM>/<DD>/<HH>/<name>.json.gz``,
  each gzipped JSON lines, one record per line;
- a record: ``schemaType`` ModelInvocationLog, ``schemaVersion``, ``timestamp``, ``accountId``, ``identity``,
  ``region``, ``requestId``, ``operation``, ``modelId``, ``requestMetadata`` (absent when the call sent none),
  ``input`` {``inputContentType``, ``inputBodyJson``, ``inputTokenCount``}, ``output`` {``outputContentType``,
  ``outputBodyJson``, ``outputTokenCount``}, ``inferenceRegion`` on a call served in another region; a failed call
  has ``errorCode`` and neither body;
- a body too large to sit in the record is delivered as its own object under the hour's ``data/`` folder, and the
  record holds ``inputBodyS3Path`` / ``outputBodyS3Path`` (an ``s3://`` URI) instead of the body;
- ConverseStream's output is the assembled Converse answer; InvokeModelWithResponseStream's is the list of its chunks;
- the permission-check object Bedrock writes when the setting is made (``amazon-bedrock-logs-permission-check``) is
  not a log.

Storage is a port (``LogObjects``): a local folder here (``FolderObjects``), S3 in ``fmgateway.aws.log_objects``.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

LOGS_FOLDER = "BedrockModelInvocationLogs"
PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
SCHEMA_TYPE = "ModelInvocationLog"
GZIP_MAGIC = b"\x1f\x8b"


class LogObjects(Protocol):
    """Where the logs are: keys under a prefix, in order, and an object's bytes."""

    def keys(self, prefix: str) -> Iterable[str]: ...

    def read(self, key: str) -> bytes: ...


class FolderObjects:
    """A local folder standing for the bucket: ``<folder>/<key>``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix if prefix else self.root
        if base.is_file():
            yield prefix
            return
        for path in sorted(base.rglob("*")):
            if path.is_file():
                yield path.relative_to(self.root).as_posix()

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def folder_source(path: str | os.PathLike) -> tuple[FolderObjects, str]:
    """A local folder with the logs' layout, as (objects, prefix): the folder above ``AWSLogs`` stands for the bucket,
    so a record's ``data/`` pointer resolves inside it; a folder without ``AWSLogs`` in its path is the bucket itself."""
    resolved = Path(path).resolve()
    parts = resolved.parts
    if "AWSLogs" in parts:
        index = parts.index("AWSLogs")
        root = Path(*parts[:index])
        return FolderObjects(root), "/".join(parts[index:])
    return FolderObjects(resolved), ""


class LogRecord(NamedTuple):
    """One invocation as the log has it; ``source`` and ``line`` say where it was read."""

    source: str
    line: int
    request_id: str
    timestamp: str
    operation: str
    model_id: str
    metadata: dict[str, str]
    input_body: Any
    output_body: Any
    input_tokens: int | None
    output_tokens: int | None
    error_code: str | None

    @property
    def succeeded(self) -> bool:
        return self.error_code is None and self.output_body is not None


class Unreadable(NamedTuple):
    """A line or object that is not a record (the reason says why), kept so that nothing is dropped without a word."""

    source: str
    line: int
    reason: str


def is_log_object(key: str) -> bool:
    """A log object: a ``.json.gz`` (or ``.json``) file, neither a large body under ``data/`` nor the permission check."""
    name = key.rsplit("/", 1)[-1]
    if PERMISSION_CHECK in name or "/data/" in f"/{key}":
        return False
    return name.endswith((".json.gz", ".json"))


def unpacked(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data


def key_of(uri: str) -> str:
    """The object key of an ``s3://bucket/key`` URI (the bucket is the one being read)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3:// object URI: {uri!r}")
    return uri[5:].split("/", 1)[1]


def _body(objects: LogObjects, part: dict[str, Any], name: str) -> Any:
    """A record's input or output body: inline, or read from the ``data/`` object its ``...S3Path`` names."""
    if f"{name}BodyJson" in part:
        return part[f"{name}BodyJson"]
    pointer = part.get(f"{name}BodyS3Path")
    if pointer is None:
        return None
    return json.loads(unpacked(objects.read(key_of(pointer))))


def _tokens(part: dict[str, Any], name: str) -> int | None:
    value = part.get(f"{name}TokenCount")
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_record(objects: LogObjects, raw: dict[str, Any], source: str, line: int) -> LogRecord:
    """A record from its JSON; ValueError (or KeyError) when it is not a ModelInvocationLog record."""
    if raw.get("schemaType") != SCHEMA_TYPE:
        raise ValueError(f"schemaType is {raw.get('schemaType')!r}, not {SCHEMA_TYPE}")
    given, produced = raw.get("input") or {}, raw.get("output") or {}
    metadata = raw.get("requestMetadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError("requestMetadata is not an object")
    return LogRecord(
        source=source,
        line=line,
        request_id=str(raw["requestId"]),
        timestamp=str(raw["timestamp"]),
        operation=str(raw["operation"]),
        model_id=str(raw["modelId"]),
        metadata={str(key): str(value) for key, value in metadata.items()},
        input_body=_body(objects, given, "input"),
        output_body=_body(objects, produced, "output"),
        input_tokens=_tokens(given, "input"),
        output_tokens=_tokens(produced, "output"),
        error_code=raw.get("errorCode"),
    )


def read_records(
    objects: LogObjects, prefix: str = "", on_object: Callable[[str], None] | None = None
) -> Iterator[LogRecord | Unreadable]:
    """Every record of every log object under ``prefix`` in key order (``on_object``: called per object, for a
    progress bar), and what could not be read as ``Unreadable``."""
    for key in objects.keys(prefix):
        if not is_log_object(key):
            continue
        if on_object is not None:
            on_object(key)
        try:
            text = unpacked(objects.read(key)).decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            yield Unreadable(key, 0, f"unreadable object: {exc}")
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                if not isinstance(raw, dict):
                    raise ValueError("not a JSON object")
                yield parse_record(objects, raw, key, number)
            except (ValueError, KeyError, OSError) as exc:
                yield Unreadable(key, number, f"not an invocation log record: {exc}")
