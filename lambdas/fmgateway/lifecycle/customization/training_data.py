"""The training data check of the validate step, before any job is started.

- An S3 dataset (training, and validation when given) is held to part 1's rules, the ones ``fmgw datasets check``
  runs (``fmgateway.lifecycle.datasets.check_dataset``: the format for the base model and type, Bedrock's documented
  per-record limits), plus the dataset-wide limits and minimum of ``dataset_checks``: InvalidDataset names the object,
  the line and the rule; TooFewRecords when under the documented minimum.
- Invocation logs (distillation): ``requestMetadataFilters`` within Bedrock's limits (botocore's shapes: exactly one
  of ``equals`` / ``notEquals`` with one pair, or ``andAll`` / ``orAll`` of 1-16 such filters; keys 1-256 and values
  0-256 characters of ``[a-zA-Z0-9\\s._:/=+$@-]``), then the records under the source that a job would use (answered
  calls with a prompt, an answer too with ``usePromptResponse``, whose ``requestMetadata`` passes the filters) are
  counted with the lifecycle's log reader: TooFewRecords under the minimum (``Settings.min_log_records``, Bedrock's 100).
"""

from __future__ import annotations

import re
from typing import Any

from fmgateway.lifecycle import dataset_rules, datasets
from fmgateway.lifecycle.customization.errors import InvalidDataset, InvalidSpec, NotCustomizable, TooFewRecords
from fmgateway.lifecycle.customization.ports import Buckets, jsonl_objects, split
from fmgateway.lifecycle.dataset_checks import dataset_rules_broken, too_few
from fmgateway.lifecycle.invocation_logs import LogRecord, read_records

FILTER_KINDS = ("equals", "notEquals", "andAll", "orAll")
BASE_KINDS = ("equals", "notEquals")
MAX_FILTERS = 16  # RequestMetadataFiltersList: 1-16
METADATA_KEY = re.compile(r"^[a-zA-Z0-9\s._:/=+$@-]{1,256}$")  # RequestMetadataMapKeyString
METADATA_VALUE = re.compile(r"^[a-zA-Z0-9\s._:/=+$@-]{0,256}$")  # RequestMetadataMapValueString
MAX_DISTILLATION_RECORDS = 15_000  # Bedrock uses at most this many prompts (dataset_rules [DIST]); counting stops there
DATASET_FORMATS = {
    "FINE_TUNING": "fine-tuning",
    "CONTINUED_PRE_TRAINING": "continued-pretraining",
    "DISTILLATION": "conversation",
}
SHOWN_REFUSALS = 5


def _pair(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidSpec(f"{where}: exactly one key-value pair (Bedrock's limit)")
    ((key, given),) = value.items()
    if not isinstance(key, str) or not METADATA_KEY.match(key):
        raise InvalidSpec(f"{where}: key {key!r}: 1-256 characters of letters, digits, spaces and ._:/=+$@-")
    if not isinstance(given, str) or not METADATA_VALUE.match(given):
        raise InvalidSpec(f"{where}.{key}: a string of 0-256 characters of letters, digits, spaces and ._:/=+$@-")
    return {key: given}


def _one(value: Any, where: str, kinds: tuple[str, ...]) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in kinds:
        raise InvalidSpec(f"{where}: exactly one of {', '.join(kinds)}")
    return next(iter(value.items()))


def check_filters(filters: Any, where: str = "requestMetadataFilters") -> dict[str, Any]:
    """The filters as botocore's RequestMetadataFilters takes them (InvalidSpec names what is wrong)."""
    kind, value = _one(filters, where, FILTER_KINDS)
    if kind in BASE_KINDS:
        return {kind: _pair(value, f"{where}.{kind}")}
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FILTERS:
        raise InvalidSpec(f"{where}.{kind}: a list of 1 to {MAX_FILTERS} filters (Bedrock's limit)")
    checked = []
    for index, base in enumerate(value):
        base_kind, pair = _one(base, f"{where}.{kind}[{index}]", BASE_KINDS)
        checked.append({base_kind: _pair(pair, f"{where}.{kind}[{index}].{base_kind}")})
    return {kind: checked}


def matches(filters: dict[str, Any] | None, metadata: dict[str, str]) -> bool:
    """A record's ``requestMetadata`` against checked filters (a key the record lacks equals no value)."""
    if not filters:
        return True
    kind, value = next(iter(filters.items()))
    if kind == "equals":
        return all(metadata.get(key) == wanted for key, wanted in value.items())
    if kind == "notEquals":
        return all(metadata.get(key) != unwanted for key, unwanted in value.items())
    results = (matches(base, metadata) for base in value)
    return all(results) if kind == "andAll" else any(results)


def count_log_records(buckets: Buckets, logs: dict[str, Any]) -> dict[str, Any]:
    """How many records under ``logs.s3Uri`` a distillation job would use (at most 15,000: Bedrock's cap)."""
    bucket, prefix = split(logs["s3Uri"])
    filters, with_answers = logs.get("requestMetadataFilters"), logs.get("usePromptResponse", False)
    matched = read = unreadable = 0
    try:
        for record in read_records(buckets.bucket(bucket), prefix):
            if not isinstance(record, LogRecord):
                unreadable += 1
                continue
            read += 1
            usable = record.error_code is None and record.input_body is not None
            if usable and (record.output_body is not None or not with_answers) and matches(filters, record.metadata):
                matched += 1
                if matched >= MAX_DISTILLATION_RECORDS:
                    break
    except Exception as exc:  # no bucket, access denied: the source cannot be read
        raise InvalidDataset(f"{logs['s3Uri']}: the invocation logs cannot be read ({type(exc).__name__}: {exc})") from None
    return {"source": logs["s3Uri"], "recordsRead": read, "matched": matched, "unreadableLines": unreadable,
            "capped": matched >= MAX_DISTILLATION_RECORDS}  # fmt: skip


def check_logs(buckets: Buckets, logs: dict[str, Any], minimum: int) -> dict[str, Any]:
    counted = count_log_records(buckets, logs)
    if counted["matched"] < minimum:
        filters = logs.get("requestMetadataFilters")
        which = f"match requestMetadataFilters {filters}" if filters else "are usable"
        raise TooFewRecords(
            f"{counted['matched']} invocation log records under {logs['s3Uri']} {which} (of {counted['recordsRead']} "
            f"read); a distillation job needs at least {minimum}"
        )
    return counted


def _lines(buckets: Buckets, uri: str) -> list[tuple[str, list[str]]]:
    return [(name, text.splitlines()) for name, text in jsonl_objects(buckets, uri)]


def check_datasets(buckets: Buckets, spec: dict[str, Any], base_model_id: str) -> dict[str, Any]:
    """The S3 training (and validation) data against part 1's rules for the base model and type."""
    dataset_format = DATASET_FORMATS[spec["type"]]
    try:
        model = dataset_rules.base_model(base_model_id)
        limits = dataset_rules.limits_for(model, dataset_format)
    except dataset_rules.UnknownBaseModel as exc:
        raise NotCustomizable(f"{spec['baseModel']}: {exc}") from None
    parts = {"training": _lines(buckets, spec["trainingData"]["s3Uri"])}
    if "validationData" in spec:
        parts["validation"] = _lines(buckets, spec["validationData"]["s3Uri"])
    refusals: list[datasets.Refusal] = []
    records: dict[str, list[str]] = {}
    for part, objects in parts.items():
        records[part] = []
        for name, lines in objects:
            refusals += datasets.check_dataset(name, lines, dataset_format, base_model_id)
            records[part] += [line for line in lines if line.strip()]
    if refusals:
        shown = "; ".join(str(refusal) for refusal in refusals[:SHOWN_REFUSALS])
        more = f" (and {len(refusals) - SHOWN_REFUSALS} more)" if len(refusals) > SHOWN_REFUSALS else ""
        raise InvalidDataset(f"{shown}{more}")
    broken = dataset_rules_broken(model, limits, records["training"], records.get("validation", []))
    if broken:
        raise InvalidDataset("; ".join(broken))
    total = len(records["training"]) + len(records.get("validation", []))
    if shortfall := too_few(model, limits, total):
        raise TooFewRecords(shortfall)
    return {"format": dataset_format, "objects": [name for objects in parts.values() for name, _ in objects],
            "records": {part: len(lines) for part, lines in records.items()}}  # fmt: skip


def check(buckets: Buckets, spec: dict[str, Any], base_model_id: str, minimum: int) -> dict[str, Any]:
    """The validate step's data check; a summary of what was read for the report."""
    if "invocationLogs" in spec["trainingData"]:
        return {"invocationLogs": check_logs(buckets, spec["trainingData"]["invocationLogs"], minimum)}
    return {"dataset": check_datasets(buckets, spec, base_model_id)}
