"""Stage the Lambda code without Docker: ``build/lambda/`` holds copies of the core package, the handlers and the
schemas, the layout the handlers expect at ``/var/task`` (``fmgateway/``, ``handlers/``, ``schemas/``).

Third-party dependencies are not bundled: boto3 comes with the Lambda runtime and Powertools (with its tracer and
validation extras) with its public layer. The one exception is the streaming function (``build/lambda-streaming/``): the
same code plus its server (``requirements-streaming.txt``), installed as wheels for the Lambda runtime's Python and
architecture without Docker, and ``run.sh``, the script the Lambda Web Adapter starts.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
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

STREAMING_DIR = BUILD_DIR / "lambda-streaming"
STREAMING_REQUIREMENTS = ROOT / "requirements-streaming.txt"
STREAMING_SCRIPT = ROOT / "lambdas" / "run-streaming.sh"
# The Lambda runtime the wheels are chosen for: python3.13 on arm64 (infra/constructs/functions.py RUNTIME)
WHEEL_PYTHON_VERSION = "3.13"
WHEEL_PLATFORM = "manylinux2014_aarch64"


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


def lambda_wheels(requirements: Path = STREAMING_REQUIREMENTS) -> Path:
    """``requirements`` installed for the Lambda runtime (``WHEEL_PYTHON_VERSION`` on ``WHEEL_PLATFORM``) from wheels
    only, into a folder kept per content of the file: later synths reuse it without reaching the package index."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    target = BUILD_DIR / f"wheels-{WHEEL_PLATFORM}-py{WHEEL_PYTHON_VERSION}-{digest}"
    if (target / ".complete").exists():
        return target
    if target.exists():
        shutil.rmtree(target)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", WHEEL_PLATFORM, "--only-binary=:all:", "--python-version", WHEEL_PYTHON_VERSION,
        "--implementation", "cp", "--no-deps", "--target", str(target), "-r", str(requirements),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    (target / ".complete").touch()
    return target


def stage_streaming_bundle(target: Path = STREAMING_DIR) -> Path:
    """The shared bundle plus the streaming function's packages and ``run.sh``; same locking as ``stage_lambda_bundle``."""
    stage_lambda_bundle(target)
    wheels = lambda_wheels()
    shutil.copytree(wheels, target, ignore=shutil.ignore_patterns(".complete", "bin", "__pycache__"), dirs_exist_ok=True)
    shutil.copy2(STREAMING_SCRIPT, target / "run.sh")
    (target / "run.sh").chmod(0o755)
    return target
