"""``python app.py`` with cdk-nag (AwsSolutions) attached, then cfn-lint on what it wrote.

Two synths run side by side: the cdk.json defaults, and a variant exercising the optional paths (a non-dev
environment with a linear rollout, an alarm e-mail topic, a model behind a global inference profile, a router
artifact in S3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CFN_LINT = ROOT / ".venv" / "bin" / "cfn-lint"
ROUTER_ARTIFACT = "s3://fmgw-router-artifacts/difficulty/v2.json"


def _env(outdir: Path, context: dict | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    env.pop("CDK_DEFAULT_ACCOUNT", None)
    env.pop("CDK_CONTEXT_JSON", None)
    if context:
        env["CDK_CONTEXT_JSON"] = json.dumps(context)
    return env


@pytest.fixture(scope="module")
def synths(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path, str]]:
    base = tmp_path_factory.mktemp("nag")
    config = json.loads((ROOT / "config" / "gateway.json").read_text())
    config["models"]["claude-sonnet-4-5-global"] = {**config["models"]["claude-sonnet-4-5"], "profileScope": "global"}
    config["contentRouting"]["artifact"] = ROUTER_ARTIFACT
    variant_config = base / "gateway-global.json"
    variant_config.write_text(json.dumps(config))
    runs = {
        "default": (base / "default", None, "FmGateway-dev"),
        "variant": (
            base / "variant",
            {"environment": "prod", "alarmEmail": "ops@example.com", "configFile": str(variant_config)},
            "FmGateway-prod",
        ),
    }
    processes = {
        name: subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=_env(outdir, context),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (outdir, context, _) in runs.items()
    }
    results = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=240)
        outdir, _, stack_name = runs[name]
        results[name] = (subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), outdir, stack_name)
    return results


def unacknowledged(outdir: Path) -> list[str]:
    findings = []
    for report_name in ("validation-report.json", "policy-validation-report.json"):
        report = outdir / report_name
        if report.exists():
            for plugin in json.loads(report.read_text()).get("pluginReports", []):
                for violation in plugin.get("violations", []):
                    paths = [c.get("constructPath") for c in violation.get("violatingConstructs", [])]
                    findings.append(f"{plugin.get('pluginName')}: {violation.get('ruleName')} at {paths}")
    return findings


@pytest.mark.parametrize("name", ["default", "variant"])
def test_synth_with_cdk_nag_has_no_unacknowledged_findings(synths, name):
    result, outdir, stack_name = synths[name]
    assert result.returncode == 0, result.stderr[-5000:]
    assert (outdir / f"{stack_name}.template.json").is_file()
    assert unacknowledged(outdir) == []


def test_variant_exercises_the_optional_paths(synths):
    _, outdir, stack_name = synths["variant"]
    template = json.loads((outdir / f"{stack_name}.template.json").read_text())
    types = [res["Type"] for res in template["Resources"].values()]
    topics = [
        res
        for key, res in template["Resources"].items()
        if res["Type"] == "AWS::SNS::Topic" and key.startswith("ObservabilityAlarmTopic")
    ]
    assert len(topics) == 1 and "KmsMasterKeyId" in topics[0]["Properties"]
    assert "AWS::SNS::Subscription" in types
    [strategy] = [res for res in template["Resources"].values() if res["Type"] == "AWS::AppConfig::DeploymentStrategy"]
    assert strategy["Properties"]["GrowthFactor"] == 20 and strategy["Properties"]["FinalBakeTimeInMinutes"] > 0
    assert "bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0" in json.dumps(template)
    reads = [
        statement
        for res in template["Resources"].values()
        if res["Type"] == "AWS::IAM::Policy"
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "ReadRouterArtifact"
    ]
    assert len(reads) == 2  # the API function and the jobs worker: both route model=auto
    for statement in reads:
        assert statement["Action"] == "s3:GetObject"
        assert statement["Resource"] == "arn:aws:s3:::fmgw-router-artifacts/difficulty/*"  # its folder, no more


@pytest.mark.parametrize("name", ["default", "variant"])
def test_cfn_lint_is_clean(synths, name):
    result, outdir, stack_name = synths[name]
    assert result.returncode == 0
    # cfnlint has no __main__: without the venv's console script, call its entry point.
    command = (
        [str(CFN_LINT)]
        if CFN_LINT.exists()
        else [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]
    )
    lint = subprocess.run(
        [*command, "--config-file", str(ROOT / ".cfnlintrc"), "--", str(outdir / f"{stack_name}.template.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert lint.returncode & 2 == 0, lint.stdout + lint.stderr
    assert lint.returncode == 0, lint.stdout + lint.stderr


CANARY = """
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks

app = App()
stack = Stack(app, "Canary")
sqs.Queue(stack, "Plain")  # no DLQ, no SSL-only policy: AwsSolutions-SQS3 and -SQS4
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
"""


def test_the_nag_plugin_really_fails_a_synth_with_findings(tmp_path):
    """Guards the zero-findings test above against a plugin that silently checks nothing."""
    result = subprocess.run(
        [sys.executable, "-c", CANARY], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-SQS3" in report and "AwsSolutions-SQS4" in report
