"""The customization workflow end to end in one process (issue 24): ``statemachines/model-customization.asl.json`` in
moto's Step Functions interpreter, its Lambda task running the real handler (``handlers.customization_tasks``) through
the local harness (``local/customization.py``), S3 / SNS / SQS in moto, and Bedrock's customization jobs, capacity and
models from the simulator over HTTP (its jobs really read the invocation logs in moto's S3).

A distillation from invocation logs is promoted (the job used exactly the records the filters match); a worse
candidate is rejected; a failed job, an invalid dataset, too few matching records, a base model that does not take the
type and a job past its maximum each end FAILED with their named error and a notice; no evaluation capacity is left
behind (a promoted model's capacity is the one its proposed catalog entry names)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from local import customization
from local.bedrock_simulator import BedrockSimulator
from local.simulator_invocation_logs import InvocationLogWriter
from local.step_functions import MOTO_SFN_CONFIG
from tests.conftest import CONFIG_FILE

LOGS_BUCKET = "fmgw-test-invocation-logs"
MINIMUM = 100  # Bedrock's minimum of distillation prompts, in the task and the simulator alike
SIM_SETTINGS = {"customization": {"jobSeconds": 1, "minimumRecords": MINIMUM}, "capacity": {"provisioningSeconds": 0.5}}
QUESTIONS = {
    "What is the capital of France?": "Paris",
    "How many legs has a spider?": "eight",
    "What colour is the sky?": "blue",
    "Which planet is the largest?": "Jupiter",
}
FILTERS = {"andAll": [{"equals": {"team": "support"}}, {"notEquals": {"fmgw-tenant": "load-test"}}]}
POLLING = {"jobSeconds": 1, "jobMaxSeconds": 120, "capacitySeconds": 1, "capacityMaxSeconds": 60}


class Stack:
    """The deployed workflow in moto, the simulator, and the queue subscribed to the notices."""

    def __init__(self, sim: BedrockSimulator, env: dict):
        self.sim = sim
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")
        self.s3 = boto3.client("s3", region_name="us-east-1")
        sns, self.sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        self.deployment = customization.deploy(self.sfn, sns, self.s3, env)
        self.queue = self.sqs.create_queue(QueueName="customization-notices")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.deployment.topic_arn, Protocol="sqs", Endpoint=arn)
        self.bucket = self.deployment.bucket

    def put(self, key: str, text: str) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode())
        return f"s3://{self.bucket}/{key}"

    def run(self, spec: dict) -> dict:
        self.notices()  # only this run's notices from here on
        arn = customization.start(self.sfn, self.deployment, spec)
        described = customization.wait(self.sfn, arn, timeout=60)
        assert described["status"] in ("SUCCEEDED", "FAILED"), described
        return described

    def notices(self) -> list[dict]:
        received = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = [json.loads(message["Body"]) for message in received.get("Messages", [])]
        for message in received.get("Messages", []):
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def report(self, uri: str) -> dict:
        bucket, _, key = uri[5:].partition("/")
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def capacity_left(self, run: str) -> list[str]:
        """The ARNs of the capacity the simulator still has for a run (its resources are named after it)."""
        found = self.sim.capacity()
        return [
            item.get("provisionedModelArn") or item.get("customModelDeploymentArn")
            for kind, name in (
                ("provisionedModelThroughputs", "provisionedModelName"),
                ("customModelDeployments", "customModelDeploymentName"),
            )
            for item in found.get(kind, [])
            if item[name].startswith(f"{run}-")
        ]


def write_logs(s3) -> list[str]:
    """Invocation logs as Bedrock writes them: 120 support calls that the filters match, 10 of the support team's load
    test, 15 of another team, 3 failed support calls; returns the request ids of the matching ones, in order."""
    s3.create_bucket(Bucket=LOGS_BUCKET)
    writer = InvocationLogWriter(lambda key, data: s3.put_object(Bucket=LOGS_BUCKET, Key=key, Body=data), LOGS_BUCKET)
    matching = []
    kinds = [("support", "tenant-a", None)] * 120 + [("support", "load-test", None)] * 10
    kinds += [("search", "tenant-b", None)] * 15 + [("support", "tenant-a", "ThrottlingException")] * 3
    for index, (team, tenant, error) in enumerate(kinds):
        request_id = f"req-{index:04d}"
        metadata = {"team": team, "fmgw-tenant": tenant, "fmgw-request-id": request_id, "fmgw-route": "tier:simple"}
        prompt = f"Customer question {index}: where is my order?"
        call = None
        if error is None:
            answer = {"output": {"message": {"role": "assistant", "content": [{"text": "It ships tomorrow."}]}}}
            call = ({"messages": [{"role": "user", "content": [{"text": prompt}]}]}, answer, 9, 4)
        writer.record("converse", "us.amazon.nova-pro-v1:0", f"bedrock-{index}", "us-east-1", metadata, call, error)
        if error is None and team == "support" and tenant != "load-test":
            matching.append(request_id)
        if index % 40 == 39:
            writer.flush()  # several log objects, as Bedrock delivers them
    writer.flush()
    return matching


@pytest.fixture(scope="module")
def stack():
    with mock_aws(config=MOTO_SFN_CONFIG), BedrockSimulator(SIM_SETTINGS, use_env=False) as sim:
        # the baseline (the simple tier's first candidate) and the teacher know the answers; the student does not
        sim.configure(replies={"*claude-haiku-4-5*": dict(QUESTIONS), "*nova-pro*": dict(QUESTIONS)})
        env = {
            "FMGW_CONFIG_FILE": str(CONFIG_FILE),
            "FMGW_CUSTOMIZATION_MIN_LOG_RECORDS": str(MINIMUM),
            "AWS_ENDPOINT_URL_BEDROCK": sim.url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": sim.url,
        }
        deployed = Stack(sim, env)
        deployed.matching = write_logs(deployed.s3)
        deployed.eval_uri = deployed.put(
            "evaluation/eval.jsonl", "\n".join(json.dumps({"prompt": q, "expected": a}) for q, a in QUESTIONS.items())
        )
        yield deployed
        customization.remove(deployed.deployment)


def distillation(stack: Stack, name: str, **changes) -> dict:
    spec = {
        "name": name,
        "type": "DISTILLATION",
        "baseModel": "nova-lite",
        "teacher": "nova-pro",
        "trainingData": {"invocationLogs": {"s3Uri": f"s3://{LOGS_BUCKET}/AWSLogs/", "requestMetadataFilters": FILTERS}},
        "evaluation": {"s3Uri": stack.eval_uri, "tier": "simple", "expectedRequestsPerHour": 10_000, "hourlyUsd": 0.1,
                       "batchSize": 2, "maxTokens": 64},
        "polling": dict(POLLING),
    }  # fmt: skip
    spec.update(changes)
    return spec


def failed_with(stack: Stack, spec: dict, error: str) -> dict:
    described = stack.run(spec)
    assert described["status"] == "FAILED" and described["error"] == error, described
    (notice,) = stack.notices()
    assert notice["MessageAttributes"]["decision"]["Value"] == "failed"
    assert notice["Subject"].endswith(f"failed ({error})") and f"failed: {error}: " in notice["Message"]
    assert stack.capacity_left(spec["name"]) == []
    return notice


def test_a_distillation_from_invocation_logs_is_promoted(stack):
    described = stack.run(distillation(stack, "support-distill"))
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["decision"] == "promote", output["reason"]
    report = stack.report(output["reportUri"])
    # the job read exactly the records the filters match, and the workflow counted the same
    (job,) = [job for job in stack.sim.customization()["jobs"] if job["jobName"].startswith("support-distill-")]
    used = job["trainingDataUsed"]
    assert used["matched"] == used["records"] == len(stack.matching) == report["data"]["invocationLogs"]["matched"]
    assert sorted(used["requestIds"]) == stack.matching and job["teacherModelId"] == "us.amazon.nova-pro-v1:0"
    # measured against the tier's first candidate; the candidate is as good and cheaper
    baseline, candidate = report["models"]
    assert (baseline["model"], baseline["quality"]) == ("claude-haiku-4-5", 1.0) and candidate["quality"] == 1.0
    assert candidate["costPer1kRequestsUsd"] == pytest.approx(0.01) and baseline["costPer1kRequestsUsd"] > 0.01
    proposed = report["proposedCatalogEntry"]
    entry = proposed["entry"]
    assert entry["customModelArn"] == report["customModelArn"] == output["customModelArn"]
    assert "backend" not in entry and proposed["toServe"] == "fmgw models provision support-distill --on-demand --switch"
    (notice,) = stack.notices()
    assert notice["Subject"] == "FM Gateway customization support-distill: promote"
    assert notice["MessageAttributes"]["decision"]["Value"] == "promote" and output["reportUri"] in notice["Message"]
    # no evaluation capacity left behind, on promote too; the custom model is kept for the proposed entry
    assert output["capacity"]["afterRun"] == "deleted" and stack.capacity_left("support-distill") == []
    assert output["customModelArn"] in {model["modelArn"] for model in stack.sim.customization()["customModels"]}


def test_a_worse_candidate_is_rejected_and_its_capacity_deleted(stack):
    stack.sim.configure(customization={**SIM_SETTINGS["customization"], "outcomes": {"worse-distill-*": "base"}})
    try:
        described = stack.run(distillation(stack, "worse-distill"))
    finally:
        stack.sim.configure(customization=SIM_SETTINGS["customization"])
    output = json.loads(described["output"])
    assert output["decision"] == "reject" and "falls more than 0.02 below claude-haiku-4-5's" in output["reason"]
    assert output["capacity"]["afterRun"] == "deleted" and stack.capacity_left("worse-distill") == []
    assert output["customModelArn"] in {model["modelArn"] for model in stack.sim.customization()["customModels"]}  # kept
    (notice,) = stack.notices()
    assert notice["MessageAttributes"]["decision"]["Value"] == "reject"
    assert f"aws bedrock delete-custom-model --model-identifier {output['customModelArn']}" in notice["Message"]


def test_a_failed_job_ends_in_job_failed(stack):
    stack.sim.configure(customization={**SIM_SETTINGS["customization"], "failJobs": ["failing-distill-*"]})
    try:
        notice = failed_with(stack, distillation(stack, "failing-distill"), "JobFailed")
    finally:
        stack.sim.configure(customization=SIM_SETTINGS["customization"])
    assert "Model customization failed (simulated: customization.failJobs)" in notice["Message"]


def test_an_invalid_dataset_ends_in_invalid_dataset_naming_the_line(stack):
    record = {"schemaVersion": "bedrock-conversation-2024", "messages": [
        {"role": "user", "content": [{"text": "q"}]}, {"role": "assistant", "content": [{"text": "a"}]}]}  # fmt: skip
    lines = [json.dumps(record)] * 9 + ['{"prompt": "q", "completion": "a"}']
    uri = stack.put("datasets/bad/train.jsonl", "\n".join(lines))
    spec = distillation(stack, "bad-data", type="FINE_TUNING", trainingData={"s3Uri": uri})
    del spec["teacher"]
    notice = failed_with(stack, spec, "InvalidDataset")
    assert f"{uri}:10: expected a non-empty messages list" in notice["Message"]
    assert "nothing to clean up" in notice["Message"]


def test_too_few_matching_records_end_in_too_few_records(stack):
    spec = distillation(stack, "few-records")
    spec["trainingData"]["invocationLogs"]["requestMetadataFilters"] = {"equals": {"team": "search"}}
    notice = failed_with(stack, spec, "TooFewRecords")
    assert "15 invocation log records" in notice["Message"] and "at least 100" in notice["Message"]
    assert not [job for job in stack.sim.customization()["jobs"] if job["jobName"].startswith("few-records")]


def test_a_base_model_that_does_not_take_the_type_is_not_customizable(stack):
    notice = failed_with(stack, distillation(stack, "titan-distill", baseModel="titan-text-express"), "NotCustomizable")
    assert "takes FINE_TUNING, CONTINUED_PRE_TRAINING, not DISTILLATION" in notice["Message"]


def test_a_job_past_its_maximum_is_stopped_and_ends_in_job_timed_out(stack):
    stack.sim.configure(customization={**SIM_SETTINGS["customization"], "jobSeconds": 30})
    try:
        notice = failed_with(stack, distillation(stack, "slow-distill", polling={**POLLING, "jobMaxSeconds": 1}), "JobTimedOut")
    finally:
        stack.sim.configure(customization=SIM_SETTINGS["customization"])
    assert "polling.jobMaxSeconds 1" in notice["Message"]
    (job,) = [job for job in stack.sim.customization()["jobs"] if job["jobName"].startswith("slow-distill-")]
    assert job["status"] in ("Stopping", "Stopped") and job["customModelArn"] is None
