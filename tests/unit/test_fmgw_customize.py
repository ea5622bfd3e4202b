"""``fmgw customize`` against moto's Step Functions (a moto server, as local mode's), with stand-in state machines of
the workflow's shape: the spec's checks and uploads, the run followed state by state to its report or named error,
status, list, and stop cleaning up what the history names. The real workflow: tests/e2e/test_customization_e2e.py."""

from __future__ import annotations

import json
import re
import time

import boto3
import pytest
from typer.testing import CliRunner

from fmgateway.lifecycle.customization.spec import NAME
from fmgw.__main__ import app
from fmgw.customize import runs, spec, where
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
        "evaluation": {"s3Uri": "s3://fmgw-eval/evaluation/eval.jsonl", "tier": "simple", "expectedRequestsPerHour": 1000},
        "polling": {"jobSeconds": 1},
    }
    return {**base, **changes}


def task(result: dict, path: str, next_state: str | None) -> dict:
    """A Pass with the value the Lambda task would return (``ResultSelector`` wraps it in ``value``)."""
    state = {"Type": "Pass", "Parameters": {"value": result}, "ResultPath": path}
    return state | ({"Next": next_state} if next_state else {"End": True})


def workflow(ending: dict, wait_seconds: int = 1) -> dict:
    """The real machine's states and data, each task a Pass with the value its Lambda would return."""
    return {
        "StartAt": "Validate",
        "States": {
            "Validate": task({"name.$": "$.spec.name", "region": REGION, "batches": [[1], [2], [3]]}, "$.run", "StartJob"),
            "StartJob": task({"arn": JOB, "status": "InProgress"}, "$.job", "WaitForJob"),
            "WaitForJob": {"Type": "Wait", "Seconds": wait_seconds, "Next": "JobStatus"},
            "JobStatus": task({"arn": JOB, "status": "Completed", "customModelArn": MODEL}, "$.job", "Provision"),
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
FAILURE = "the job ended Failed: 12 invocation log records match the requestMetadataFilters, fewer than 100"
# a Lambda task's error as Step Functions reports it: the Cause is the function's error payload
JOB_FAILED = {"Type": "Fail", "Error": "JobFailed", "Cause": json.dumps({"errorType": "JobFailed", "errorMessage": FAILURE})}


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


LOGS = "s3://fmgw-logs/AWSLogs/"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"type": "RLHF"}, "type: one of FINE_TUNING"),
        ({"name": "no spaces"}, "name: 1-40 letters"),
        ({"type": "FINE_TUNING"}, "teacher: only a DISTILLATION has a teacher"),
        ({"epochs": 2}, "epochs: unknown field"),
        ({"trainingData": {"invocationLogs": {"s3Uri": LOGS, "requestMetadataFilters": {"equals": {"a": "1", "b": "2"}}}}},
         "trainingData.invocationLogs.requestMetadataFilters.equals"),
        ({"evaluation": {"s3Uri": "eval.jsonl", "tier": "simple", "expectedRequestsPerHour": 10, "margin": 2}},
         "evaluation.margin"),
        ({"region": "mars"}, "region: "),
    ],
)  # fmt: skip
def test_the_workflows_own_shape_check_runs_before_anything_is_uploaded(changes, field):
    with pytest.raises(spec.SpecError) as refused:
        spec.check(good_spec(**changes))
    assert str(refused.value).startswith(field)


def test_a_good_spec_passes_and_a_default_name_is_new_per_start(tmp_path):
    spec.check(good_spec())
    fine_tuning = good_spec(type="FINE_TUNING", trainingData={"s3Uri": "data.jsonl"}, hyperParameters={"epochCount": "2"})
    del fine_tuning["teacher"]
    spec.check(fine_tuning)
    name = spec.default_name(tmp_path / "distill support.json", now=0)
    assert name == "distill-support-19700101000000" and NAME.match(name)
    assert NAME.match(spec.default_name(tmp_path / ("x" * 80 + ".json")))


def test_local_files_resolve_beside_the_spec_and_a_bad_evaluation_line_is_named(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"prompt": "p", "completion": "c"}\n')
    (tmp_path / "eval.jsonl").write_text(EVAL_CASE + "\n" + '{"prompt": ""}\n')
    value = good_spec(
        type="FINE_TUNING",
        trainingData={"s3Uri": "file:train.jsonl"},
        evaluation={"s3Uri": "eval.jsonl", "tier": "simple", "expectedRequestsPerHour": 10},
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
    path = write_spec(tmp_path, good_spec(evaluation={"s3Uri": "eval.jsonl", "tier": "simple", "expectedRequestsPerHour": 10}))
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


def test_a_failed_run_prints_the_step_its_named_error_and_its_cleanup_and_exits_1(moto_url, state_file, tmp_path):
    definition = workflow(PROMOTE)
    definition["States"]["JobStatus"]["Next"] = "Cleanup"  # as its Catch does
    kept = f"custom model {MODEL} (delete it with `aws bedrock delete-custom-model --model-identifier {MODEL}`)"
    cleaned = {"cleaned": [], "notCleaned": [], "kept": [kept], "subject": "s", "message": "m"}
    definition["States"]["Cleanup"] = task(cleaned, "$.cleanup", "NotifyFailure")
    definition["States"]["NotifyFailure"] = {"Type": "Pass", "ResultPath": None, "Next": "Failed"}
    definition["States"]["Failed"] = JOB_FAILED
    Local(moto_url, state_file, definition, "fails")
    path = write_spec(tmp_path, good_spec(name="fails-1"))
    done = runner.invoke(app, ["customize", "start", str(path), "--poll-seconds", "0.2"])
    assert done.exit_code == 1, done.output
    assert re.search(r"fails-1: FAILED after 0:\d\d in JobStatus", done.output)
    assert f"  JobFailed: {FAILURE}" in done.output and f"  kept: {kept}" in done.output


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
    """The Bedrock control plane's calls the cleanup makes; ``listed`` what its listings answer."""

    def __init__(self, job_status: str = "InProgress", listed: dict | None = None):
        self.calls: list[tuple[str, str]] = []
        self.job_status = job_status
        self.listed = listed or {}

    def get_model_customization_job(self, jobIdentifier):
        return {"jobArn": jobIdentifier, "status": self.job_status}

    def stop_model_customization_job(self, jobIdentifier):
        self.calls.append(("stop", jobIdentifier))

    def delete_custom_model_deployment(self, customModelDeploymentIdentifier):
        self.calls.append(("delete", customModelDeploymentIdentifier))

    def list_model_customization_jobs(self, nameContains):
        self.calls.append(("list jobs", nameContains))
        return {"modelCustomizationJobSummaries": self.listed.get("jobs", [])}

    def list_custom_model_deployments(self, nameContains):
        self.calls.append(("list deployments", nameContains))
        return {"modelDeploymentSummaries": self.listed.get("deployments", [])}

    def list_provisioned_model_throughputs(self, nameContains):
        return {"provisionedModelSummaries": []}


def held(definition: dict, after: str) -> dict:
    """The workflow waiting a minute after ``after`` (the run is stopped there)."""
    definition["States"][after]["Next"] = "Hold"
    definition["States"]["Hold"] = {"Type": "Wait", "Seconds": 60, "End": True}
    return definition


def stop_when_held(local: Local, tmp_path, name: str):
    runner.invoke(app, ["customize", "start", str(write_spec(tmp_path, good_spec(name=name))), "--no-wait"])
    arn = local.arn.replace(":stateMachine:", ":execution:") + ":" + name
    deadline = time.monotonic() + 10
    while runs.observe(local.sfn, arn).state != "Hold" and time.monotonic() < deadline:
        time.sleep(0.1)
    return arn, runner.invoke(app, ["customize", "stop", name])


def test_stop_stops_the_execution_then_its_job_and_deletes_its_capacity(moto_url, state_file, tmp_path, monkeypatch):
    definition = held(workflow(PROMOTE), "Provision")
    del definition["States"]["JobStatus"]  # the job still runs when the capacity exists: both to clean
    definition["States"]["WaitForJob"]["Next"] = "Provision"
    local = Local(moto_url, state_file, definition, "stopped")
    fake = FakeBedrock()
    monkeypatch.setattr(where.Where, "bedrock", lambda self, region=None: fake)
    arn, done = stop_when_held(local, tmp_path, "stop-1")
    assert done.exit_code == 0, done.output
    assert "stopped stop-1 in Hold" in done.output
    assert f"cleaned up: job {JOB}: stopped" in done.output
    assert f"cleaned up: evaluation capacity {DEPLOYMENT}: deleted" in done.output
    assert fake.calls == [("stop", JOB), ("delete", DEPLOYMENT)]  # both in the history: nothing looked up by name
    assert local.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    shown = runner.invoke(app, ["customize", "status", "stop-1"])
    assert shown.exit_code == 1 and "ABORTED" in shown.output and "fmgw customize stop stop-1" in shown.output
    again = runner.invoke(app, ["customize", "stop", "stop-1"])
    assert "already ABORTED: cleaning up what it left" in again.output


def test_stop_finds_what_a_task_created_after_the_history_by_its_name(moto_url, state_file, tmp_path, monkeypatch):
    from fmgateway.lifecycle.customization.spec import suffix

    local = Local(moto_url, state_file, held(workflow(PROMOTE), "JobStatus"), "late")
    arn = local.arn.replace(":stateMachine:", ":execution:") + ":late-1"
    capacity = f"late-1-{suffix(arn)}-eval"  # what Provision names it
    listed = {"deployments": [{"customModelDeploymentName": capacity, "customModelDeploymentArn": DEPLOYMENT}]}
    fake = FakeBedrock("Completed", listed)
    monkeypatch.setattr(where.Where, "bedrock", lambda self, region=None: fake)
    _, done = stop_when_held(local, tmp_path, "late-1")
    assert done.exit_code == 0, done.output
    assert f"found evaluation capacity {DEPLOYMENT} (by its name {capacity})" in done.output
    assert f"cleaned up: evaluation capacity {DEPLOYMENT}: deleted" in done.output
    assert f"kept: custom model {MODEL}" in done.output and "aws bedrock delete-custom-model" in done.output
    assert fake.calls == [("list deployments", capacity), ("delete", DEPLOYMENT)]  # a completed job is not stopped


def test_what_local_mode_records_is_what_fmgw_reads(state_file):
    from local.environment import LocalGateway

    gateway = LocalGateway()  # not started: only what it writes
    gateway.moto_url, gateway.simulator_url = "http://127.0.0.1:1", "http://127.0.0.1:2"
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:fmgw-model-customization"
    gateway.customization = {"stateMachineArn": arn, "bucket": BUCKET, "topicArn": "t", "noticesUrl": "q"}
    gateway.write_state(state_file)
    found = where.resolve(None, environ={})
    assert (found.state_machine_arn, found.bucket, found.local["motoUrl"]) == (arn, BUCKET, "http://127.0.0.1:1")
