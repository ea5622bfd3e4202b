"""What a simulated model customization job reads: its training data from S3, through boto3, as Bedrock would.

- FINE_TUNING: ``trainingDataConfig.s3Uri`` (a ``.jsonl`` object, or a prefix whose ``.jsonl`` objects are read in key
  order) of ``{"prompt", "completion"}`` records or conversation records (``bedrock-conversation-2024``: optional
  ``schemaVersion``, ``system``, ``messages`` alternating user / assistant from a user turn to an assistant turn; contents
  a string or text blocks). Each user turn and the assistant turn after it is a learned pair.
- CONTINUED_PRE_TRAINING: the same location, ``{"input": "<text>"}`` records.
- DISTILLATION: prompts from ``trainingDataConfig.s3Uri`` (conversation records, ending with a user or an assistant
  turn) or from ``trainingDataConfig.invocationLogsConfig``: the invocation log records under
  ``invocationLogSource.s3Uri`` (read with ``fmgateway.lifecycle.invocation_logs``) that have a prompt (and an answer with
  ``usePromptResponse``) and whose ``requestMetadata`` passes ``requestMetadataFilters`` (``equals`` / ``notEquals`` one
  pair, ``andAll`` / ``orAll`` of up to 16 such filters); fewer than ``customization.minimumRecords`` fail the job, more
  than 15,000 are cut to the first 15,000 (key order), as Bedrock does.

A line that is not such a record, an empty data set or an unreadable location is the job's ``failureMessage``, naming
the object and the line. The result names exactly what was used: the objects, the record count and, for invocation
logs, each record's ``fmgw-request-id`` (else its ``requestId``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fmgateway.aws.log_objects import S3Objects, split_uri
from fmgateway.lifecycle.invocation_logs import LogRecord, read_records
from local.simulator_errors import SimError

MAX_DISTILLATION_RECORDS = 15_000  # Bedrock's cap on prompts or prompt-response pairs of a distillation job
CONVERSATION_SCHEMA = "bedrock-conversation-2024"
GATEWAY_REQUEST_ID = "fmgw-request-id"
FILTER_KINDS = ("equals", "notEquals", "andAll", "orAll")
S3Client = Callable[[], Any]  # a boto3 S3 client, made when the job reads


class BadRecord(ValueError):
    """A training record that is not in the job's format."""


@dataclass
class TrainingData:
    """What a job read and used; ``failure`` is the job's failureMessage when the data cannot train it."""

    source: str  # the s3:// location read
    kind: str  # "s3" (training data objects) or "invocationLogs"
    objects: list[str] = field(default_factory=list)  # s3:// objects read, in order
    matched: int = 0  # records that qualify (invocation logs: that pass the filters)
    records: int = 0  # records used (matched, at most 15,000 for distillation)
    request_ids: list[str] = field(default_factory=list)  # invocation logs: of each record used, in order
    unreadable: int = 0  # invocation log lines that are not records (skipped)
    pairs: dict[str, str] = field(default_factory=dict)  # fine-tuning: prompt (last user text) -> completion
    failure: str | None = None

    def describe(self) -> dict:
        """The ``trainingDataUsed`` member of the job's description and of ``GET /_sim/customization``."""
        described: dict[str, Any] = {"source": self.source, "kind": self.kind, "objects": self.objects}
        described |= {"matched": self.matched, "records": self.records, "capped": self.records < self.matched}
        if self.kind == "invocationLogs":
            described |= {"requestIds": self.request_ids, "unreadableLines": self.unreadable}
        return described


# ---- request checks (synchronous: a ValidationException of CreateModelCustomizationJob)


def check_filters(filters: Any) -> None:
    """``requestMetadataFilters`` as botocore's shapes define them: exactly one of equals, notEquals (one pair each),
    andAll, orAll (1-16 filters of one equals or notEquals each)."""
    if filters is None:
        return
    if not isinstance(filters, dict) or len(filters) != 1 or next(iter(filters)) not in FILTER_KINDS:
        raise SimError("ValidationException", f"requestMetadataFilters must have exactly one of {', '.join(FILTER_KINDS)}.")
    kind, value = next(iter(filters.items()))
    if kind in ("equals", "notEquals"):
        _check_pair(value, f"requestMetadataFilters.{kind}")
        return
    if not isinstance(value, list) or not 1 <= len(value) <= 16:
        raise SimError("ValidationException", f"requestMetadataFilters.{kind} must hold 1 to 16 filters.")
    for i, base in enumerate(value):
        where = f"requestMetadataFilters.{kind}.{i}"
        if not isinstance(base, dict) or len(base) != 1 or next(iter(base)) not in ("equals", "notEquals"):
            raise SimError("ValidationException", f"{where} must have exactly one of equals, notEquals.")
        _check_pair(next(iter(base.values())), f"{where}.{next(iter(base))}")


def _check_pair(pair: Any, where: str) -> None:
    if not isinstance(pair, dict) or len(pair) != 1 or not all(isinstance(x, str) for x in (*pair, *pair.values())):
        raise SimError("ValidationException", f"{where} must be exactly one key-value pair of strings.")


def passes(filters: dict | None, metadata: dict[str, str]) -> bool:
    """A record's ``requestMetadata`` against the filters (a key it lacks is not equal to any value)."""
    if not filters:
        return True
    kind, value = next(iter(filters.items()))
    if kind == "equals":
        return all(metadata.get(key) == wanted for key, wanted in value.items())
    if kind == "notEquals":
        return all(metadata.get(key) != unwanted for key, unwanted in value.items())
    results = (passes(base, metadata) for base in value)
    return all(results) if kind == "andAll" else any(results)


# ---- reading


def read(customization_type: str, config: dict, s3: S3Client, minimum: int) -> TrainingData:
    """The job's training data (``config`` is its checked ``trainingDataConfig``); never raises: a problem is the
    result's ``failure``."""
    logs = config.get("invocationLogsConfig")
    source = logs["invocationLogSource"]["s3Uri"] if logs else config["s3Uri"]
    data = TrainingData(source, "invocationLogs" if logs else "s3")
    try:
        if logs:
            _read_logs(data, s3(), logs)
        else:
            _read_records(data, s3(), customization_type)
    except BadRecord as exc:
        data.failure = str(exc)
        return data
    except Exception as exc:  # S3 errors of every kind (no bucket, no credentials, no endpoint): the job fails
        data.failure = f"Could not read the training data at {source}: {exc}"
        return data
    distilled = customization_type == "DISTILLATION"
    data.records = min(data.matched, MAX_DISTILLATION_RECORDS) if distilled else data.matched
    del data.request_ids[data.records :]
    if distilled and data.matched < minimum:
        what = "invocation log records match the requestMetadataFilters" if logs else "prompts were found"
        data.failure = (
            f"Only {data.matched} {what} at {source}; a distillation job needs at least {minimum} (customization.minimumRecords)."
        )
    elif data.matched == 0:
        data.failure = f"No training records at {source}."
    return data


def _read_logs(data: TrainingData, client: Any, logs: dict) -> None:
    bucket, prefix = split_uri(data.source)
    filters, with_answers = logs.get("requestMetadataFilters"), bool(logs.get("usePromptResponse"))
    seen_objects: set[str] = set()
    for record in read_records(S3Objects(client, bucket), prefix):
        if not isinstance(record, LogRecord):
            data.unreadable += 1
            continue
        if record.source not in seen_objects:
            seen_objects.add(record.source)
            data.objects.append(f"s3://{bucket}/{record.source}")
        usable = record.input_body is not None and (record.output_body is not None or not with_answers)
        if usable and record.error_code is None and passes(filters, record.metadata):
            data.matched += 1
            data.request_ids.append(record.metadata.get(GATEWAY_REQUEST_ID) or record.request_id)


def _objects(client: Any, uri: str) -> Iterator[tuple[str, bytes]]:
    """(s3 URI, bytes) of the object the URI names, else of every ``.jsonl`` object under it as a prefix."""
    bucket, key = split_uri(uri)
    if key and not key.endswith("/"):
        try:
            yield uri, client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return
        except client.exceptions.NoSuchKey:
            pass
    found = False
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for entry in page.get("Contents", []):
            if entry["Key"].endswith(".jsonl"):
                found = True
                yield f"s3://{bucket}/{entry['Key']}", client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    if not found:
        raise BadRecord(f"No .jsonl object at {uri}.")


def _read_records(data: TrainingData, client: Any, customization_type: str) -> None:
    for uri, raw in _objects(client, data.source):
        data.objects.append(uri)
        for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise BadRecord("not a JSON object")
                data.pairs.update(parse_record(customization_type, record))
            except (ValueError, BadRecord) as exc:
                raise BadRecord(f"{uri} line {number}: {_reason(exc)}") from exc
            data.matched += 1


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, BadRecord) else f"not JSON ({exc})"


def parse_record(customization_type: str, record: dict) -> dict[str, str]:
    """A record's learned pairs (prompt -> completion; empty for continued pre-training and distillation prompts);
    BadRecord when it is not a record of the job's type."""
    if customization_type == "CONTINUED_PRE_TRAINING":
        if set(record) != {"input"} or not isinstance(record["input"], str) or not record["input"].strip():
            raise BadRecord('a continued pre-training record is {"input": "<non-empty text>"}')
        return {}
    if "messages" in record:
        return _conversation(record, needs_answer=customization_type == "FINE_TUNING")
    if customization_type == "FINE_TUNING" and set(record) == {"prompt", "completion"}:
        prompt, completion = record["prompt"], record["completion"]
        if isinstance(prompt, str) and isinstance(completion, str) and prompt.strip():
            return {prompt.strip(): completion}
    if customization_type == "FINE_TUNING":
        raise BadRecord(f'expected {{"prompt", "completion"}} strings or a {CONVERSATION_SCHEMA} record')
    raise BadRecord(f"expected a {CONVERSATION_SCHEMA} record (schemaVersion, system, messages)")


def _conversation(record: dict, needs_answer: bool) -> dict[str, str]:
    unknown = set(record) - {"schemaVersion", "system", "messages"}
    if unknown:
        raise BadRecord(f"unknown fields {sorted(unknown)}")
    if record.get("schemaVersion", CONVERSATION_SCHEMA) != CONVERSATION_SCHEMA:
        raise BadRecord(f"schemaVersion must be {CONVERSATION_SCHEMA}")
    system = record.get("system", [])
    if not isinstance(system, str) and not (isinstance(system, list) and all(_is_text_block(b) for b in system)):
        raise BadRecord("system must be text or a list of text blocks")
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise BadRecord("messages must be a non-empty list")
    texts = []
    for i, message in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if not isinstance(message, dict) or message.get("role") != expected:
            raise BadRecord(f"messages.{i}.role must be {expected} (turns alternate, starting with user)")
        texts.append(_text(message.get("content"), f"messages.{i}.content"))
    if needs_answer and len(messages) % 2:
        raise BadRecord("the last message must be the assistant's answer")
    return {texts[i].strip(): texts[i + 1] for i in range(0, len(texts) - 1, 2)} if needs_answer else {}


def _is_text_block(block: Any) -> bool:
    return isinstance(block, dict) and set(block) == {"text"} and isinstance(block["text"], str)


def _text(content: Any, where: str) -> str:
    """A turn's text, as the simulator keys a prompt (its text blocks joined by newlines)."""
    if isinstance(content, str) and content.strip():
        return content
    if isinstance(content, list) and content and all(_is_text_block(block) for block in content):
        return "\n".join(block["text"] for block in content)
    raise BadRecord(f"{where} must be non-empty text or a list of text blocks")
