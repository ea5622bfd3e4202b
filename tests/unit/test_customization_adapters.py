"""The customization workflow's boto3 adapters (issue 24), with botocore's Stubber: Bedrock's error codes reach the
steps as ControlPlaneError, a job's description comes back as plain JSON (no datetimes), and the wiring builds nothing
until a step needs it."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from fmgateway.aws import customization
from fmgateway.lifecycle.customization.ports import ControlPlaneError

JOB = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-lite-v1:0:300k/abcdef012345"
MODEL = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-lite-v1:0:300k/abcdef012345"


@pytest.fixture
def stubbed():
    client = boto3.client("bedrock", region_name="us-east-1")
    with Stubber(client) as stub:
        yield customization.BedrockCustomization(client), stub
        stub.assert_no_pending_responses()


def test_a_refusal_keeps_bedrocks_code_and_message(stubbed):
    adapter, stub = stubbed
    stub.add_client_error("create_model_customization_job", "ValidationException", "teacher not supported", 400)
    with pytest.raises(ControlPlaneError) as refused:
        adapter.create_job({"jobName": "j", "customModelName": "m", "roleArn": "arn:aws:iam::123456789012:role/r",
                            "baseModelIdentifier": "amazon.nova-lite-v1:0:300k", "trainingDataConfig": {"s3Uri": "s3://bkt/x"},
                            "outputDataConfig": {"s3Uri": "s3://bkt/out/"}})  # fmt: skip
    assert (refused.value.code, refused.value.message) == ("ValidationException", "teacher not supported")


def test_a_job_is_described_in_plain_json(stubbed):
    adapter, stub = stubbed
    now = datetime(2026, 12, 8, tzinfo=UTC)
    stub.add_response(
        "get_model_customization_job",
        {
            "jobArn": JOB,
            "jobName": "j",
            "outputModelName": "m",
            "outputModelArn": MODEL,
            "roleArn": "arn:aws:iam::1:role/r",
            "status": "Completed",
            "creationTime": now,
            "endTime": now,
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/x.y",
            "trainingDataConfig": {"s3Uri": "s3://bkt/x"},
            "validationDataConfig": {"validators": []},
            "outputDataConfig": {"s3Uri": "s3://bkt/out/"},
            "statusDetails": {"trainingDetails": {"status": "Completed", "creationTime": now}},
        },  # fmt: skip
        {"jobIdentifier": JOB},
    )
    assert adapter.job(JOB) == {
        "jobArn": JOB,
        "jobName": "j",
        "status": "Completed",
        "outputModelArn": MODEL,
        "outputModelName": "m",
        "statusDetails": {"trainingDetails": "Completed"},
    }


def test_stop_maps_a_conflict(stubbed):
    adapter, stub = stubbed
    stub.add_client_error("stop_model_customization_job", "ConflictException", "not in progress", 400)
    with pytest.raises(ControlPlaneError, match="ConflictException: not in progress"):
        adapter.stop_job(JOB)


def test_the_wiring_builds_nothing_until_a_step_needs_it():
    customization.reset()
    env = {"FMGW_CUSTOMIZATION_ROLE_ARN": "arn:aws:iam::123456789012:role/r", "FMGW_CUSTOMIZATION_BUCKET": "bkt",
           "FMGW_CUSTOMIZATION_SUBNET_IDS": "subnet-a, subnet-b", "AWS_REGION": "eu-west-1"}  # fmt: skip
    ports = customization.ports(env)
    assert customization.ports(dict(env)) is ports  # once per environment
    settings = ports.settings()
    assert settings.bucket == "bkt" and settings.region == "eu-west-1" and settings.subnet_ids == ("subnet-a", "subnet-b")
    assert settings.min_log_records == 100 and settings.security_group_ids == ()
    customization.reset()
