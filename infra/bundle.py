"""Stage the Lambda code without Docker: ``build/lambda/`` holds copies of the core package, the handlers and the
schemas, the layout the handlers expect at ``/var/task`` (``fmgateway/``, ``handlers/``, ``schemas/``).

Third-party dependencies are not bundled: boto3 comes with the Lambda runtime and Powertools (with its tracer and
validation extras) with its public layer.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from infra.settings import ROOT

BUILD_DIR = ROOT / "build"
LAMBDA_DIR = BUILD_DIR / "lambda"
SOURCES = {
    "fmgateway": ROOT / "lambdas" / "fmgateway",
    "handlers": ROOT / "lambdas" / "handlers",
    "schemas": ROOT / "schemas",
}
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".DS_Store")


@contextmanager
def build_lock() -> Iterator[None]:
    """Serialise staging between concurrent synths (tests, a CLI synth) sharing this checkout."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with (BUILD_DIR / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stage_lambda_bundle(target: Path = LAMBDA_DIR, generated: Mapping[str, str] | None = None) -> Path:
    """Wipe and recreate ``target`` with fresh copies of the sources; returns ``target``.

    Call it under ``build_lock()`` and keep the lock until CDK has copied the directory into its asset staging.
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name, source in SOURCES.items():
        if not source.is_dir():
            raise FileNotFoundError(f"Lambda bundle source {source} is missing")
        shutil.copytree(source, target / name, ignore=_IGNORE)
    for name, text in (generated or {}).items():  # build outputs, e.g. openapi.json (infra/openapi.py)
        (target / name).write_text(text)
    return target
