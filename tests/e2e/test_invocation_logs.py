"""From a request to a training dataset on a laptop (issue 21): ``FMGW_INVOCATION_LOGS=1 python -m local``, requests
through every entry point with the caller's metadata, the simulator's invocation logs in local mode's S3 bucket, and
the installed ``fmgw datasets build`` reading them by their ``s3://`` URI, as a new user would.

Every call the gateway makes to Bedrock (chat, OpenAI, streams, task routes, the Bedrock-native paths, embeddings,
jobs, the orchestrated route, a fallback) is in the logs with the gateway's five keys and the caller's pairs.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time

import boto3
import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import TEST_ENV, start_gateway, stop_gateway, wait_until
from tests.e2e.test_native import ANTHROPIC_BODY, PRIMARY_PROFILE, bedrock

GATEWAY_KEYS = {"fmgw-tenant", "fmgw-route", "fmgw-tier", "fmgw-model", "fmgw-request-id"}
BUCKET = "fmgw-local-invocation-logs"
TEAM = {"team": "search"}


def ask(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


@pytest.fixture(scope="module")
def logging_gateway():
    gateway = start_gateway(CONFIG_FILE, {"FMGW_INVOCATION_LOGS": "1", "FMGW_INVOCATION_LOGS_FLUSH_SECONDS": "0.2"})
    yield gateway
    stop_gateway(gateway)


def log_records(gw) -> list[dict]:
    moto = re.search(r"moto at (http://\S+)", gw.banner).group(1)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for entry in page.get("Contents", []):
            if entry["Key"].endswith(".json.gz") and "/data/" not in entry["Key"]:
                body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read())
                records += [json.loads(line) for line in body.decode().splitlines()]
    return records


def fmgw(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **TEST_ENV}  # the state file local mode wrote: where its moto listens
    command = [sys.executable, "-m", "fmgw", "datasets", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def traffic(logging_gateway):
    """Requests through every entry point; returns the prompts sent with team=search, and the jobs' id."""
    gw = logging_gateway
    http = gw.client()
    sent: list[str] = []

    def chat(path: str, prompt: str, **extra) -> httpx.Response:
        response = http.post(path, json={"messages": [ask(prompt)], "requestMetadata": TEAM, **extra})
        assert response.status_code == 200, response.text
        sent.append(prompt)
        return response

    chat("/v1/chat", "Plain chat about invocation logs")
    chat("/v1/classify", "A task route: classify this sentence")
    chat("/v1/chat/stream", "A stream on the native route")
    chat("/v1/chat/orchestrated", "Through the state machine", tier="simple")
    for stream in (False, True):
        prompt = f"OpenAI chat completions, stream {stream}"
        body = {
            "model": "claude-haiku-4-5",
            "messages": [{"role": "user", "content": prompt}],
            "metadata": TEAM,
            "stream": stream,
        }
        assert http.post("/v1/chat/completions", json=body).status_code == 200
        sent.append(prompt)
    client = bedrock(gw, gw.keys[-1])
    client.converse(modelId=PRIMARY_PROFILE, messages=[ask("boto3 converse")], requestMetadata=TEAM)
    list(client.converse_stream(modelId=PRIMARY_PROFILE, messages=[ask("boto3 converse stream")], requestMetadata=TEAM)["stream"])
    sent += ["boto3 converse", "boto3 converse stream"]
    body = {**ANTHROPIC_BODY, "messages": [{"role": "user", "content": [{"type": "text", "text": "boto3 invoke model"}]}]}
    client.invoke_model(modelId=PRIMARY_PROFILE, body=json.dumps(body), requestMetadata=json.dumps(TEAM))
    sent.append("boto3 invoke model")
    body["messages"][0]["content"][0]["text"] = "boto3 invoke model with response stream"
    list(client.invoke_model_with_response_stream(modelId=PRIMARY_PROFILE, body=json.dumps(body))["body"])
    # embeddings carry the metadata too (the OpenAI user as openai-user)
    assert (
        http.post("/v1/embeddings", json={"model": "titan-embed-text-v2", "input": ["a", "b"], "user": "u1"}).status_code == 200
    )
    client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "native embedding"}))
    # a fallback: the simple tier's primary refuses, its next model answers; one request, two records
    gw.fault(PRIMARY_PROFILE, errorCode="ServiceUnavailableException")
    try:
        answered = chat("/v1/chat", "A request that falls back", tier="simple")
        assert answered.json()["gateway"]["model"] == "nova-lite"
    finally:
        gw.reset_faults()
    job = http.post("/v1/jobs", json={"tier": "simple", "messages": [ask("An async job")], "requestMetadata": TEAM})
    assert job.status_code == 202, job.text
    job_id = job.json()["jobId"]
    assert wait_until(lambda: http.get(f"/v1/jobs/{job_id}").json()["status"] == "SUCCEEDED", timeout=60)
    sent.append("An async job")
    # something the filter must leave out: a request of another team
    http.post("/v1/chat", json={"messages": [ask("Another team's request")], "requestMetadata": {"team": "ads"}})
    time.sleep(1.0)  # the simulator's writer flushes every 0.2 s here
    return sent, job_id


def test_every_call_to_bedrock_carries_the_gateways_keys_and_the_callers_pairs(logging_gateway, traffic):
    sent, job_id = traffic
    records = log_records(logging_gateway)
    operations = {record["operation"] for record in records}
    assert operations == {"Converse", "ConverseStream", "InvokeModel"}  # the gateway streams through ConverseStream
    missing = [r["operation"] + " " + r["modelId"] for r in records if not set(r.get("requestMetadata", {})) >= GATEWAY_KEYS]
    assert missing == []
    embeddings = [r for r in records if "embed" in r["modelId"]]
    assert len(embeddings) >= 2 and any(r["requestMetadata"].get("openai-user") == "u1" for r in embeddings)
    assert all(r["requestMetadata"]["fmgw-route"].startswith("embeddings:") for r in embeddings)
    assert any(r["requestMetadata"]["fmgw-request-id"] == job_id and r["requestMetadata"]["team"] == "search" for r in records)
    failed = [r for r in records if "errorCode" in r]
    assert [r["errorCode"] for r in failed] == ["ServiceUnavailableException"] and "input" not in failed[0]


def test_fmgw_datasets_build_writes_exactly_the_requests_of_the_filter_one_record_each(logging_gateway, traffic, tmp_path):
    sent, _ = traffic
    out = tmp_path / "conversation"
    built = fmgw("build", "--logs", f"s3://{BUCKET}/", "--where", "team=search", "--format", "conversation",
                 "--base-model", "amazon.nova-lite-v1:0", "--out", str(out))  # fmt: skip
    assert built.returncode == 0, built.stderr + built.stdout
    lines = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    prompts = [record["messages"][0]["content"][0]["text"] for record in lines]
    assert sorted(prompts) == sorted(sent)  # the fallback's request once, the other team's not at all
    assert all(record["schemaVersion"] == "bedrock-conversation-2024" for record in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["attemptsFolded"] >= 1 and summary["dropped"]["--where team"] >= 1
    assert "records read" in built.stdout and "fewer than amazon.nova-lite-v1:0's minimum of 100" in built.stdout


@pytest.mark.parametrize(
    ("dataset_format", "base_model", "keys"),
    [
        ("fine-tuning", "anthropic.claude-3-haiku-20240307-v1:0", {"messages"}),  # its own format (+ system when sent)
        ("fine-tuning", "amazon.titan-text-express-v1", {"prompt", "completion"}),
        ("continued-pretraining", "amazon.titan-text-lite-v1", {"input"}),
    ],
)
def test_the_other_formats_from_the_same_logs(logging_gateway, traffic, tmp_path, dataset_format, base_model, keys):
    sent, _ = traffic
    built = fmgw("build", "--logs", f"s3://{BUCKET}", "--where", "team=search", "--format", dataset_format,
                 "--base-model", base_model, "--out", str(tmp_path), "--validation", "0.2", "--seed", "3")  # fmt: skip
    assert built.returncode == 0, built.stderr + built.stdout
    lines = [
        json.loads(line) for name in ("train.jsonl", "validation.jsonl") for line in (tmp_path / name).read_text().splitlines()
    ]
    assert len(lines) == len(sent) and all(keys <= set(line) <= keys | {"system"} for line in lines)
    again = fmgw("build", "--logs", f"s3://{BUCKET}", "--where", "team=search", "--format", dataset_format,
                 "--base-model", base_model, "--out", str(tmp_path / "again"), "--validation", "0.2", "--seed", "3")  # fmt: skip
    assert again.returncode == 0
    assert (tmp_path / "again" / "validation.jsonl").read_text() == (tmp_path / "validation.jsonl").read_text()


def test_bad_input_is_refused_with_a_reason(logging_gateway, traffic, tmp_path):
    unknown = fmgw("build", "--logs", f"s3://{BUCKET}", "--format", "fine-tuning", "--base-model", "claude-sonnet-4-5",
                   "--out", str(tmp_path))  # fmt: skip
    assert unknown.returncode == 2 and "not a base model that Bedrock customizes" in unknown.stderr
    wrong_type = fmgw("build", "--logs", f"s3://{BUCKET}", "--format", "continued-pretraining",
                      "--base-model", "amazon.nova-lite-v1:0", "--out", str(tmp_path))  # fmt: skip
    assert wrong_type.returncode == 2 and "does not take CONTINUED_PRE_TRAINING" in wrong_type.stderr
    no_folder = fmgw("build", "--logs", str(tmp_path / "nowhere"), "--format", "fine-tuning",
                     "--base-model", "amazon.titan-text-express-v1", "--out", str(tmp_path))  # fmt: skip
    assert no_folder.returncode == 2 and "neither an s3:// URI nor a folder" in no_folder.stderr
    bad_where = fmgw("build", "--logs", f"s3://{BUCKET}", "--where", "team", "--format", "fine-tuning",
                     "--base-model", "amazon.titan-text-express-v1", "--out", str(tmp_path))  # fmt: skip
    assert bad_where.returncode == 2 and "expected KEY=VALUE" in bad_where.stderr
