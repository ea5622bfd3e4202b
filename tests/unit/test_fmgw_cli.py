"""``fmgw``: the command tree answers --help, the gateway a command talks to (flag > environment > local mode), local
mode's address and key as local mode defines them, and the jobs client's request handling without a gateway."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from fmgw import target
from fmgw.__main__ import app
from fmgw.jobs import client as jobs
from fmgw.jobs import commands
from fmgw.jobs.client import JobsClient
from fmgw.target import Target, resolve
from tests.conftest import CONFIG_FILE, ROOT

runner = CliRunner()
GATEWAY_ENV = (target.URL_ENV, target.KEY_ENV, target.LOCAL_KEY_ENV)


@pytest.fixture(autouse=True)
def no_gateway_env(monkeypatch):
    for name in GATEWAY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "args",
    [[], ["jobs"], ["route"], ["models"], ["jobs", "run"], ["jobs", "submit"], ["jobs", "status"], ["jobs", "wait"]]
    + [["jobs", "cancel"], ["route", "score"], ["models", "access"]],
)
def test_every_command_answers_help(args):
    done = runner.invoke(app, [*args, "--help"])
    assert done.exit_code == 0, done.output
    assert "Usage:" in done.output


def test_python_m_fmgw_help_runs_in_a_fresh_interpreter():
    for args in (["--help"], ["jobs", "--help"], ["route", "score", "--help"]):
        done = subprocess.run([sys.executable, "-m", "fmgw", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


def test_resolution_is_flag_then_environment_then_local_mode():
    env = {
        target.URL_ENV: "https://gw.example.com/prod/",
        target.KEY_ENV: "env-key",
        target.LOCAL_KEY_ENV: "local-custom-key-000",
    }
    assert resolve("https://flag.example.com", "flag-key", env) == Target("https://flag.example.com", "flag-key")
    assert resolve(None, None, env) == Target("https://gw.example.com/prod", "env-key")  # no trailing slash
    assert resolve(None, None, {target.LOCAL_KEY_ENV: "local-custom-key-000"}) == Target(target.LOCAL_URL, "local-custom-key-000")
    assert resolve(None, None, {}) == Target("http://127.0.0.1:8080", "fmgw-local-standard-key")
    assert resolve("", "", {target.URL_ENV: "https://env"}).url == "https://env"  # an empty flag is no flag


class Recorder:
    """Stands in for JobsClient: records the target, answers status with a fixed job."""

    targets: list[Target] = []

    def __init__(self, gateway: Target):
        self.targets.append(gateway)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def status(self, job_id: str) -> dict:
        return {"jobId": job_id, "status": "QUEUED"}


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ([], {}, Target(target.LOCAL_URL, target.LOCAL_API_KEY)),
        ([], {"FMGW_URL": "https://env.example.com", "FMGW_API_KEY": "env-key"}, Target("https://env.example.com", "env-key")),
        (
            ["--url", "https://flag.example.com", "--key", "flag-key"],
            {"FMGW_URL": "https://env.example.com", "FMGW_API_KEY": "env-key"},
            Target("https://flag.example.com", "flag-key"),
        ),
        (["--key", "flag-key"], {"FMGW_URL": "https://env.example.com"}, Target("https://env.example.com", "flag-key")),
    ],
)
def test_commands_talk_to_the_resolved_gateway(monkeypatch, flags, env, expected):
    monkeypatch.setattr(commands, "JobsClient", Recorder)
    Recorder.targets = []
    done = runner.invoke(app, ["jobs", "status", "job123", *flags], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"jobId": "job123", "status": "QUEUED"}
    assert Recorder.targets == [expected]


def test_local_defaults_are_what_local_mode_sets():
    from local.environment import LocalGateway, default_keys

    plans = json.loads(CONFIG_FILE.read_text())["plans"]
    assert next(iter(default_keys(plans))) == target.LOCAL_API_KEY  # the first plan's key, FMGW_LOCAL_API_KEY unset
    port = int(target.LOCAL_URL.rsplit(":", 1)[1])
    assert inspect.signature(LocalGateway).parameters["port"].default == port
    assert inspect.signature(LocalGateway).parameters["host"].default == "127.0.0.1" == httpx.URL(target.LOCAL_URL).host
    main = (ROOT / "local" / "__main__.py").read_text()  # python -m local --port: FMGW_PORT, else this default
    assert re.search(r'"FMGW_PORT", "(\d+)"', main).group(1) == str(port)


def test_bodies_fill_in_tier_and_model_and_keep_full_bodies(tmp_path):
    file = tmp_path / "in.jsonl"
    file.write_text(
        '{"prompt": "a", "metadata": {"n": 1}}\n\n{"messages": [{"role": "user", "content": "b"}], "tier": "complex"}\n'
    )
    bodies = jobs.bodies(jobs.read_items(file, ["c"]), tier="simple", model=None)
    assert bodies == [
        {"messages": [{"role": "user", "content": [{"text": "a"}]}], "metadata": {"n": 1}, "tier": "simple"},
        {"messages": [{"role": "user", "content": "b"}], "tier": "complex"},
        {"messages": [{"role": "user", "content": [{"text": "c"}]}], "tier": "simple"},
    ]
    assert jobs.idempotency_key(bodies[0]) == jobs.idempotency_key(json.loads(json.dumps(bodies[0])))
    assert jobs.idempotency_key(bodies[0]) != jobs.idempotency_key(bodies[0], "again")
    with pytest.raises(jobs.UsageError, match="nothing to submit"):
        jobs.bodies([])
    with pytest.raises(jobs.UsageError, match="'prompt' or 'messages'"):
        jobs.bodies([{"prompt": ""}])
    file.write_text("[1]\n")
    with pytest.raises(jobs.UsageError, match=":1: each line must be a JSON object"):
        jobs.read_items(file, [])


def test_the_client_waits_out_throttling_and_reports_gateway_errors():
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.method == "POST":
            if len(calls) < 3:
                return httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"message": "slow down"}})
            return httpx.Response(202, json={"jobId": "j1", "status": "QUEUED", "statusUrl": "/v1/jobs/j1"})
        if request.method == "DELETE":
            return httpx.Response(409, json={"error": {"type": "conflict", "message": "job j1 is RUNNING"}})
        return httpx.Response(503, text="upstream")

    slept: list[float] = []
    gateway = JobsClient(Target("http://gw", "k" * 20), sleep=slept.append, transport=httpx.MockTransport(answer))
    assert gateway.submit({"messages": []}, "idem")["jobId"] == "j1"
    assert slept == [2.0, 2.0] and {r.headers["Idempotency-Key"] for r in calls} == {"idem"}
    assert all(r.headers["x-api-key"] == "k" * 20 for r in calls)
    with pytest.raises(jobs.GatewayError, match="409: job j1 is RUNNING") as refused:
        gateway.cancel("j1")
    assert refused.value.exit_code == jobs.FAILED
    with pytest.raises(jobs.GatewayError, match="503: upstream") as failed:
        gateway.status("j/../x")
    assert failed.value.exit_code == jobs.UNUSABLE
    assert calls[-1].url.raw_path == b"/v1/jobs/j%2F..%2Fx"  # a job id never leaves /v1/jobs/


def test_records_carry_the_answer_text():
    view = {"jobId": "j1", "status": "SUCCEEDED", "error": None}
    result = {"output": {"message": {"content": [{"text": "Hello"}, {"text": " there"}]}}}
    assert jobs.record(view, result, {"messages": []}) == {
        "jobId": "j1",
        "status": "SUCCEEDED",
        "input": {"messages": []},
        "text": "Hello there",
        "result": result,
        "error": None,
    }
    assert "input" not in jobs.record(view, None)
