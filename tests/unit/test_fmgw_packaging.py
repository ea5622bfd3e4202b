"""pyproject.toml installs ``fmgw``: the explicit package list matches the directories, the Lambda code's JSON files are
package data, and the installed ``fmgw`` command runs from anywhere (``make install``: editable, ``--no-deps``)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import typer

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def package_dir(name: str) -> Path:
    top, *rest = name.split(".")
    return ROOT / SETUPTOOLS.get("package-dir", {}).get(top, top) / Path(*rest)


def test_the_package_list_is_every_package_directory():
    listed = set(SETUPTOOLS["packages"])
    tops = {name for name in listed if "." not in name}
    assert {"fmgw", "fmgateway", "handlers"} <= tops
    on_disk = {
        ".".join((top, *init.parent.relative_to(package_dir(top)).parts))
        for top in tops
        for init in package_dir(top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert listed == on_disk, "list new packages in pyproject.toml [tool.setuptools] packages (and drop removed ones)"


def test_the_lambda_code_data_files_are_package_data():
    data = SETUPTOOLS["package-data"]
    covered: set[Path] = set()
    for top in ("fmgateway", "handlers"):
        files = {p for p in package_dir(top).rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
        covered |= {p for pattern in data.get(top, []) for p in package_dir(top).glob(pattern)}
        assert files <= covered, f"not package data: {sorted(str(p.relative_to(ROOT)) for p in files - covered)}"
    assert package_dir("fmgateway.routing") / "difficulty_model.json" in covered  # the router's bundled artifact


def test_the_script_entry_point_is_the_typer_app():
    module, _, attribute = PYPROJECT["project"]["scripts"]["fmgw"].partition(":")
    assert module == "fmgw.__main__"
    from fmgw import __main__

    assert isinstance(getattr(__main__, attribute), typer.Typer)
    assert PYPROJECT["project"]["dependencies"] == []  # the requirements files are the dependencies (--no-deps)


def test_the_installed_command_runs_from_any_directory(tmp_path):
    command = Path(sys.executable).with_name("fmgw")
    assert command.exists(), f"{command} is missing: make install (pip install --no-deps -e .) installs it"
    for args in (["--help"], ["jobs", "--help"], ["route", "score", "--help"], ["models", "access", "--region", "us-east-1"]):
        # no PYTHONPATH, not the checkout: fmgw, fmgateway and infra come from the editable install
        done = subprocess.run([str(command), *args], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert "claude-haiku-4-5" in done.stdout
