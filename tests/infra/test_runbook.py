"""README and Makefile examples run as printed: the `make deploy` context synthesizes, the model-access checklist
(`fmgw models access`) covers every invocable model, the `fmgw jobs run` example is exercised in
tests/e2e/test_jobs_cli.py."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from fmgw.models.access import checklist
from infra.settings import ROOT, cdk_json_context, invocable_models


def printed_deploy_context() -> dict[str, str]:
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("deploy:"))
    context = re.search(r'CDK_CONTEXT="([^"]+)"', line).group(1)
    assert context in (ROOT / "README.md").read_text(), "README and Makefile print different deploy examples"
    words = shlex.split(context)
    assert words[::2] == ["-c"] * (len(words) // 2)
    return dict(word.split("=", 1) for word in words[1::2])


def test_the_printed_deploy_example_synthesizes():
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.stack import create_stack

    context = printed_deploy_context()
    stack = create_stack(App(context={**cdk_json_context(), **context}), account=None)
    template = Template.from_stack(stack).to_json()
    assert stack.region == context["region"] and stack.stack_name == f"FmGateway-{context['environment']}"
    assert any(r["Type"] == "AWS::ApiGateway::RestApi" for r in template["Resources"].values())


def test_model_access_checklist_names_every_invocable_model_and_its_regions(gateway_config):
    rows = {alias: (invoked, regions) for alias, _, invoked, regions in checklist(gateway_config, "us-east-1")}
    assert set(rows) == set(invocable_models(gateway_config))
    invoked, regions = rows["claude-haiku-4-5"]
    assert invoked == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert regions == gateway_config["geographies"]["us"]["destinationRegions"]


def test_the_printed_model_access_command_lists_every_invocable_model(gateway_config):
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"`\.venv/bin/(fmgw models access [^`]*)`", readme).group(1)
    assert "$(VENV)/bin/fmgw models access" in (ROOT / "Makefile").read_text()  # make model-access REGION=...
    done = subprocess.run(
        [sys.executable, "-m", *shlex.split(command)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "lambdas")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "deployment in us-west-2 with gateway.json" in done.stdout
    assert all(f"[ ] {alias} " in done.stdout for alias in invocable_models(gateway_config))
