"""From logged traffic to a decision on a laptop (issue 24), as README's "Customization" shows it:
``FMGW_INVOCATION_LOGS=1 python -m local``, chat requests tagged by the caller's ``requestMetadata`` (a subset with
``team=support``), then the installed CLI, ``fmgw customize start config/customization/distill-support.json``, runs the
whole distillation through the workflow in local mode's moto (validate, the simulator's job reading the logs through
the filters, an on-demand deployment for evaluation, the evaluation against the simple tier's model, the decision,
the report in S3, the notice). A second run with traffic expected too low to pay for the capacity is rejected by cost
and its capacity deleted; a third is stopped while its job runs, and stop stops the job.

The simulator is told what the teacher answers on the evaluation set (``replies``), so the distilled model (which
answers as its teacher) scores 1.0 and the baseline, whose answers are the simulator's own text, 0.0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import pytest

from tests.conftest import CONFIG_FILE, ROOT
from tests.e2e.conftest import TEST_ENV, start_gateway, stop_gateway, wait_until

SPEC = ROOT / "config" / "customization" / "distill-support.json"
EVAL_SET = ROOT / "config" / "customization" / "support-eval.jsonl"
SUPPORT, OTHER = 110, 20  # Bedrock's minimum for a distillation is 100 prompts


@pytest.fixture(scope="module")
def gw():
    gateway = start_gateway(CONFIG_FILE, {"FMGW_INVOCATION_LOGS": "1", "FMGW_INVOCATION_LOGS_FLUSH_SECONDS": "0.2"})
    yield gateway
    stop_gateway(gateway)


def moto(gw, service: str):
    url = re.search(r"moto at (http://\S+)", gw.banner).group(1)
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def fmgw(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, **TEST_ENV}  # the state file the test gateway wrote: its moto, simulator and state machine
    command = [sys.executable, "-m", "fmgw", "customize", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def traffic(gw):
    """Chat requests, most tagged team=support (what the spec's filter matches); the support requests' ids."""

    http = gw.client()  # the premium plan's key: 100 requests a second

    def send(index: int) -> tuple[str, str]:
        team = "support" if index < SUPPORT else "ads"
        body = {
            "tier": "complex",
            "messages": [{"role": "user", "content": [{"text": f"Ticket {index}: how do I change my billing address?"}]}],
            "requestMetadata": {"team": team},
        }
        answer = http.post("/v1/chat", json=body)
        assert answer.status_code == 200, answer.text
        return team, answer.headers["x-amzn-RequestId"]

    with http, ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(send, range(SUPPORT + OTHER)))
    replies = {json.loads(line)["prompt"]: json.loads(line)["expected"] for line in EVAL_SET.read_text().splitlines()}
    httpx.put(f"{gw.simulator}/_sim/config", json={"replies": {"*nova-pro*": replies}}, timeout=5).raise_for_status()
    time.sleep(1.0)  # the simulator's log writer flushes every 0.2 s here
    return sorted(request for team, request in sent if team == "support")


def simulator(gw, what: str) -> dict:
    return httpx.get(f"{gw.simulator}/_sim/{what}", timeout=5).json()


def report(gw, uri: str) -> dict:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(moto(gw, "s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_distillation_from_logged_traffic_is_promoted(gw, traffic):
    name = f"e2e-promote-{os.getpid()}"
    started = time.monotonic()
    run = fmgw("start", str(SPEC), "--name", name, "--poll-seconds", "0.5")
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert f"uploaded {EVAL_SET} to s3://fmgw-local-customization/evaluation/{name}/support-eval.jsonl" in out
    assert "WaitForJob · job InProgress" in out and f"{name}: PROMOTE after" in out
    assert re.search(rf"{name}\s+│ candidate │\s+1\.000", out) and re.search(r"claude-haiku-4-5\s+│ baseline\s+│\s+0\.000", out)
    uri = f"s3://fmgw-local-customization/reports/{name}/report.json"
    assert f"report: {uri}" in out and f"proposed catalog entry: models.{name}" in out
    written = report(gw, uri)
    assert written["decision"] == "promote" and written["baseline"] == "claude-haiku-4-5"
    proposed = written["proposedCatalogEntry"]  # the custom model, its capacity deleted: the command that serves it
    assert proposed["entry"]["customModelArn"] == written["customModelArn"] and proposed["servedBy"] is None
    assert proposed["toServe"] == f"fmgw models provision {name} --on-demand --switch"
    assert written["capacity"]["afterRun"] == "deleted"
    (job,) = [job for job in simulator(gw, "customization")["jobs"] if job["jobName"].startswith(name)]
    used = job["trainingDataUsed"]
    assert (job["status"], used["kind"], used["records"]) == ("Completed", "invocationLogs", SUPPORT)
    assert sorted(used["requestIds"]) == traffic  # exactly the requests the filter matches, once each
    assert wait_until(lambda: any(f"[customization] FM Gateway customization {name}: promote" in line for line in gw.output), 5)
    print(f"\ndistillation from logs to a promote decision: {seconds:.1f} s (CLI start to report)")
    listed = json.loads(fmgw("list", "--json").stdout)
    assert {"name": name, "status": "SUCCEEDED", "decision": "promote"}.items() <= next(
        r for r in listed if r["name"] == name
    ).items()


def test_a_candidate_too_dear_for_the_expected_traffic_is_rejected_and_its_capacity_deleted(gw, traffic, tmp_path):
    spec = json.loads(SPEC.read_text())
    spec["evaluation"] |= {"s3Uri": str(EVAL_SET), "expectedRequestsPerHour": 10}  # $2 an hour over 10 requests
    path = tmp_path / "dear.json"
    path.write_text(json.dumps(spec))
    name = f"e2e-reject-{os.getpid()}"
    run = fmgw("start", str(path), "--name", name, "--poll-seconds", "0.5")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{name}: REJECT after" in run.stdout and "(not cheaper)" in run.stdout
    written = report(gw, f"s3://fmgw-local-customization/reports/{name}/report.json")
    assert written["decision"] == "reject" and written["capacity"]["afterRun"] == "deleted"
    assert "delete-custom-model --model-identifier" in run.stdout  # the custom model is kept, its deletion printed
    capacity = simulator(gw, "capacity")["customModelDeployments"]
    assert [item for item in capacity if item["customModelDeploymentName"].startswith(name)] == []


def test_stop_stops_the_running_job(gw, traffic):
    httpx.put(f"{gw.simulator}/_sim/config", json={"customization": {"jobSeconds": 60}}, timeout=5).raise_for_status()
    name = f"e2e-stop-{os.getpid()}"

    def job() -> dict | None:
        return next((job for job in simulator(gw, "customization")["jobs"] if job["jobName"].startswith(name)), None)

    try:
        assert fmgw("start", str(SPEC), "--name", name, "--no-wait").returncode == 0
        assert wait_until(lambda: (job() or {}).get("status") == "InProgress", 20, 0.2)
        stopped = fmgw("stop", name)
    finally:
        httpx.put(f"{gw.simulator}/_sim/config", json={"customization": {"jobSeconds": 3}}, timeout=5)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"stopped {name} in " in stopped.stdout and f"cleaned up: job {job()['jobArn']}: stopped" in stopped.stdout
    assert job()["status"] in ("Stopping", "Stopped")
