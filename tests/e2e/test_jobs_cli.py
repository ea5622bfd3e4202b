"""``fmgw jobs`` against the local gateway: run a JSONL file end to end, and submit/status/wait/cancel one job at a
time; the pipeline runs locally."""

import json
import os
import subprocess
import sys

import httpx

from fmgw import target
from tests.conftest import ROOT
from tests.e2e.conftest import wait_until

# python -m fmgw from the repository root, lambdas/ on the path: the same code as .venv/bin/fmgw, with or without
# `make install` (test_the_readme_example_runs_as_printed runs the installed command)
FMGW_ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambdas")]), "PATH": "/usr/bin:/bin"}


def fmgw(*args: str, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fmgw", *args],
        cwd=ROOT,
        env={**FMGW_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def jobs(gateway, command: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return fmgw("jobs", command, "--url", gateway.url, "--key", gateway.keys[-1], *args, timeout=timeout)


def test_run_takes_a_jsonl_file_end_to_end(local_gateway, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(
            json.dumps(item)
            for item in (
                {"prompt": "Write a haiku about queues", "metadata": {"n": 1}},
                {"prompt": "Name three prime numbers"},
                {"messages": [{"role": "user", "content": [{"text": "Explain idempotency"}]}], "tier": "complex"},
            )
        )
    )
    out = tmp_path / "results.jsonl"
    done = jobs(local_gateway, "run", "--file", str(prompts), "--out", str(out), "--poll-interval", "0.2")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 3
    assert all(r["text"].startswith("[simulated ") for r in results)
    assert results[0]["input"]["metadata"] == {"n": 1}
    assert results[2]["result"]["gateway"]["route"] == "tier:complex"
    assert "3 succeeded, 0 failed" in done.stderr and "3/3 done, 0 failed" in done.stderr  # the progress bar

    again = jobs(local_gateway, "run", "--file", str(prompts), "--out", str(tmp_path / "again.jsonl"), "--quiet")
    assert again.returncode == 0
    assert "done" not in again.stderr  # --quiet: no progress bar
    assert [json.loads(line)["jobId"] for line in (tmp_path / "again.jsonl").read_text().splitlines()] == [
        r["jobId"] for r in results
    ]  # idempotent: the same jobs, not new ones

    submitted = jobs(local_gateway, "submit", "--file", str(prompts))
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.split() == [r["jobId"] for r in results]  # submit derives the same idempotency keys


def test_run_exit_code_is_1_when_a_job_fails(local_gateway):
    local_gateway.fault("*", down=True)
    try:
        done = jobs(local_gateway, "run", "--prompt", "This one cannot succeed", "--poll-interval", "0.3", "--quiet")
    finally:
        local_gateway.reset_faults()
    assert done.returncode == 1
    record = json.loads(done.stdout.splitlines()[0])
    assert record["status"] == "FAILED" and record["error"]["code"] == "poisoned"


def test_usage_and_connection_errors_exit_2(local_gateway, tmp_path):
    done = jobs(local_gateway, "run")
    assert done.returncode == 2 and "nothing to submit" in done.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\nnot json\n')
    done = jobs(local_gateway, "submit", "--file", str(bad))
    assert done.returncode == 2 and f"{bad}:2: not JSON" in done.stderr
    done = fmgw("jobs", "status", "abc", "--url", "http://127.0.0.1:9", "--key", local_gateway.key)
    assert done.returncode == 2 and "cannot reach the gateway at http://127.0.0.1:9" in done.stderr


def slow_models(gateway, milliseconds: int) -> None:
    """Every simulated model answers after ``milliseconds`` (until ``reset_faults``): each latency entry of the
    simulator's settings, since a model's most specific entry is the one that counts."""
    patterns = httpx.get(f"{gateway.simulator}/_sim/config", timeout=5).json()["latency"]
    for pattern in patterns:
        body = {"model": pattern, "fixedMs": milliseconds}
        httpx.post(f"{gateway.simulator}/_sim/latency", json=body, timeout=5).raise_for_status()


def test_run_times_out_with_exit_code_3(local_gateway):
    slow_models(local_gateway, 5000)
    try:
        done = jobs(local_gateway, "run", "--prompt", "Too slow to wait for", "--timeout", "0.5", "--quiet")
    finally:
        local_gateway.reset_faults()
    assert done.returncode == 3, done.stderr
    assert "timed out after 0.5 s with 1 jobs unfinished" in done.stderr


def test_submit_status_wait(local_gateway):
    submitted = jobs(
        local_gateway, "submit", "--prompt", "Name three prime numbers", "--prompt", "Explain queues", "--tier", "simple"
    )
    assert submitted.returncode == 0, submitted.stderr
    ids = submitted.stdout.split()
    assert len(ids) == 2 and len(set(ids)) == 2

    status = jobs(local_gateway, "status", ids[0])
    assert status.returncode == 0, status.stderr
    view = json.loads(status.stdout)
    assert view["jobId"] == ids[0] and view["status"] in ("QUEUED", "RUNNING", "SUCCEEDED")

    for job_id in ids:
        waited = jobs(local_gateway, "wait", job_id, "--poll-interval", "0.2")
        assert waited.returncode == 0, waited.stderr
        record = json.loads(waited.stdout)
        assert record["jobId"] == job_id and record["status"] == "SUCCEEDED"
        assert record["text"].startswith("[simulated ") and record["result"]["gateway"]["route"] == "tier:simple"

    assert json.loads(jobs(local_gateway, "status", ids[1]).stdout)["status"] == "SUCCEEDED"
    cancelled = jobs(local_gateway, "cancel", ids[1])  # finished: cannot be cancelled
    assert cancelled.returncode == 1 and "409" in cancelled.stderr and "SUCCEEDED" in cancelled.stderr

    unknown = jobs(local_gateway, "status", "nosuchjob")
    assert unknown.returncode == 1 and "404" in unknown.stderr


def test_cancel_a_queued_job(local_gateway):
    # The local worker takes one batch at a time: while a slow job runs, a job submitted after it stays QUEUED.
    slow_models(local_gateway, 8000)
    try:
        (busy,) = jobs(local_gateway, "submit", "--prompt", "Keep the worker busy").stdout.split()
        with local_gateway.client() as client:
            assert wait_until(lambda: client.get(f"/v1/jobs/{busy}").json()["status"] == "RUNNING", timeout=30)
        refused = jobs(local_gateway, "cancel", busy)  # running: only a job that has not started can be cancelled
        assert refused.returncode == 1 and "409" in refused.stderr and "RUNNING" in refused.stderr

        submitted = jobs(local_gateway, "submit", "--prompt", "Cancel me before I start")
        assert submitted.returncode == 0, submitted.stderr
        (queued,) = submitted.stdout.split()
        cancelled = jobs(local_gateway, "cancel", queued)
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout)["status"] == "CANCELLED"
    finally:
        local_gateway.reset_faults()
    assert json.loads(jobs(local_gateway, "status", queued).stdout)["status"] == "CANCELLED"
    waited = jobs(local_gateway, "wait", queued, "--quiet")
    assert waited.returncode == 1 and json.loads(waited.stdout)["status"] == "CANCELLED"
    assert jobs(local_gateway, "wait", busy, "--quiet", "--poll-interval", "0.2").returncode == 0


def test_url_and_key_default_to_the_environment_then_to_local_mode(local_gateway):
    assert target.LOCAL_API_KEY in local_gateway.keys  # what the local gateway really accepts
    by_env = fmgw("jobs", "submit", "--prompt", "From the environment", env={"FMGW_URL": local_gateway.url})
    assert by_env.returncode == 0, by_env.stderr  # key: the local default
    bad_key = fmgw(
        "jobs", "submit", "--prompt", "x", env={"FMGW_URL": local_gateway.url, "FMGW_API_KEY": "not-a-key-at-all-0000"}
    )
    assert bad_key.returncode == 1 and "403" in bad_key.stderr
    flag_wins = fmgw(
        "jobs", "submit", "--prompt", "x", "--key", local_gateway.key, env={"FMGW_URL": local_gateway.url, "FMGW_API_KEY": "nope"}
    )
    assert flag_wins.returncode == 0, flag_wins.stderr


def test_the_readme_example_runs_as_printed(local_gateway, tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("`fmgw jobs run` submits") :]
    block = section[section.index("```bash\n") + len("```bash\n") : section.index("```", section.index("```bash\n") + 7)]
    assert ".venv/bin/fmgw jobs run" in block and "--url" not in block and "--key" not in block  # make local's defaults
    assert local_gateway.key == target.LOCAL_API_KEY  # what make local prints for the standard plan
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the repository root, without writing prompts.jsonl into it
    env = {"PATH": "/usr/bin:/bin", "FMGW_URL": local_gateway.url}  # the test gateway's port, nothing else
    done = subprocess.run(["bash", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"]
