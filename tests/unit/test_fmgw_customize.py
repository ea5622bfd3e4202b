"""``fmgw customize`` against moto's Step Functions (a moto server, as local mode's), with stand-in state machines of
the workflow's shape: the spec's checks and uploads, the run followed state by state to its report or named error,
status, list, and stop cleaning up what the history names. The real workflow: tests/e2e/test_customization_e2e.py."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from typer.testing import CliRunner

from fmgw.__main__ import app
from fmgw.customize import cleanup, runs, spec, where
from fmgw.datasets import sources

runner = CliRunner()
ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "fmgw-local-customization"
JOB = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/amazon.nova-lite-v1:0:300k/abc123def456"
MODEL = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/amazon.nova-lite-v1:0:300k/0123456789ab"
DEPLOYMENT = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/fedcba987654"
REPORT = {
    "decision": "promote",
    "reason": "quality 0.900 >= baseline 0.800 - 0.02 and $0.1200 < $0.4000 per 1k requests",
    "reportUri": f"s3://{BUCKET}/reports/run/report.json",
    "customModelArn": MODEL,
    "models": [
        {"model": "support-distill", "role": "candidate", "quality": 0.9, "p50Ms": 41.0, "costPer1kRequestsUsd": 0.12},
        {"model": "claude-haiku-4-5", "role": "baseline", "quality": 0.8, "p50Ms": 55.0, "costPer1kRequestsUsd": 0.4},
    ],
}
EVAL_CASE = json.dumps({"prompt": "What is 2+2?", "expected": "4", "scorer": "contains"})


def good_spec(**changes) -> dict:
    base = {
        "name": "support-distill-1",
        "type": "DISTILLATION",
        "baseModel": "nova-lite",
        "teacher": "nova-pro",
        "trainingData": {
            "invocationLogs": {
                "s3Uri": "s3://fmgw-local-invocation-logs/AWSLogs/",
                "requestMetadataFilters": {"andAll": [{"equals": {"team": "support"}}, {"notEquals": {"fmgw-tier": "none"}}]},
            }
        },
        "evaluation": {"s3Uri": "s3://b/evaluation/eval.jsonl", "tier": "simple", "margin": 0.02},
        "polling": {"jobSeconds": 1},
    }
    return {**base, **changes}


def task(result: dict, path: str, next_state: str | None) -> dict:
    state = {"Type": "Pass", "Result": {"value": result}, "ResultPath": path}
    return state | ({"Next": next_state} if next_state else {"End": True})


def workflow(ending: dict, wait_seconds: int = 1) -> dict:
    """The real machine's states and data, each task a Pass with the value its Lambda would return."""
    return {
        "StartAt": "Validate",
        "States": {
            "Validate": task({"batches": [[1], [2], [3]]}, "$.run", "StartJob"),
            "StartJob": task({"jobArn": JOB, "status": "InProgress"}, "$.job", "WaitForJob"),
            "WaitForJob": {"Type": "Wait", "Seconds": wait_seconds, "Next": "JobStatus"},
            "JobStatus": task({"jobArn": JOB, "status": "Completed", "customModelArn": MODEL}, "$.job", "Provision"),
            "Provision": task({"arn": DEPLOYMENT, "kind": "bedrock-custom-deployment", "ready": False}, "$.capacity", "Evaluate"),
            "Evaluate": {
                "Type": "Map",
                "ItemsPath": "$.run.value.batches",
                "ItemProcessor": {"StartAt": "EvaluateBatch", "States": {"EvaluateBatch": {"Type": "Pass", "End": True}}},
                "ResultPath": "$.evaluation",
                "Next": "Ending",
            },
            "Ending": ending,
        },
    }


PROMOTE = {"Type": "Pass", "Result": REPORT, "End": True}
JOB_FAILED = {"Type": "Fail", "Error": "JobFailed", "Cause": "the job ended Failed: too few records match the filters"}


@pytest.fixture(scope="module")
def moto_url():
    from moto.core.config import default_user_config

    from local.moto_server import LocalMotoServer

    saved = dict(default_user_config.get("stepfunctions", {}))
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    server = LocalMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    default_user_config["stepfunctions"] = saved


def client(service: str, url: str):
    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


class Local:
    """A local mode's state file naming the moto server and a stand-in state machine."""

    def __init__(self, url: str, state_file, definition: dict, name: str, invocation_logs: bool = True):
        self.sfn, self.s3 = client("stepfunctions", url), client("s3", url)
        self.s3.create_bucket(Bucket=BUCKET)
        self.arn = self.sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/x"
        )["stateMachineArn"]
        state = {
            "motoUrl": url,
            "simulatorUrl": "http://127.0.0.1:9",
            "customization": {"stateMachineArn": self.arn, "bucket": BUCKET},
        }
        if invocation_logs:
            state["invocationLogs"] = "s3://fmgw-local-invocation-logs/AWSLogs/"
        state_file.write_text(json.dumps(state))


@pytest.fixture
def state_file(tmp_path, monkeypatch):
    path = tmp_path / "fmgw-local.json"
    monkeypatch.setenv(sources.STATE_FILE_ENV, str(path))
    for name in (where.STATE_MACHINE_ENV, where.BUCKET_ENV):
        monkeypatch.delenv(name, raising=False)
    return path


def write_spec(tmp_path, value: dict, name: str = "spec.json"):
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return path


# ---- the spec ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"type": "RLHF"}, "type: one of FINE_TUNING"),
        ({"name": "no spaces allowed"}, "name: 1-40 characters"),
        ({"teacher": ""}, "teacher: DISTILLATION needs"),
        ({"type": "FINE_TUNING"}, "teacher: only DISTILLATION has a teacher"),
        ({"epochs": 2}, "epochs: unknown field"),
        ({"trainingData": {"s3Uri": "a", "invocationLogs": {}}}, "trainingData: exactly one of"),
        ({"trainingData": {"invocationLogs": {"s3Uri": "/tmp/logs"}}}, "invocationLogs.s3Uri: the s3:// prefix"),
        (
            {
                "trainingData": {
                    "invocationLogs": {"s3Uri": "s3://l/", "requestMetadataFilters": {"equals": {"a": "1", "b": "2"}}}
                }
            },
            "requestMetadataFilters.equals: exactly one key-value pair",
        ),
        (
            {
                "trainingData": {
                    "invocationLogs": {"s3Uri": "s3://l/", "requestMetadataFilters": {"andAll": [{"equals": {"a": "1"}}] * 17}}
                }
            },
            "andAll: a list of 1 to 16 filters",
        ),
        (
            {"trainingData": {"invocationLogs": {"s3Uri": "s3://l/", "requestMetadataFilters": {"equals": {"team": "a;b"}}}}},
            "requestMetadataFilters.equals.team: a string of 0-256 characters",
        ),
        ({"hyperParameters": {"epochCount": 2}}, "hyperParameters.epochCount: a string"),
        ({"evaluation": {"s3Uri": "s3://b/e.jsonl", "tier": "simple", "margin": 2}}, "evaluation.margin: a number from 0 to 1"),
        ({"evaluation": {"s3Uri": "s3://b/e.jsonl"}}, "evaluation.tier"),
        ({"polling": {"jobSeconds": 0}}, "polling.jobSeconds: an integer >= 1"),
        ({"region": "mars"}, "region: an AWS region"),
    ],
)
def test_the_obvious_mistakes_are_refused_naming_the_field(changes, message):
    with pytest.raises(spec.SpecError, match=message.replace("(", r"\(").replace("+", r"\+")):
        spec.check(good_spec(**changes))


def test_a_good_spec_passes_and_a_default_name_is_new_per_start(tmp_path):
    spec.check(good_spec())
    fine_tuning = good_spec(type="FINE_TUNING", trainingData={"s3Uri": "data.jsonl"}, hyperParameters={"epochCount": "2"})
    del fine_tuning["teacher"]
    spec.check(fine_tuning)
    name = spec.default_name(tmp_path / "distill support.json", now=0)
    assert name == "distill-support-19700101000000" and spec.NAME.match(name)
    assert spec.NAME.match(spec.default_name(tmp_path / ("x" * 80 + ".json")))


def test_local_files_resolve_beside_the_spec_and_a_bad_evaluation_line_is_named(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"prompt": "p", "completion": "c"}\n')
    (tmp_path / "eval.jsonl").write_text(EVAL_CASE + "\n" + '{"prompt": ""}\n')
    value = good_spec(
        type="FINE_TUNING", trainingData={"s3Uri": "file:train.jsonl"}, evaluation={"s3Uri": "eval.jsonl", "tier": "simple"}
    )
    del value["teacher"]
    with pytest.raises(spec.SpecError, match=r"eval.jsonl: line 2.prompt"):
        spec.local_files(value, tmp_path)
    (tmp_path / "eval.jsonl").write_text(EVAL_CASE + "\n")
    files = spec.local_files(value, tmp_path)
    assert files == {"trainingData": tmp_path / "train.jsonl", "evaluation": tmp_path / "eval.jsonl"}
    value["validationData"] = {"s3Uri": "missing.jsonl"}
    with pytest.raises(spec.SpecError, match="validationData.s3Uri: missing.jsonl: no such file"):
        spec.local_files(value, tmp_path)


# ---- where the machine is -----------------------------------------------------------------------------------------


def test_the_machine_is_the_flag_then_the_environment_then_local_modes(state_file):
    arn = f"arn:aws:states:us-west-2:{ACCOUNT}:stateMachine:fmgw-customization"
    local_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:local"
    with pytest.raises(where.WhereError, match="pass --state-machine ARN .* or start local mode"):
        where.resolve(None, environ={})
    state_file.write_text(json.dumps({"motoUrl": "http://m", "customization": {"stateMachineArn": local_arn, "bucket": "lb"}}))
    assert where.resolve(None, environ={}) == where.Where(local_arn, "lb", json.loads(state_file.read_text()))
    found = where.resolve(None, environ={where.STATE_MACHINE_ENV: arn, where.BUCKET_ENV: "eb"})
    assert (found.state_machine_arn, found.bucket, found.local, found.region) == (arn, "eb", None, "us-west-2")
    assert where.resolve(arn, "fb", environ={}).bucket == "fb"
    assert found.execution_arn("run-1") == f"arn:aws:states:us-west-2:{ACCOUNT}:execution:fmgw-customization:run-1"
    with pytest.raises(where.WhereError, match="not a state machine ARN"):
        where.resolve("arn:aws:states:us-east-1:1:execution:x:y", environ={})
    state_file.write_text(json.dumps({"motoUrl": "http://m"}))
    with pytest.raises(where.WhereError, match="local mode is running .* without the customization workflow"):
        where.resolve(None, environ={})


# ---- runs, end to end through the CLI -----------------------------------------------------------------------------


def test_start_uploads_local_files_follows_the_run_and_prints_the_report(moto_url, state_file, tmp_path):
    local = Local(moto_url, state_file, workflow(PROMOTE), "promote")
    (tmp_path / "eval.jsonl").write_text(EVAL_CASE + "\n")
    path = write_spec(tmp_path, good_spec(evaluation={"s3Uri": "eval.jsonl", "tier": "simple"}))
    done = runner.invoke(app, ["customize", "start", str(path), "--poll-seconds", "0.2"])
    assert done.exit_code == 0, done.output
    key = "evaluation/support-distill-1/eval.jsonl"
    assert f"uploaded {tmp_path / 'eval.jsonl'} to s3://{BUCKET}/{key}" in done.output
    assert local.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().strip() == EVAL_CASE
    for line in ("started support-distill-1 (DISTILLATION of nova-lite, local mode)", "WaitForJob · job InProgress"):
        assert line in done.output
    assert "support-distill-1: PROMOTE after" in done.output and REPORT["reason"] in done.output
    assert "claude-haiku-4-5" in done.output and "0.900" in done.output and "$0.1200" in done.output
    assert f"report: {REPORT['reportUri']}" in done.output
    sent = json.loads(
        local.sfn.describe_execution(executionArn=f"{local.arn.replace('stateMachine', 'execution')}:support-distill-1")["input"]
    )
    assert sent["spec"]["evaluation"]["s3Uri"] == f"s3://{BUCKET}/{key}"
    again = runner.invoke(app, ["customize", "start", str(path), "--no-wait"])
    assert again.exit_code == 2 and "a run named 'support-distill-1' exists already" in again.output


def test_a_failed_run_prints_its_named_error_and_exits_1(moto_url, state_file, tmp_path):
    Local(moto_url, state_file, workflow(JOB_FAILED), "fails")
    path = write_spec(tmp_path, good_spec(name="fails-1"))
    done = runner.invoke(app, ["customize", "start", str(path), "--poll-seconds", "0.2"])
    assert done.exit_code == 1, done.output
    assert "fails-1: FAILED after" in done.output and f"JobFailed: {JOB_FAILED['Cause']}" in done.output


def test_no_wait_then_status_and_list(moto_url, state_file, tmp_path):
    Local(moto_url, state_file, workflow(PROMOTE, wait_seconds=2), "listed")
    path = write_spec(tmp_path, good_spec(name="later-1"))
    started = runner.invoke(app, ["customize", "start", str(path), "--no-wait"])
    assert started.exit_code == 0 and "follow it: fmgw customize status later-1 --follow" in started.output
    running = runner.invoke(app, ["customize", "status", "later-1"])
    assert running.exit_code == 0 and "later-1: RUNNING for" in running.output
    followed = runner.invoke(app, ["customize", "status", "later-1", "--follow", "--poll-seconds", "0.2"])
    assert followed.exit_code == 0 and "PROMOTE" in followed.output
    listed = runner.invoke(app, ["customize", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (item,) = json.loads(listed.output)
    assert (item["name"], item["status"], item["decision"], item["reportUri"]) == (
        "later-1",
        "SUCCEEDED",
        "promote",
        REPORT["reportUri"],
    )
    table = runner.invoke(app, ["customize", "list"])
    assert "later-1" in table.output and "promote" in table.output
    missing = runner.invoke(app, ["customize", "status", "nope"])
    assert missing.exit_code == 1 and "no run 'nope'" in missing.output


def test_a_logs_spec_against_local_mode_without_logs_says_how_to_turn_them_on(moto_url, state_file, tmp_path):
    Local(moto_url, state_file, workflow(PROMOTE), "nologs", invocation_logs=False)
    done = runner.invoke(app, ["customize", "start", str(write_spec(tmp_path, good_spec(name="nologs-1")))])
    assert done.exit_code == 2 and "FMGW_INVOCATION_LOGS=1 make local" in done.output


def test_no_machine_anywhere_is_a_clear_error(state_file, tmp_path):
    done = runner.invoke(app, ["customize", "list"])
    assert done.exit_code == 2 and "no customization state machine: pass --state-machine ARN" in done.output


class FakeBedrock:
    def __init__(self, job_status: str = "InProgress"):
        self.calls: list[tuple[str, str]] = []
        self.job_status = job_status

    def get_model_customization_job(self, jobIdentifier):
        return {"status": self.job_status}

    def stop_model_customization_job(self, jobIdentifier):
        self.calls.append(("stop", jobIdentifier))

    def delete_custom_model_deployment(self, customModelDeploymentIdentifier):
        self.calls.append(("delete", customModelDeploymentIdentifier))

    def get_custom_model(self, modelIdentifier):
        if self.job_status != "Completed":
            raise RuntimeError("ResourceNotFoundException")
        return {}


def test_stop_stops_the_execution_then_its_job_and_deletes_its_capacity(moto_url, state_file, tmp_path, monkeypatch):
    definition = workflow(PROMOTE)
    definition["States"]["Provision"]["Next"] = "Hold"
    definition["States"]["Hold"] = {"Type": "Wait", "Seconds": 60, "End": True}
    del definition["States"]["JobStatus"]  # the job still runs when the capacity exists: both to clean
    definition["States"]["WaitForJob"]["Next"] = "Provision"
    local = Local(moto_url, state_file, definition, "stopped")
    fake = FakeBedrock()
    monkeypatch.setattr(where.Where, "bedrock", lambda self, region=None: fake)
    runner.invoke(app, ["customize", "start", str(write_spec(tmp_path, good_spec(name="stop-1"))), "--no-wait"])
    arn = local.arn.replace(":stateMachine:", ":execution:") + ":stop-1"
    deadline = time.monotonic() + 10
    while runs.observe(local.sfn, arn).state != "Hold" and time.monotonic() < deadline:
        time.sleep(0.1)
    done = runner.invoke(app, ["customize", "stop", "stop-1"])
    assert done.exit_code == 0, done.output
    assert "stopped stop-1 in Hold" in done.output
    assert f"stopped customization job {JOB} (it was InProgress)" in done.output
    assert f"deleted evaluation capacity {DEPLOYMENT}" in done.output
    assert fake.calls == [("stop", JOB), ("delete", DEPLOYMENT)]
    assert local.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    shown = runner.invoke(app, ["customize", "status", "stop-1"])
    assert shown.exit_code == 1 and "ABORTED" in shown.output and "fmgw customize stop stop-1" in shown.output
    again = runner.invoke(app, ["customize", "stop", "stop-1"])
    assert "already ABORTED: cleaning up what it left" in again.output


def test_cleanup_keeps_a_finished_custom_model_and_says_how_to_delete_it():
    found = cleanup.Found()
    found.add(json.dumps({"job": {"value": {"jobArn": JOB, "customModelArn": MODEL}}, "capacity": {"arn": DEPLOYMENT}}))
    assert found.arns == {"job": [JOB], "provisioned": [], "deployment": [DEPLOYMENT], "model": [MODEL]}
    fake = FakeBedrock("Completed")
    lines = cleanup.clean(found, lambda region: fake)
    assert lines[0] == f"customization job {JOB}: already Completed"
    assert lines[2] == f"kept custom model {MODEL} (delete it: aws bedrock delete-custom-model --model-identifier {MODEL})"
    assert fake.calls == [("delete", DEPLOYMENT)]
