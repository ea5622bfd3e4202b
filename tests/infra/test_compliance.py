"""What the scanners asked for and the template now does: KMS-encrypted log groups and Lambda environments, the
sweeper's dead-letter queue, versioned results, and the checkov skips recorded on the resources that are excused.
Also the helpers of infra/compliance.py on a throwaway stack (no synth)."""

from __future__ import annotations

import pytest

from infra.compliance import LOGS_KEY_ACTIONS, acknowledge, checkov_skips, skip_checkov
from infra.settings import ConfigError, _reserved_concurrency
from tests.infra.conftest import api_function, as_list, render

SWEEPER = "handlers.jobs_sweeper.handler"
SYNC_HANDLERS = ("handlers.api.handler", "handlers.jobs_api.handler", "handlers.jobs_worker.handler", "handlers.jobs_dlq.handler")


def key_arn(synth) -> dict:
    key_id, _ = synth.one("AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def key_statements(synth) -> dict[str, dict]:
    _, key = synth.one("AWS::KMS::Key")
    return {statement.get("Sid", ""): statement for statement in key["Properties"]["KeyPolicy"]["Statement"]}


def skips(resource: dict) -> dict[str, str]:
    return {entry["id"]: entry["comment"] for entry in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}


def logical_id(synth, type_: str, prefix: str) -> str:
    [found] = [key for key in synth.resources(type_) if key.startswith(prefix)]
    return found


def test_every_log_group_is_encrypted_with_the_stack_key(synth):
    log_groups = synth.resources("AWS::Logs::LogGroup")
    # One per function, the API access logs and the routing and customization state machines' logs.
    assert len(log_groups) == len(synth.resources("AWS::Lambda::Function")) + 3
    for name, log_group in log_groups.items():
        assert log_group["Properties"]["KmsKeyId"] == key_arn(synth), name
        assert log_group["Properties"]["RetentionInDays"] == 30, name


def test_key_policy_lets_cloudwatch_logs_of_this_account_and_region_use_it(synth):
    statement = key_statements(synth)["AllowCloudWatchLogsEncryption"]
    assert render(statement["Principal"]) == {"Service": "logs.us-east-1.${AWS::URLSuffix}"}
    assert sorted(statement["Action"]) == sorted(LOGS_KEY_ACTIONS)
    context = render(statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert context == "arn:aws:logs:us-east-1:${AWS::AccountId}:log-group:*"


def test_every_function_environment_is_encrypted_with_the_stack_key(synth):
    for name, function in synth.resources("AWS::Lambda::Function").items():
        assert function["Properties"]["KmsKeyArn"] == key_arn(synth), name


def test_by_default_no_vpc_and_no_reserved_concurrency_each_with_its_reason(synth):
    for name, function in synth.resources("AWS::Lambda::Function").items():
        props = function["Properties"]
        assert "VpcConfig" not in props and "ReservedConcurrentExecutions" not in props, name
        reasons = skips(function)
        assert "no private resource" in reasons["CKV_AWS_117"] and "vpc context" in reasons["CKV_AWS_117"], name
        assert "reservedConcurrency" in reasons["CKV_AWS_115"], name
    assert synth.resources("AWS::EC2::VPC") == {}


@pytest.mark.parametrize("handler", SYNC_HANDLERS)
def test_synchronously_invoked_functions_have_no_dlq_and_say_why(synth, handler):
    _, function = api_function(synth, handler)
    assert "DeadLetterConfig" not in function["Properties"]
    assert "Invoked synchronously" in skips(function)["CKV_AWS_116"]


def test_the_sweeper_is_invoked_asynchronously_and_has_a_dead_letter_queue(synth):
    sweeper_id, sweeper = api_function(synth, SWEEPER)
    dlq_id = logical_id(synth, "AWS::SQS::Queue", "JobsSweeperDeadLetterQueue")
    dlq_arn = {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert sweeper["Properties"]["DeadLetterConfig"] == {"TargetArn": dlq_arn}
    assert "CKV_AWS_116" not in skips(sweeper)
    # No Lambda retries: the next tick sweeps again.
    [invoke_config] = synth.resources("AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": sweeper_id}
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 0
    # Events EventBridge cannot deliver go to the same queue.
    _, rule = synth.one("AWS::Events::Rule")
    [target] = rule["Properties"]["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": dlq_arn}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    # The queue is encrypted with the stack key, which EventBridge may use for this rule only.
    dlq = synth.doc["Resources"][dlq_id]
    assert dlq["Properties"]["KmsMasterKeyId"] == key_arn(synth)
    statement = key_statements(synth)["AllowSweepScheduleDeadLetters"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    rule_name = rule["Properties"]["Name"]
    source = render(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert source == f"arn:aws:events:us-east-1:${{AWS::AccountId}}:rule/{rule_name}"
    # CDK's queue policy lets the rule send to the queue.
    policies = [
        res["Properties"]
        for res in synth.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in res["Properties"]["Queues"]
    ]
    [policy] = policies
    senders = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert [as_list(s["Action"]) for s in senders] == [["sqs:SendMessage"]]


def test_results_bucket_keeps_overwritten_or_deleted_results_as_long_as_the_jobs(synth, gateway_config):
    _, bucket = next((k, r) for k, r in synth.resources("AWS::S3::Bucket").items() if k.startswith("JobsResultsBucket"))
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    days = gateway_config.get("jobs", {}).get("retentionDays", 7)
    assert rule["ExpirationInDays"] == days
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": days}


def test_access_log_bucket_says_why_it_is_neither_logged_nor_versioned(synth):
    _, bucket = next((k, r) for k, r in synth.resources("AWS::S3::Bucket").items() if k.startswith("JobsAccessLogBucket"))
    assert set(skips(bucket)) == {"CKV_AWS_18", "CKV_AWS_21"}


# ---- infra.compliance on a throwaway stack ------------------------------------------------------------------------


@pytest.fixture
def queue():
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    return sqs.Queue(Stack(App(), "Scratch"), "Queue")


def test_skips_accumulate_and_a_repeated_check_replaces_its_reason(queue):
    skip_checkov(queue, "CKV_AWS_1", "first reason, long enough to mean something")
    skip_checkov(queue, "CKV_AWS_2", "second reason, long enough to mean something")
    skip_checkov(queue, "CKV_AWS_1", "replaced reason, long enough to mean something")
    assert checkov_skips(queue) == {
        "CKV_AWS_1": "replaced reason, long enough to mean something",
        "CKV_AWS_2": "second reason, long enough to mean something",
    }


def test_acknowledge_needs_a_rule_and_a_real_reason(queue):
    with pytest.raises(ValueError, match="at least one"):
        acknowledge(queue, "a reason that is long enough to count")
    with pytest.raises(ValueError, match="real reason"):
        acknowledge(queue, "because", checkov=("CKV_AWS_27",))
    acknowledge(queue, "a reason that is long enough to count", nag=("AwsSolutions-SQS3",), checkov=("CKV_AWS_27",))
    assert checkov_skips(queue) == {"CKV_AWS_27": "a reason that is long enough to count"}


# ---- reserved concurrency setting -----------------------------------------------------------------------------------


def test_reserved_concurrency_from_json_text_or_mapping():
    assert _reserved_concurrency(None) == {}
    assert _reserved_concurrency('{"ApiHandler": 100}') == {"ApiHandler": 100}
    assert _reserved_concurrency({"JobsWorker": 5}) == {"JobsWorker": 5}


@pytest.mark.parametrize("value", ['{"ApiHandler": 0}', '{"ApiHandler": "5"}', '{"ApiHandler": true}', "[1]", "{nope"])
def test_reserved_concurrency_refuses_what_lambda_would_throttle_or_cannot_read(value):
    with pytest.raises(ConfigError, match="reservedConcurrency"):
        _reserved_concurrency(value)


def test_a_reserved_concurrency_for_an_unknown_function_fails_the_synth():
    from infra.constructs.functions import _KnownFunctionNames

    class Functions:
        names = ["ApiHandler", "JobsWorker"]
        reserved_concurrency = {"ApiHandler": 10, "ApiHandlr": 5}

    [message] = _KnownFunctionNames(Functions()).validate()  # type: ignore[arg-type]
    assert "ApiHandlr" in message and "ApiHandler, JobsWorker" in message
    Functions.reserved_concurrency = {"ApiHandler": 10}
    assert _KnownFunctionNames(Functions()).validate() == []  # type: ignore[arg-type]
