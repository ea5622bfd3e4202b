"""The import-linter contracts of pyproject.toml: kept by the code as it is, and broken by a deliberate violation each.

Each violation is written into a copy of the source tree (never the checkout), then ``lint-imports`` runs on the copy
with only the copy importable: a contract that did not see the violation would leave its check green and fail here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("lambdas", "fmgw", "local", "infra", "bench", "router_training")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract["name"] for contract in config["contracts"]}


def lint_imports(tree: Path, *contract_ids: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'lambdas'}{os.pathsep}{tree}"}
    command = [str(LINT_IMPORTS), str(tree / "pyproject.toml"), "--no-cache"]
    for contract_id in contract_ids:
        command += ["--contract", contract_id]
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the Python sources and pyproject.toml."""
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.json"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def write(tree: Path, path: str, text: str) -> None:
    (tree / path).write_text(text)


def test_every_contract_is_kept(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in contracts().values():
        assert " ".join(name.split()) in " ".join(result.stdout.split())
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


VIOLATIONS = {
    # a value reaching up into the loop
    ("layers", "value-imports-core"): [("lambdas/fmgateway/values/violation.py", "from fmgateway.core import gateway\n")],
    # a type-only import counts too
    ("layers", "type-only"): [
        (
            "lambdas/fmgateway/config/violation.py",
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from fmgateway.routing.planner import Plan\n",
        )
    ],
    # the handlers above the request surfaces
    ("layers", "handler"): [("lambdas/fmgateway/jobs/violation.py", "import handlers.jobs_api\n")],
    ("adapters", "boto3"): [("lambdas/fmgateway/core/violation.py", "import boto3\n")],
    # through another module: the loop imports a helper outside the layers that imports botocore
    ("adapters", "indirect"): [
        ("lambdas/fmgateway/violation_helper.py", "import botocore.config\n"),
        ("lambdas/fmgateway/health/violation.py", "from fmgateway import violation_helper\n"),
    ],
    ("adapters", "powertools"): [
        ("lambdas/fmgateway/routing/violation.py", "from aws_lambda_powertools.utilities import parameters\n")
    ],
    ("adapters", "aws-package"): [("lambdas/fmgateway/converse/violation.py", "from fmgateway.aws import http\n")],
    ("lambda-code", "local"): [("lambdas/handlers/violation.py", "import local\n")],
    ("lambda-code", "deferred-cli"): [
        ("lambdas/fmgateway/violation.py", "def later():\n    import fmgw  # deferred imports count too\n")
    ],
    ("handlers", "handler-imports-handler"): [("lambdas/handlers/violation.py", "from handlers import api\n")],
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS), ids="/".join)
def test_a_deliberate_violation_breaks_its_contract(tree, case):
    contract_id = case[0]
    for path, text in VIOLATIONS[case]:
        write(tree, path, text)
    result = lint_imports(tree, contract_id)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and "violation" in result.stdout, result.stdout


def test_every_contract_has_a_violation_test():
    assert set(contracts()) == {contract_id for contract_id, _ in VIOLATIONS}
