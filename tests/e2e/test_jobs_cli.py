"""The jobs CLI against the local gateway: submit a JSONL file, watch, collect; the pipeline runs locally."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def cli(gateway, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fmgateway.cli", "jobs", "--url", gateway.url, "--key", gateway.keys[-1], *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "lambdas"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_runs_a_jsonl_file_end_to_end(local_gateway, tmp_path):
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
    done = cli(local_gateway, "--file", str(prompts), "--out", str(out), "--poll-interval", "0.2")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 3
    assert all(r["text"].startswith("[simulated ") for r in results)
    assert results[2]["result"]["gateway"]["route"] == "tier:complex"
    assert "3 succeeded, 0 failed" in done.stderr and "3/3 done" in done.stderr  # the progress bar

    again = cli(local_gateway, "--file", str(prompts), "--out", str(tmp_path / "again.jsonl"), "--quiet")
    assert again.returncode == 0
    assert [json.loads(line)["jobId"] for line in (tmp_path / "again.jsonl").read_text().splitlines()] == [
        r["jobId"] for r in results
    ]  # idempotent: the same jobs, not new ones


def test_cli_exit_code_is_nonzero_when_a_job_fails(local_gateway):
    local_gateway.fault("*", down=True)
    try:
        done = cli(local_gateway, "--prompt", "This one cannot succeed", "--poll-interval", "0.3", "--quiet")
    finally:
        local_gateway.reset_faults()
    assert done.returncode == 1
    record = json.loads(done.stdout.splitlines()[0])
    assert record["status"] == "FAILED" and record["error"]["type"] == "poisoned"


def test_cli_reports_usage_errors(local_gateway):
    done = cli(local_gateway)
    assert done.returncode != 0 and "nothing to submit" in done.stderr


def test_the_readme_example_runs_as_printed(local_gateway, tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("The client CLI submits") :]
    block = section[section.index("```bash\n") + len("```bash\n") : section.index("```", section.index("```bash\n") + 7)]
    assert "http://127.0.0.1:8080" in block and "--key fmgw-local-standard-key" in block
    assert local_gateway.key == "fmgw-local-standard-key"  # what make local prints for the standard plan
    script = block.replace("http://127.0.0.1:8080", local_gateway.url)  # the test gateway's port, nothing else
    for name in (".venv", "lambdas"):  # the repository root, without writing prompts.jsonl into it
        (tmp_path / name).symlink_to(ROOT / name)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"]
