"""A run's spec file: read, checked for the obvious mistakes before anything is uploaded or started (the workflow's
``Validate`` step checks it again, with the catalog and the data), and its local files uploaded to the customization
bucket.

The fields are the execution input's (``{"spec": ...}``, README "Customization"). A dataset or evaluation set may be a
local file (``file:path`` or a plain path, relative to the spec file's folder): it is uploaded to
``datasets/<run>/training/``, ``datasets/<run>/validation/`` or ``evaluation/<run>/`` and the spec then names its
``s3://`` URI. Invocation logs must already be in S3 (Bedrock reads them there).
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmgateway.lifecycle.evaluation import CaseError, load_cases

# where a local file goes in the customization bucket, by the spec field naming it
UPLOAD_PREFIXES = {
    "trainingData": "datasets/{run}/training/",
    "validationData": "datasets/{run}/validation/",
    "evaluation": "evaluation/{run}/",
}
_PLACEHOLDER = "s3://fmgw-local-file/{field}.jsonl"  # stands in for a local file while the shape is checked


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
    stem = re.sub(r"[^a-zA-Z0-9]+", "-", path.stem).strip("-")[: 40 - len(stamp) - 1].strip("-") or "run"
    return f"{stem}-{stamp}"


def check(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's shape, field by field, as the workflow's Validate step checks it (the same code:
    ``fmgateway.lifecycle.customization.spec.parse``), local files standing in for S3 URIs; returns it with the
    workflow's defaults filled in. SpecError names the field. The catalog's rules (which base models take the type,
    teachers, regions, prices) and the data itself are checked by the workflow."""
    from fmgateway.lifecycle.customization.errors import InvalidSpec
    from fmgateway.lifecycle.customization.spec import parse

    shaped = copy.deepcopy(spec)
    for field in UPLOAD_PREFIXES:
        part = shaped.get(field)
        if isinstance(part, dict) and isinstance(part.get("s3Uri"), str) and not part["s3Uri"].startswith("s3://"):
            part["s3Uri"] = _PLACEHOLDER.format(field=field)
    try:
        return parse(shaped)
    except InvalidSpec as exc:
        raise SpecError(str(exc).removeprefix("spec.")) from None


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
