"""Bedrock model invocation logging (``-c invocationLogging=true``): the bucket, its policy, the key policy, the optional
CloudWatch Logs group and delivery role, the custom resource and its function's role; none of it by default; the
context flags. Two synths of their own: the whole stack with logging and CloudWatch Logs on (expiry 30 days), and the
construct alone without CloudWatch Logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.context_values import ConfigError
from infra.invocation_logging_settings import InvocationLoggingSettings, invocation_logging_settings
from infra.settings import cdk_json_context, load_settings
from tests.infra.conftest import Synth, api_function, as_list, render, statements_of

HANDLER = "handlers.invocation_logging.handler"
RESOURCE_TYPE = "Custom::BedrockInvocationLogging"
LOGGING_ACTIONS = {
    "bedrock:GetModelInvocationLoggingConfiguration",
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteModelInvocationLoggingConfiguration",
}
BASELINE_PREFIXES = ("logs:", "xray:", "kms:")  # its log group, X-Ray, its environment's key
SOURCE = {
    "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
    "ArnLike": {"aws:SourceArn": "arn:aws:bedrock:us-east-1:${AWS::AccountId}:*"},
}


@pytest.fixture(scope="module")
def logging_on() -> Synth:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.stack import create_stack

    context = {
        **cdk_json_context(),
        "invocationLogging": "true",  # as -c passes them: strings
        "invocationLogsCloudWatch": "true",
        "invocationLogsExpireDays": "30",
    }
    stack = create_stack(App(context=context), account=None)
    template = Template.from_stack(stack)
    return Synth(stack=stack, template=template, doc=template.to_json())


@pytest.fixture(scope="module")
def without_cloudwatch() -> Synth:
    """The construct alone (the whole stack is not needed to see what the CloudWatch option leaves out)."""
    from aws_cdk import App, Environment, RemovalPolicy, Stack
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk.assertions import Template

    from infra.constructs.functions import GatewayFunctions
    from infra.constructs.invocation_logging import InvocationLogging

    stack = Stack(App(), "Scratch", env=Environment(region="us-east-1"))
    key = kms.Key(stack, "Key")
    functions = GatewayFunctions(stack, "Functions", powertools_version="3.37.0", key=key, removal_policy=RemovalPolicy.DESTROY)
    InvocationLogging(
        stack,
        "InvocationLogging",
        functions=functions,
        key=key,
        access_log_bucket=s3.Bucket(stack, "AccessLogs"),
        settings=InvocationLoggingSettings(),
        removal_policy=RemovalPolicy.DESTROY,
    )
    template = Template.from_stack(stack)
    return Synth(stack=stack, template=template, doc=template.to_json())


# ---- helpers ------------------------------------------------------------------------------------------------------


def setting(synth: Synth) -> tuple[str, dict[str, Any]]:
    return synth.one(RESOURCE_TYPE)


def bucket_id(synth: Synth) -> str:
    props = setting(synth)[1]["Properties"]
    return props["LoggingConfig"]["s3Config"]["bucketName"]["Ref"]


def role_grants(synth: Synth) -> dict[str, list[dict[str, Any]]]:
    """action -> the statements granting it, for the setting function's role (its baseline left out)."""
    _, function = api_function(synth, HANDLER)
    found: dict[str, list[dict[str, Any]]] = {}
    for statement in statements_of(synth, function["Properties"]["Role"]["Fn::GetAtt"][0]):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            if not action.startswith(BASELINE_PREFIXES):
                found.setdefault(action, []).append(statement)
    return found


def key_statement(synth: Synth) -> dict[str, Any]:
    [key] = [res for res in synth.resources("AWS::KMS::Key").values()]
    [statement] = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowBedrockInvocationLogsEncryption"
    ]
    return render(statement)


# ---- the setting ------------------------------------------------------------------------------------------------------


def test_the_custom_resource_puts_text_delivery_to_the_stacks_bucket_and_log_group(logging_on):
    setting_id, resource = setting(logging_on)
    props = resource["Properties"]
    _, function_arn = props["ServiceToken"]["Fn::GetAtt"]
    function_id = props["ServiceToken"]["Fn::GetAtt"][0]
    assert function_arn == "Arn"
    assert logging_on.doc["Resources"][function_id]["Properties"]["Handler"] == HANDLER
    config = props["LoggingConfig"]
    assert logging_on.doc["Resources"][bucket_id(logging_on)]["Type"] == "AWS::S3::Bucket"
    assert config["s3Config"] == {"bucketName": {"Ref": bucket_id(logging_on)}}  # no key prefix: AWSLogs/<account>/...
    assert (
        config["textDataDeliveryEnabled"],
        config["imageDataDeliveryEnabled"],
        config["embeddingDataDeliveryEnabled"],
        config["videoDataDeliveryEnabled"],
    ) == (True, False, False, False)
    log_group_id = config["cloudWatchConfig"]["logGroupName"]["Ref"]
    role_id = config["cloudWatchConfig"]["roleArn"]["Fn::GetAtt"][0]
    assert logging_on.doc["Resources"][log_group_id]["Type"] == "AWS::Logs::LogGroup"
    assert logging_on.doc["Resources"][role_id]["Type"] == "AWS::IAM::Role"
    assert props["Replace"] == "false"
    assert props["ServiceTimeout"] == "300"  # not CloudFormation's default hour when the function cannot answer
    assert resource.get("DeletionPolicy", "Delete") == "Delete"  # delete restores the previous setting


def test_the_setting_waits_for_the_grants_bedrock_checks(logging_on):
    """Bedrock writes a permission-check object when the setting is made: bucket policy, key (policy), role, log group."""
    _, resource = setting(logging_on)
    depends = set(resource["DependsOn"])
    [policy_id] = [
        key
        for key, res in logging_on.resources("AWS::S3::BucketPolicy").items()
        if res["Properties"]["Bucket"] == {"Ref": bucket_id(logging_on)}
    ]
    [key_id] = logging_on.resources("AWS::KMS::Key")
    config = resource["Properties"]["LoggingConfig"]["cloudWatchConfig"]
    assert {policy_id, key_id, config["logGroupName"]["Ref"], config["roleArn"]["Fn::GetAtt"][0]} <= depends


def test_the_function_is_built_like_the_others_and_answers_cloudformation_itself(logging_on):
    function_id, function = api_function(logging_on, HANDLER)
    props = function["Properties"]
    assert (props["Runtime"], props["Architectures"], props["TracingConfig"]) == ("python3.13", ["arm64"], {"Mode": "Active"})
    [key_id] = logging_on.resources("AWS::KMS::Key")
    assert props["KmsKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert props["Timeout"] == 120
    code = props["Code"]["S3Key"]
    _, api = api_function(logging_on)
    assert code == api["Properties"]["Code"]["S3Key"]  # the same bundle as the other functions
    # No retry of a deploy-time change; no DLQ, with the reason recorded.
    [config] = [
        res["Properties"]
        for res in logging_on.resources("AWS::Lambda::EventInvokeConfig").values()
        if res["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert config["MaximumRetryAttempts"] == 0
    skips = {entry["id"]: entry["comment"] for entry in function["Metadata"]["checkov"]["skip"]}
    assert "CloudFormation" in skips["CKV_AWS_116"]
    # Nothing of CDK's Provider framework or AwsCustomResource: one function per handler, this one included.
    handlers = [res["Properties"].get("Handler") for res in logging_on.resources("AWS::Lambda::Function").values()]
    assert handlers.count(HANDLER) == 1
    assert all(str(handler).startswith(("handlers.", "run.sh")) for handler in handlers), handlers


def test_the_function_role_may_only_make_the_setting_and_pass_the_delivery_role(logging_on):
    grants = role_grants(logging_on)
    assert set(grants) == LOGGING_ACTIONS | {"iam:PassRole"}
    for action in LOGGING_ACTIONS:
        assert [statement["Resource"] for statement in grants[action]] == ["*"]  # no resource-level permissions exist
    [pass_role] = grants["iam:PassRole"]
    role_id = setting(logging_on)[1]["Properties"]["LoggingConfig"]["cloudWatchConfig"]["roleArn"]["Fn::GetAtt"][0]
    assert pass_role["Resource"] == f"${{{role_id}.Arn}}"
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}


def test_without_cloudwatch_no_log_group_role_or_pass_role(without_cloudwatch):
    config = setting(without_cloudwatch)[1]["Properties"]["LoggingConfig"]
    assert "cloudWatchConfig" not in config and config["textDataDeliveryEnabled"] is True
    assert set(role_grants(without_cloudwatch)) == LOGGING_ACTIONS
    roles = [res for res in without_cloudwatch.resources("AWS::IAM::Role").values() if "bedrock.amazonaws.com" in json.dumps(res)]
    assert roles == []
    # The one log group is the function's own.
    assert len(without_cloudwatch.resources("AWS::Logs::LogGroup")) == len(without_cloudwatch.resources("AWS::Lambda::Function"))
    lifecycle = without_cloudwatch.doc["Resources"][bucket_id(without_cloudwatch)]["Properties"]["LifecycleConfiguration"]
    assert lifecycle["Rules"][0]["ExpirationInDays"] == 90  # the default


# ---- the bucket and the key -----------------------------------------------------------------------------------------


def test_the_bucket_is_encrypted_with_the_stack_key_versioned_expiring_and_logged(logging_on):
    props = logging_on.doc["Resources"][bucket_id(logging_on)]["Properties"]
    [key_id] = logging_on.resources("AWS::KMS::Key")
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]}}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    [lifecycle] = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled" and "Prefix" not in lifecycle  # every object
    assert lifecycle["ExpirationInDays"] == 30  # invocationLogsExpireDays
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    [access_logs] = [key for key in logging_on.resources("AWS::S3::Bucket") if key.startswith("JobsAccessLogBucket")]
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": access_logs},
        "LogFilePrefix": "invocation-logs-bucket/",
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_only_bedrock_of_this_account_and_region_may_write_the_logs(logging_on):
    bucket = bucket_id(logging_on)
    [policy] = [
        res["Properties"]["PolicyDocument"]
        for res in logging_on.resources("AWS::S3::BucketPolicy").values()
        if res["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    statements = render(policy["Statement"])
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "AllowBedrockInvocationLogs",
            "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"${{{bucket}.Arn}}/AWSLogs/${{AWS::AccountId}}/BedrockModelInvocationLogs/*",
            "Condition": SOURCE,
        }
    ]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]  # enforceSSL
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Action"] == "s3:*"


def test_the_key_policy_lets_bedrock_of_this_account_and_region_encrypt_the_logs(logging_on):
    statement = key_statement(logging_on)
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert as_list(statement["Action"]) == ["kms:GenerateDataKey"]
    assert statement["Condition"] == SOURCE


def test_the_log_group_is_encrypted_and_kept_no_longer_than_the_bucket(logging_on):
    config = setting(logging_on)[1]["Properties"]["LoggingConfig"]["cloudWatchConfig"]
    log_group = logging_on.doc["Resources"][config["logGroupName"]["Ref"]]["Properties"]
    [key_id] = logging_on.resources("AWS::KMS::Key")
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert log_group["RetentionInDays"] == 30


def test_the_delivery_role_is_bedrocks_of_this_account_and_region_and_writes_one_stream(logging_on):
    config = setting(logging_on)[1]["Properties"]["LoggingConfig"]["cloudWatchConfig"]
    role_id = config["roleArn"]["Fn::GetAtt"][0]
    role = logging_on.doc["Resources"][role_id]["Properties"]
    [trust] = render(role["AssumeRolePolicyDocument"]["Statement"])
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == SOURCE
    assert "ManagedPolicyArns" not in role
    statements = statements_of(logging_on, role_id)
    log_group = config["logGroupName"]["Ref"]
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": f"arn:aws:logs:us-east-1:${{AWS::AccountId}}:log-group:${{{log_group}}}"
            ":log-stream:aws/bedrock/modelinvocations",
        }
    ]


def test_the_stack_outputs_the_logs_bucket(logging_on):
    assert logging_on.doc["Outputs"]["InvocationLogsBucket"]["Value"] == {"Ref": bucket_id(logging_on)}


# ---- off by default ----------------------------------------------------------------------------------------------


def test_by_default_nothing_of_it_exists(synth):
    assert synth.stack.settings.invocation_logging is None
    assert synth.resources(RESOURCE_TYPE) == {}
    handlers = [res["Properties"].get("Handler") for res in synth.resources("AWS::Lambda::Function").values()]
    assert HANDLER not in handlers
    assert "bedrock.amazonaws.com" not in json.dumps(synth.resources("AWS::KMS::Key"))
    assert "bedrock.amazonaws.com" not in json.dumps(synth.resources("AWS::S3::BucketPolicy"))
    roles = {
        key: role for key, role in synth.resources("AWS::IAM::Role").items() if not key.startswith("CustomizationServiceRole")
    }
    assert "bedrock.amazonaws.com" not in json.dumps(roles)  # only the customization jobs' role trusts Bedrock
    assert [key for key in synth.resources("AWS::S3::Bucket") if key.startswith("InvocationLogging")] == []
    assert "InvocationLogsBucket" not in synth.doc["Outputs"]


# ---- context flags (no synth) --------------------------------------------------------------------------------------


def test_flags_default_off_and_parse_from_cli_strings():
    assert load_settings(cdk_json_context()).invocation_logging is None
    assert invocation_logging_settings({"invocationLogging": "true"}) == InvocationLoggingSettings(90, False, False)
    settings = invocation_logging_settings(
        {
            "invocationLogging": True,
            "invocationLogsCloudWatch": "true",
            "invocationLoggingReplace": "true",
            "invocationLogsExpireDays": "400",
        }
    )
    assert settings == InvocationLoggingSettings(expire_days=400, cloudwatch=True, replace=True)
    # An explicit false is harmless with logging off.
    assert invocation_logging_settings({"invocationLogging": "false", "invocationLogsCloudWatch": "false"}) is None


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"invocationLogging": "yes"}, "'invocationLogging' must be true or false"),
        ({"invocationLogging": "true", "invocationLogsExpireDays": "0"}, "'invocationLogsExpireDays' must be a whole number"),
        ({"invocationLogging": "true", "invocationLogsExpireDays": "ninety"}, "invocationLogsExpireDays"),
        ({"invocationLogging": "true", "invocationLogsExpireDays": True}, "invocationLogsExpireDays"),
        ({"invocationLogging": "true", "invocationLogsCloudWatch": "on"}, "'invocationLogsCloudWatch' must be true or false"),
        ({"invocationLogsCloudWatch": "true"}, "'invocationLogsCloudWatch'.*only applies with invocationLogging=true"),
        ({"invocationLoggingReplace": "true"}, "'invocationLoggingReplace'.*only applies with invocationLogging=true"),
        ({"invocationLogsExpireDays": "30"}, "'invocationLogsExpireDays'.*only applies with invocationLogging=true"),
    ],
)
def test_bad_or_stray_flags_are_refused_with_their_name(context, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({**cdk_json_context(), **context})


def test_the_log_group_never_outlives_the_bucket():
    from infra.constructs.invocation_logging import LOG_RETENTIONS, log_retention

    assert [LOG_RETENTIONS[day] for day in (1, 7, 30, 90, 365)] == [
        "ONE_DAY",
        "ONE_WEEK",
        "ONE_MONTH",
        "THREE_MONTHS",
        "ONE_YEAR",
    ]
    from aws_cdk import aws_logs as logs

    assert log_retention(90) == logs.RetentionDays.THREE_MONTHS
    assert log_retention(100) == logs.RetentionDays.THREE_MONTHS  # 120 would outlive the S3 copy
    assert log_retention(2) == logs.RetentionDays.ONE_DAY
    assert log_retention(100_000) == logs.RetentionDays.TEN_YEARS
