"""``python app.py`` with cdk-nag (AwsSolutions and Serverless packs) attached, then cfn-lint and checkov on what it
wrote.

Two synths run side by side: the cdk.json defaults, and a variant exercising the optional paths (a non-dev
environment with a linear rollout, an alarm e-mail topic, a model behind a global inference profile, VPC mode, a
reserved concurrency, a router artifact in S3, Bedrock invocation logging with CloudWatch Logs). checkov (its own
virtual environment, ``make install-checkov``) runs once, on both templates.
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
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_PIN = (ROOT / "requirements-checkov.txt").read_text().split("checkov==")[1].split()[0]
# The checks the stack may skip, each with a reason recorded on the resource (infra.compliance.acknowledge). A new kind
# of skip is a decision for review: add it here with the reason it is acceptable.
ALLOWED_CHECKOV_SKIPS = {
    "CKV_AWS_115": "reserved concurrency: off by default (low account quotas), set per function by context",
    "CKV_AWS_116": "function DLQ: only for asynchronously invoked functions; the others are invoked synchronously, "
    "and the invocation-logging function answers CloudFormation itself",
    "CKV_AWS_117": "VPC: off by default (no private resource reached), vpc context for teams that require it",
    "CKV_AWS_18": "access logs of the access-log bucket itself",
    "CKV_AWS_21": "versioning of the access-log bucket",
    "CKV_AWS_120": "API Gateway cache: cannot key on POST bodies",
    "CKV_AWS_59": "the unauthenticated liveness probe",
}


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
            {
                "environment": "prod",
                "alarmEmail": "ops@example.com",
                "configFile": str(variant_config),
                "vpc": True,
                "reservedConcurrency": json.dumps({"ApiHandler": 50}),
                "invocationLogging": "true",
                "invocationLogsCloudWatch": "true",
            },
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
    assert len(reads) == 4  # the API, streaming, jobs worker and routing-tasks functions: all route model=auto
    for statement in reads:
        assert statement["Action"] == "s3:GetObject"
        assert statement["Resource"] == "arn:aws:s3:::fmgw-router-artifacts/difficulty/*"  # its folder, no more
    [setting] = [res for res in template["Resources"].values() if res["Type"] == "Custom::BedrockInvocationLogging"]
    assert "cloudWatchConfig" in setting["Properties"]["LoggingConfig"]


def _of_type(template: dict, type_: str) -> dict[str, dict]:
    return {key: res for key, res in template["Resources"].items() if res["Type"] == type_}


def test_vpc_mode_puts_every_function_in_private_subnets_behind_endpoints(synths):
    _, outdir, stack_name = synths["variant"]
    template = json.loads((outdir / f"{stack_name}.template.json").read_text())
    subnets = _of_type(template, "AWS::EC2::Subnet")
    assert len(subnets) == 2 and all(res["Properties"]["MapPublicIpOnLaunch"] is False for res in subnets.values())
    # No way out but the endpoints: no internet or NAT gateway, no route to 0.0.0.0/0.
    for absent in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        assert _of_type(template, absent) == {}, absent
    assert [r for r in _of_type(template, "AWS::EC2::Route").values() if "DestinationCidrBlock" in r["Properties"]] == []
    function_group = next(key for key in _of_type(template, "AWS::EC2::SecurityGroup") if "FunctionSecurityGroup" in key)
    functions = _of_type(template, "AWS::Lambda::Function")
    for name, function in functions.items():
        if function["Properties"]["Handler"] in ("handlers.authorizer.handler", "handlers.invocation_logging.handler"):
            # API Gateway's and Bedrock's control planes have no VPC endpoint here: the key authorizer and the
            # invocation-logging setting stay outside, with their reason
            assert "VpcConfig" not in function["Properties"]
            assert "control plane" in json.dumps(function["Metadata"]["checkov"]), name
            continue
        config = function["Properties"]["VpcConfig"]
        assert config["SecurityGroupIds"] == [{"Fn::GetAtt": [function_group, "GroupId"]}], name
        assert sorted(ref["Ref"] for ref in config["SubnetIds"]) == sorted(subnets), name
        assert "CKV_AWS_117" not in json.dumps(function.get("Metadata", {})), name
    services = []
    for endpoint in _of_type(template, "AWS::EC2::VPCEndpoint").values():
        props = endpoint["Properties"]
        name = json.dumps(props["ServiceName"])
        services.append(
            next(
                s
                for s in ("bedrock-runtime", "bedrock", "sqs", "sns", "appconfigdata", "xray", "dynamodb", "s3")
                if f".{s}" in name
            )
        )
        if props.get("VpcEndpointType") == "Interface":
            assert props["PrivateDnsEnabled"] is True
    # bedrock (the control plane): the customization tasks create and follow jobs and evaluation capacity
    assert sorted(services) == sorted(["bedrock-runtime", "bedrock", "sqs", "sns", "appconfigdata", "xray", "dynamodb", "s3"])
    # Interface endpoints accept HTTPS from the functions' group only.
    [ingress] = _of_type(template, "AWS::EC2::SecurityGroupIngress").values()
    assert ingress["Properties"]["SourceSecurityGroupId"] == {"Fn::GetAtt": [function_group, "GroupId"]}
    assert (ingress["Properties"]["FromPort"], ingress["Properties"]["ToPort"]) == (443, 443)
    # Flow logs, to a log group encrypted with the stack key.
    [flow_log] = _of_type(template, "AWS::EC2::FlowLog").values()
    log_group = template["Resources"][flow_log["Properties"]["LogGroupName"]["Ref"]]
    [key_id] = _of_type(template, "AWS::KMS::Key")
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_reserved_concurrency_from_context_applies_to_the_named_function_only(synths):
    _, outdir, stack_name = synths["variant"]
    template = json.loads((outdir / f"{stack_name}.template.json").read_text())
    reserved = {
        res["Properties"]["Handler"]: res["Properties"].get("ReservedConcurrentExecutions")
        for res in _of_type(template, "AWS::Lambda::Function").values()
    }
    assert reserved.pop("handlers.api.handler") == 50
    assert set(reserved.values()) == {None}


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
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

app = App()
stack = Stack(app, "Canary")
sqs.Queue(stack, "Plain")  # no DLQ, no SSL-only policy, no redrive: AwsSolutions-SQS3, -SQS4, Serverless-SQSRedrivePolicy
Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
app.synth()
"""


def test_the_nag_plugins_really_fail_a_synth_with_findings(tmp_path):
    """Guards the zero-findings test above against plugins that silently check nothing."""
    result = subprocess.run(
        [sys.executable, "-c", CANARY], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-SQS3" in report and "AwsSolutions-SQS4" in report
    assert "Serverless-SQSRedrivePolicy" in report


@pytest.fixture(scope="module")
def checkov_report(synths) -> dict:
    """checkov on both templates, in one run (``make install-checkov`` builds its virtual environment)."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make install-checkov` (make test does)"
    templates = []
    for result, outdir, stack_name in synths.values():
        assert result.returncode == 0, result.stderr[-5000:]
        templates.append(str(outdir / f"{stack_name}.template.json"))
    run = subprocess.run(
        [str(CHECKOV), "--framework", "cloudformation", "--skip-download", "--output", "json", "--file", *templates],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Exit code 1 means failed checks; anything else but 0 is checkov itself failing.
    assert run.returncode in (0, 1), run.stderr[-5000:]
    report = json.loads(run.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_runs_the_pinned_version_on_both_templates(checkov_report):
    summary = checkov_report["summary"]
    assert summary["checkov_version"] == CHECKOV_PIN
    assert summary["parsing_errors"] == 0
    files = {check["file_path"] for check in checkov_report["results"]["passed_checks"]}
    assert len(files) == 2, files
    # It really evaluated the templates (about 180 passing checks per template today), not an empty set.
    assert summary["passed"] > 300


def test_checkov_has_no_failed_check(checkov_report):
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in checkov_report["results"]["failed_checks"]
    ]
    assert failed == []


def test_every_checkov_skip_is_an_allowed_kind_with_a_reason_on_the_resource(checkov_report):
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "the stack acknowledges some checks; none skipped means checkov ignored the resource metadata"
    for check in skipped:
        where = f"{check['check_id']} on {check['resource']}"
        assert check["check_id"] in ALLOWED_CHECKOV_SKIPS, f"{where}: a new kind of skip, review it"
        assert len(check["check_result"].get("suppress_comment", "")) >= 40, f"{where}: no real reason recorded"
