"""A run's spec file: read, checked for the obvious mistakes before anything is uploaded or started (the workflow's
``Validate`` step checks it again, with the catalog and the data), and its local files uploaded to the customization
bucket.

The fields are the execution input's (``{"spec": ...}``, README "Customization"). A dataset or evaluation set may be a
local file (``file:path`` or a plain path, relative to the spec file's folder): it is uploaded to
``datasets/<run>/training/``, ``datasets/<run>/validation/`` or ``evaluation/<run>/`` and the spec then names its
``s3://`` URI. Invocation logs must already be in S3 (Bedrock reads them there).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmgateway.lifecycle.evaluation import CaseError, load_cases

TYPES = ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION")
FIELDS = frozenset(
    {"name", "type", "baseModel", "teacher", "region", "trainingData", "validationData", "hyperParameters"}
    | {"evaluation", "polling"}
)
EVALUATION_FIELDS = frozenset({"s3Uri", "tier", "margin", "expectedRequestsPerHour", "batchSize", "maxTokens"})
POLLING_FIELDS = frozenset({"jobSeconds", "jobMaxSeconds", "capacitySeconds", "capacityMaxSeconds"})
LOGS_FIELDS = frozenset({"s3Uri", "requestMetadataFilters", "usePromptResponse"})
NAME = re.compile(r"^[a-zA-Z0-9-]{1,40}$")
# Converse requestMetadata's characters (keys 1-256, values 0-256), which the log filters match on
METADATA_TEXT = re.compile(r"^[a-zA-Z0-9\s:_@$#=/+,.-]*$")
MAX_FILTERS = 16
# where a local file goes in the customization bucket, by the spec field naming it
UPLOAD_PREFIXES = {
    "trainingData": "datasets/{run}/training/",
    "validationData": "datasets/{run}/validation/",
    "evaluation": "evaluation/{run}/",
}


class SpecError(ValueError):
    """A spec the workflow would refuse (the message names the field)."""


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: {exc.strerror}") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: the spec must be a JSON object")
    return spec


def default_name(path: Path, now: float | None = None) -> str:
    """``<file stem>-<UTC yyyymmddHHMMSS>``: a new name per start (executions, jobs and custom models need new names)."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if now is None else now))
    stem = re.sub(r"[^a-zA-Z0-9-]+", "-", path.stem).strip("-")[: 40 - len(stamp) - 1] or "run"
    return f"{stem}-{stamp}"


def _object(spec: dict[str, Any], field: str, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    value = spec.get(field)
    if not isinstance(value, dict):
        raise SpecError(f"{field}: an object")
    if allowed is not None and (unknown := sorted(set(value) - allowed)):
        raise SpecError(f"{field}.{unknown[0]}: unknown field (fields: {', '.join(sorted(allowed))})")
    return value


def _number(value: Any, where: str, low: float, high: float | None = None, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise SpecError(f"{where}: {'an integer' if integer else 'a number'} {bound}")


def _pair(value: Any, where: str) -> None:
    if not isinstance(value, dict) or len(value) != 1:
        raise SpecError(f"{where}: exactly one key-value pair")
    ((key, text),) = value.items()
    if not isinstance(key, str) or not 1 <= len(key) <= 256 or not METADATA_TEXT.match(key):
        raise SpecError(f"{where}: key {key!r}: 1-256 characters of [a-zA-Z0-9 :_@$#=/+,.-]")
    if not isinstance(text, str) or len(text) > 256 or not METADATA_TEXT.match(text):
        raise SpecError(f"{where}.{key}: a string of 0-256 characters of [a-zA-Z0-9 :_@$#=/+,.-]")


def _filters(value: Any, where: str) -> None:
    """Bedrock's RequestMetadataFilters: one of equals / notEquals (one pair) or andAll / orAll (1-16 of those)."""
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("equals", "notEquals", "andAll", "orAll"):
        raise SpecError(f"{where}: exactly one of equals, notEquals, andAll, orAll")
    ((kind, inner),) = value.items()
    if kind in ("equals", "notEquals"):
        _pair(inner, f"{where}.{kind}")
        return
    if not isinstance(inner, list) or not 1 <= len(inner) <= MAX_FILTERS:
        raise SpecError(f"{where}.{kind}: a list of 1 to {MAX_FILTERS} filters")
    for index, item in enumerate(inner):
        at = f"{where}.{kind}[{index}]"
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in ("equals", "notEquals"):
            raise SpecError(f"{at}: exactly one of equals, notEquals")
        ((inner_kind, pair),) = item.items()
        _pair(pair, f"{at}.{inner_kind}")


def _uri(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: an s3:// URI or a local file")


def check(spec: dict[str, Any]) -> None:
    """The mistakes visible without AWS: fields, types, the type's rules, filters and numbers; SpecError names the
    field. The catalog's rules (which base models take the type, teachers, regions) are the workflow's."""
    if unknown := sorted(set(spec) - FIELDS):
        raise SpecError(f"{unknown[0]}: unknown field (fields: {', '.join(sorted(FIELDS))})")
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise SpecError("name: 1-40 characters of letters, digits and hyphens (or leave it out: --name, or one is made)")
    kind = spec.get("type")
    if kind not in TYPES:
        raise SpecError(f"type: one of {', '.join(TYPES)} (got {kind!r})")
    if not isinstance(spec.get("baseModel"), str) or not spec["baseModel"]:
        raise SpecError("baseModel: the catalog alias of the model to customize (the student, for DISTILLATION)")
    if kind == "DISTILLATION":
        if not isinstance(spec.get("teacher"), str) or not spec["teacher"]:
            raise SpecError("teacher: DISTILLATION needs the catalog alias of its teacher model")
    elif "teacher" in spec:
        raise SpecError(f"teacher: only DISTILLATION has a teacher, not {kind}")
    if "region" in spec and (not isinstance(spec["region"], str) or not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", spec["region"])):
        raise SpecError("region: an AWS region name such as us-east-1")
    data = _object(spec, "trainingData", frozenset({"s3Uri", "invocationLogs"}))
    if len(data) != 1:
        raise SpecError("trainingData: exactly one of s3Uri (a dataset) or invocationLogs")
    if "invocationLogs" in data:
        if kind != "DISTILLATION":
            raise SpecError(f"trainingData.invocationLogs: only DISTILLATION reads invocation logs, not {kind}")
        logs = _object(data, "invocationLogs", LOGS_FIELDS)
        if not isinstance(logs.get("s3Uri"), str) or not logs["s3Uri"].startswith("s3://"):
            raise SpecError("trainingData.invocationLogs.s3Uri: the s3:// prefix of the logs (Bedrock reads them in S3)")
        if "requestMetadataFilters" in logs:
            _filters(logs["requestMetadataFilters"], "trainingData.invocationLogs.requestMetadataFilters")
        if "usePromptResponse" in logs and not isinstance(logs["usePromptResponse"], bool):
            raise SpecError("trainingData.invocationLogs.usePromptResponse: true or false")
    else:
        _uri(data["s3Uri"], "trainingData.s3Uri")
    if "validationData" in spec:
        _uri(_object(spec, "validationData", frozenset({"s3Uri"})).get("s3Uri"), "validationData.s3Uri")
    if "hyperParameters" in spec:
        hyper = _object(spec, "hyperParameters")
        for key, value in hyper.items():
            if not isinstance(value, str):
                raise SpecError(f'hyperParameters.{key}: a string, as Bedrock takes them ("{value}")')
    evaluation = _object(spec, "evaluation", EVALUATION_FIELDS)
    _uri(evaluation.get("s3Uri"), "evaluation.s3Uri")
    if not isinstance(evaluation.get("tier"), str) or not evaluation["tier"]:
        raise SpecError("evaluation.tier: the tier whose current model is the baseline (simple, medium, complex)")
    if "margin" in evaluation:
        _number(evaluation["margin"], "evaluation.margin", 0, 1)
    if "expectedRequestsPerHour" in evaluation:
        _number(evaluation["expectedRequestsPerHour"], "evaluation.expectedRequestsPerHour", 1)
    for field in ("batchSize", "maxTokens"):
        if field in evaluation:
            _number(evaluation[field], f"evaluation.{field}", 1, integer=True)
    if "polling" in spec:
        for field, value in _object(spec, "polling", POLLING_FIELDS).items():
            _number(value, f"polling.{field}", 1, integer=True)


def local_files(spec: dict[str, Any], base: Path) -> dict[str, Path]:
    """The spec fields (trainingData, validationData, evaluation) that name a local file: field -> path. A missing
    file is a SpecError; an evaluation set is parsed (its first bad line named)."""
    found: dict[str, Path] = {}
    for field in UPLOAD_PREFIXES:
        uri = (spec.get(field) or {}).get("s3Uri")
        if not isinstance(uri, str) or uri.startswith("s3://"):
            continue
        path = Path(uri.removeprefix("file://").removeprefix("file:")).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise SpecError(f"{field}.s3Uri: {uri}: no such file ({path})")
        if path.stat().st_size == 0:
            raise SpecError(f"{field}.s3Uri: {path} is empty")
        found[field] = path
    if "evaluation" in found:
        try:
            load_cases(found["evaluation"].read_text().splitlines())
        except CaseError as exc:
            raise SpecError(f"evaluation.s3Uri: {found['evaluation']}: {exc}") from None
    return found


def upload(
    spec: dict[str, Any], files: dict[str, Path], bucket: str, put: Callable[[str, str, bytes], None]
) -> list[tuple[Path, str]]:
    """Upload each local file with ``put(bucket, key, data)`` and point the spec at it; returns (file, s3 URI) pairs."""
    done = []
    for field, path in files.items():
        key = UPLOAD_PREFIXES[field].format(run=spec["name"]) + path.name
        put(bucket, key, path.read_bytes())
        uri = f"s3://{bucket}/{key}"
        spec[field] = {**spec[field], "s3Uri": uri}
        done.append((path, uri))
    return done
