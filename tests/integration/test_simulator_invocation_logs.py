"""The simulator writes Bedrock's invocation logs (issue 21) in exactly the format of the documentation-sourced fixtures:
the same calls as the four fixtures, made through an unmodified boto3 client, leave records with the fixtures' keys
and types, and the datasets built from them equal the datasets built from the fixtures."""

from __future__ import annotations

import gzip
import json

import pytest

from fmgateway.lifecycle import datasets, invocation_logs
from fmgateway.lifecycle.invocation_logs import FolderObjects
from local.bedrock_simulator import BedrockSimulator
from local.simulator_invocation_logs import LARGE_BODY_BYTES, InvocationLogWriter
from tests.unit.test_datasets import NAMES, fixture, write_logs

BUCKET = "fmgw-invocation-logs-123456789012-us-east-1"


def answer_text(raw: dict) -> str:
    body = raw["output"]["outputBodyJson"]
    if "content" in body:  # Anthropic's InvokeModel answer
        return body["content"][0]["text"]
    return body["output"]["message"]["content"][0]["text"]


def input_body(name: str) -> dict:
    raw = fixture(name)
    if "inputBodyJson" in raw["input"]:
        return raw["input"]["inputBodyJson"]
    from tests.unit.test_datasets import FIXTURES

    return json.loads((FIXTURES / "large_body_input.json").read_text())


def simulate(tmp_path) -> FolderObjects:
    """The four fixtures' calls through the simulator (answering each with the fixture's text), logged to a folder."""
    objects = FolderObjects(tmp_path / "sim")
    writer = InvocationLogWriter(objects.write, BUCKET, flush_seconds=60)
    with BedrockSimulator(use_env=False, invocation_logs=writer) as sim:
        client = sim.client()
        for name in NAMES:
            raw = fixture(name)
            sim.configure(replies={raw["modelId"]: answer_text(raw)})
            body, metadata = input_body(name), raw["requestMetadata"]
            if raw["operation"] == "InvokeModel":
                client.invoke_model(modelId=raw["modelId"], body=json.dumps(body), requestMetadata=json.dumps(metadata))
            elif raw["operation"] == "ConverseStream":
                response = client.converse_stream(modelId=raw["modelId"], **body, requestMetadata=metadata)
                list(response["stream"])
            else:
                client.converse(modelId=raw["modelId"], **body, requestMetadata=metadata)
    return objects


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    objects = simulate(tmp_path_factory.mktemp("logs"))
    return objects, list(invocation_logs.read_records(objects, ""))


def raw_records(objects: FolderObjects) -> list[dict]:
    lines = []
    for key in objects.keys(""):
        if invocation_logs.is_log_object(key):
            lines += gzip.decompress(objects.read(key)).decode().splitlines()
    return [json.loads(line) for line in lines]


def shape(value, optional=("inferenceRegion",)):
    """Keys and value types, recursively through objects (a body's own content is the model's, not the log's)."""
    if isinstance(value, dict):
        return {k: (type(v).__name__ if k.endswith("BodyJson") else shape(v)) for k, v in value.items() if k not in optional}
    return type(value).__name__


def test_the_simulators_records_have_exactly_the_fixtures_keys_and_types(logged):
    objects, _ = logged
    records = raw_records(objects)
    assert [r["operation"] for r in records] == [fixture(name)["operation"] for name in NAMES]
    for name, produced in zip(NAMES, records, strict=True):
        assert shape(produced) == shape(fixture(name)), name


def test_the_layout_is_bedrocks_and_a_large_body_is_its_own_object(logged):
    objects, records = logged
    keys = list(objects.keys(""))
    root = "AWSLogs/123456789012/BedrockModelInvocationLogs/"
    assert f"{root}amazon-bedrock-logs-permission-check" in keys
    logs = [key for key in keys if invocation_logs.is_log_object(key)]
    assert logs and all(key.startswith(f"{root}us-east-1/") and key.endswith(".json.gz") for key in logs)
    (data,) = [key for key in keys if "/data/" in key]
    assert data.endswith("_input.json.gz") and len(gzip.decompress(objects.read(data))) > LARGE_BODY_BYTES
    large = raw_records(objects)[3]
    assert large["input"]["inputBodyS3Path"] == f"s3://{BUCKET}/{data}" and "inputBodyJson" not in large["input"]
    assert records[3].input_body == input_body("large_body")


@pytest.mark.parametrize(
    ("dataset_format", "base_model"),
    [
        ("conversation", "amazon.nova-lite-v1:0"),
        ("fine-tuning", "amazon.titan-text-express-v1"),
        ("fine-tuning", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("continued-pretraining", "amazon.titan-text-lite-v1"),
    ],
)
def test_the_fixtures_and_the_simulators_records_of_the_same_calls_make_the_same_dataset(
    logged, tmp_path, dataset_format, base_model
):
    write_logs(tmp_path / "fixtures", [fixture(name) for name in NAMES])
    from_fixtures = invocation_logs.read_records(*invocation_logs.folder_source(tmp_path / "fixtures"))
    options = datasets.Options(dataset_format, base_model)
    expected = datasets.build(from_fixtures, datasets.Filters(), options)
    _, records = logged
    produced = datasets.build(records, datasets.Filters(), options)
    assert produced.train == expected.train and len(expected.train) >= 3
    assert [r.rule.split(" ")[-1] for r in produced.summary.refusals] == [
        r.rule.split(" ")[-1] for r in expected.summary.refusals
    ]


def test_a_failed_call_is_logged_with_its_error_code_and_metadata(tmp_path):
    objects = FolderObjects(tmp_path)
    writer = InvocationLogWriter(objects.write, BUCKET, flush_seconds=60)
    with BedrockSimulator(use_env=False, invocation_logs=writer) as sim:
        sim.set_faults("*", errorCode="ThrottlingException")
        with pytest.raises(Exception, match="Throttling"):
            sim.client().converse(
                modelId="us.amazon.nova-lite-v1:0",
                messages=[{"role": "user", "content": [{"text": "hi"}]}],
                requestMetadata={"fmgw-request-id": "r1"},
            )
    (produced,) = raw_records(objects)
    assert produced["errorCode"] == "ThrottlingException" and "input" not in produced and "output" not in produced
    assert produced["requestMetadata"] == {"fmgw-request-id": "r1"}
