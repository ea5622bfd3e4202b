"""The model customization workflow as deployed (issue 24): the Standard state machine is the ASL file with its two
substitutions, logged and traced; its role invokes the tasks function and publishes to the topic only; the Bedrock
service role trusts customization jobs of this account and region, reads datasets/ (and the invocation logs only when
they are on), writes output/ only and invokes the catalog's teachers through their profiles; the tasks function passes
only that role, to Bedrock only; VPC mode puts the function and the jobs in the private subnets; the bucket and the
topic are encrypted and TLS-only; the outputs; the ``customization`` flag. Two synths of their own: VPC mode with
invocation logging, and the flag off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.model_customization import DEFINITION_FILE, customizable, teacher_arns, teachers
from infra.context_values import ConfigError
from infra.settings import cdk_json_context, load_settings
from tests.infra.conftest import Synth, api_function, as_list, render, statements_of

HANDLER = "handlers.customization_tasks.handler"
LOGS_PREFIX = "AWSLogs/${AWS::AccountId}/BedrockModelInvocationLogs/*"
JOBS = "arn:aws:bedrock:us-east-1:${AWS::AccountId}:model-customization-job/*"
BEDROCK = "arn:aws:bedrock:us-east-1:${AWS::AccountId}"


def _synth(**context: Any) -> Synth:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.stack import create_stack

    stack = create_stack(App(context={**cdk_json_context(), **context}), account=None)
    template = Template.from_stack(stack)
    return Synth(stack=stack, template=template, doc=template.to_json())


@pytest.fixture(scope="module")
def vpc_logging() -> Synth:
    return _synth(environment="vpc", vpc="true", invocationLogging="true")


@pytest.fixture(scope="module")
def off() -> Synth:
    return _synth(environment="plain", customization="false")


# ---- helpers ------------------------------------------------------------------------------------------------------


def logical_id(synth: Synth, type_: str, prefix: str) -> str:
    [found] = [key for key in synth.resources(type_) if key.startswith(prefix)]
    return found


def ref(synth: Synth, type_: str, prefix: str, attribute: str | None = None) -> str:
    """How ``render`` shows a reference to the resource: ``${Id}`` or ``${Id.Attribute}``."""
    found = logical_id(synth, type_, prefix)
    return "${" + found + (f".{attribute}" if attribute else "") + "}"


def stack_key(synth: Synth) -> str:
    return ref(synth, "AWS::KMS::Key", "StateKey", "Arn")


def machine(synth: Synth) -> dict[str, Any]:
    return synth.doc["Resources"][logical_id(synth, "AWS::StepFunctions::StateMachine", "Customization")]


def service_role_id(synth: Synth) -> str:
    return logical_id(synth, "AWS::IAM::Role", "CustomizationServiceRole")


def grants(statements: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """action -> the statements granting it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            found.setdefault(action, []).append(statement)
    return found


def resources(statements: list[dict[str, Any]]) -> list[str]:
    return sorted(str(resource) for statement in statements for resource in as_list(statement["Resource"]))


def service_grants(synth: Synth) -> dict[str, list[dict[str, Any]]]:
    return grants(statements_of(synth, service_role_id(synth)))


def task_grants(synth: Synth) -> dict[str, list[dict[str, Any]]]:
    _, function = api_function(synth, HANDLER)
    return grants(statements_of(synth, function["Properties"]["Role"]["Fn::GetAtt"][0]))


def via(statement: dict[str, Any]) -> str:
    return str(statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", ""))


# ---- the state machine --------------------------------------------------------------------------------------------


def test_a_standard_machine_deployed_from_the_file_with_both_substitutions(synth):
    props = machine(synth)["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert "DefinitionString" not in props and "Definition" not in props
    key = props["DefinitionS3Location"]["Key"]
    staged = Path(synth.stack.node.root.outdir) / f"asset.{key.removesuffix('.json')}.json"
    assert staged.read_text() == DEFINITION_FILE.read_text()
    substitutions = render(props["DefinitionSubstitutions"])
    tasks_id, _ = api_function(synth, HANDLER)
    assert substitutions == {
        "CustomizationTasksFunctionArn": "${" + tasks_id + ".Arn}",
        "NotificationTopicArn": ref(synth, "AWS::SNS::Topic", "CustomizationTopic"),
    }
    text = DEFINITION_FILE.read_text()
    assert all("${" + name + "}" in text for name in substitutions)


def test_every_state_is_logged_without_its_data_and_traced(synth):
    props = machine(synth)["Properties"]
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is False
    log_group = synth.doc["Resources"][logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]]
    assert log_group["Properties"]["LogGroupName"] == "/aws/vendedlogs/states/FmGateway-dev-customization"
    assert render(log_group["Properties"]["KmsKeyId"]) == stack_key(synth)
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_the_machine_role_invokes_the_tasks_and_publishes_to_the_topic_only(synth):
    role = machine(synth)["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    by_action = grants(statements_of(synth, role))
    tasks_id, _ = api_function(synth, HANDLER)
    assert resources(by_action["lambda:InvokeFunction"]) == sorted(["${" + tasks_id + ".Arn}", "${" + tasks_id + ".Arn}:*"])
    assert resources(by_action["sns:Publish"]) == [ref(synth, "AWS::SNS::Topic", "CustomizationTopic")]
    data = {action for action in by_action if not action.startswith(("logs:", "xray:", "kms:"))}
    assert data == {"lambda:InvokeFunction", "sns:Publish"}
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):  # the topic's key, through SNS only
        [statement] = by_action[action]
        assert resources([statement]) == [stack_key(synth)] and via(statement).startswith("sns.")


# ---- the Bedrock service role -------------------------------------------------------------------------------------


def test_the_service_role_trusts_bedrock_customization_jobs_of_this_account_and_region_only(synth):
    role = synth.doc["Resources"][service_role_id(synth)]["Properties"]
    [trust] = render(role["AssumeRolePolicyDocument"]["Statement"])
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
        "ArnLike": {"aws:SourceArn": JOBS},
    }
    assert "ManagedPolicyArns" not in role


def test_the_service_role_reads_datasets_and_writes_output_only(synth):
    by_action = service_grants(synth)
    bucket = ref(synth, "AWS::S3::Bucket", "CustomizationBucket", "Arn")
    assert resources(by_action["s3:GetObject"]) == [f"{bucket}/datasets/*"]
    [listing] = by_action["s3:ListBucket"]
    assert resources([listing]) == [bucket] and listing["Condition"] == {"StringLike": {"s3:prefix": ["datasets/*"]}}
    assert resources(by_action["s3:PutObject"]) == [f"{bucket}/output/*"]
    assert {action for action in by_action if action.startswith("s3:")} == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    # the key through S3 (the data) and Bedrock (the custom model), never directly
    for action, statements in by_action.items():
        if action.startswith("kms:"):
            assert all(via(statement).split(".")[0] in ("s3", "bedrock") for statement in statements), action
    [create_grant] = by_action["kms:CreateGrant"]
    assert via(create_grant).startswith("bedrock.") and resources([create_grant]) == [stack_key(synth)]
    assert not [action for action in by_action if action.startswith("ec2:")]  # no VPC, no network interfaces


def test_the_service_role_invokes_the_catalogs_teachers_through_their_profiles(synth, gateway_config):
    by_action = service_grants(synth)
    expected = teacher_arns(gateway_config, partition="aws", region="us-east-1", account="${AWS::AccountId}")
    assert resources(by_action["bedrock:InvokeModel"]) == sorted(expected)
    assert f"{BEDROCK}:inference-profile/us.amazon.nova-pro-v1:0" in expected
    assert "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-premier-v1:0" in expected  # a destination region
    assert {action for action in by_action if action.startswith("bedrock:")} == {"bedrock:InvokeModel"}


def test_invocation_logs_are_read_only_when_logging_is_on(synth, vpc_logging):
    assert LOGS_PREFIX not in json.dumps(statements_of(synth, service_role_id(synth)))
    by_action = service_grants(vpc_logging)
    logs_bucket = ref(vpc_logging, "AWS::S3::Bucket", "InvocationLoggingBucket", "Arn")
    bucket = ref(vpc_logging, "AWS::S3::Bucket", "CustomizationBucket", "Arn")
    assert resources(by_action["s3:GetObject"]) == sorted([f"{bucket}/datasets/*", f"{logs_bucket}/{LOGS_PREFIX}"])
    on_logs = [st for st in by_action["s3:ListBucket"] if resources([st]) == [logs_bucket]]
    assert [st["Condition"] for st in on_logs] == [{"StringLike": {"s3:prefix": [LOGS_PREFIX]}}]
    assert resources(by_action["s3:PutObject"]) == [f"{bucket}/output/*"]  # still nothing written outside output/
    # kms:Decrypt on the log bucket's key, through S3 (the stack key, which also encrypts the customization bucket)
    encryption = vpc_logging.doc["Resources"][logical_id(vpc_logging, "AWS::S3::Bucket", "InvocationLoggingBucket")]
    [rule] = encryption["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    log_key = render(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert any(log_key in resources([st]) and via(st).startswith("s3.") for st in by_action["kms:Decrypt"])


# ---- the tasks function -------------------------------------------------------------------------------------------


def test_the_tasks_function_environment_timeout_and_size(synth):
    _, function = api_function(synth, HANDLER)
    props = function["Properties"]
    assert (props["Timeout"], props["MemorySize"]) == (900, 1024)
    env = render(props["Environment"]["Variables"])
    assert env["FMGW_CUSTOMIZATION_ROLE_ARN"] == "${" + service_role_id(synth) + ".Arn}"
    assert env["FMGW_CUSTOMIZATION_BUCKET"] == ref(synth, "AWS::S3::Bucket", "CustomizationBucket")
    assert env["FMGW_CUSTOMIZATION_KMS_KEY_ARN"] == stack_key(synth)
    assert {"FMGW_APPCONFIG_APPLICATION", "FMGW_APPCONFIG_ENVIRONMENT", "FMGW_APPCONFIG_PROFILE", "FMGW_BACKEND_ACCESS"} <= set(
        env
    )
    assert "FMGW_CUSTOMIZATION_SUBNET_IDS" not in env and "FMGW_CUSTOMIZATION_SECURITY_GROUP_IDS" not in env
    assert "VpcConfig" not in props


def test_the_tasks_pass_only_the_service_role_and_only_to_bedrock(synth):
    by_action = task_grants(synth)
    [passing] = by_action["iam:PassRole"]
    assert resources([passing]) == ["${" + service_role_id(synth) + ".Arn}"]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    assert [action for action in by_action if action.startswith("iam:")] == ["iam:PassRole"]


def test_the_tasks_control_plane_grants_are_scoped_to_this_account_and_region(synth, gateway_config):
    by_action = task_grants(synth)
    bases = [
        f"arn:aws:bedrock:us-east-1::foundation-model/{block['baseModelId']}"
        for block in customizable(gateway_config, "us-east-1").values()
    ]
    assert "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0:300k" in bases
    create = resources(by_action["bedrock:CreateModelCustomizationJob"])
    assert set(bases) <= set(create) and {JOBS, f"{BEDROCK}:custom-model/*"} <= set(create)
    assert not [arn for arn in create if "anthropic.claude-3-haiku" in arn]  # its jobs run in us-west-2 only
    expected = {
        "bedrock:GetModelCustomizationJob": [JOBS],
        "bedrock:StopModelCustomizationJob": [JOBS],
        "bedrock:GetCustomModel": [f"{BEDROCK}:custom-model/*"],
        "bedrock:DeleteCustomModel": [f"{BEDROCK}:custom-model/*"],
        "bedrock:GetProvisionedModelThroughput": [f"{BEDROCK}:provisioned-model/*"],
        "bedrock:DeleteProvisionedModelThroughput": [f"{BEDROCK}:provisioned-model/*"],
        "bedrock:GetCustomModelDeployment": [f"{BEDROCK}:custom-model-deployment/*"],
        "bedrock:DeleteCustomModelDeployment": [f"{BEDROCK}:custom-model-deployment/*"],
    }
    for action, arns in expected.items():
        assert resources(by_action[action]) == arns, action
    for action in ("bedrock:CreateProvisionedModelThroughput", "bedrock:CreateCustomModelDeployment"):
        assert f"{BEDROCK}:custom-model/*" in resources(by_action[action]), action
    for action, statements in by_action.items():
        if action.startswith("bedrock:"):
            assert "*" not in resources(statements), action
    # invoking: the shared inference policy (baseline models, Provisioned Throughput, custom model deployments)
    _, function = api_function(synth, HANDLER)
    role = {"Ref": function["Properties"]["Role"]["Fn::GetAtt"][0]}
    [shared] = [
        res
        for res in synth.resources("AWS::IAM::Policy").values()
        if any(st.get("Sid") == "InvokeCustomCapacity" for st in res["Properties"]["PolicyDocument"]["Statement"])
    ]
    assert role in shared["Properties"]["Roles"]


def test_the_tasks_read_inputs_and_write_reports_only(synth):
    by_action = task_grants(synth)
    bucket = ref(synth, "AWS::S3::Bucket", "CustomizationBucket", "Arn")
    assert resources(by_action["s3:GetObject"]) == sorted(f"{bucket}/{p}/*" for p in ("datasets", "evaluation", "reports"))
    assert resources(by_action["s3:PutObject"]) == [f"{bucket}/reports/*"]
    [listing] = by_action["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["datasets/*", "evaluation/*", "reports/*"]}}


def test_functions_that_serve_models_may_decrypt_custom_models_through_bedrock(synth):
    _, function = api_function(synth)
    statements = [
        st for st in statements_of(synth, function["Properties"]["Role"]["Fn::GetAtt"][0]) if st.get("Sid") == "CustomModelsKey"
    ]
    assert [(st["Action"], resources([st]), via(st).split(".")[0]) for st in statements] == [
        ("kms:Decrypt", [stack_key(synth)], "bedrock")
    ]


# ---- VPC mode -----------------------------------------------------------------------------------------------------


def test_vpc_mode_runs_the_tasks_and_the_jobs_in_the_private_subnets(vpc_logging):
    _, function = api_function(vpc_logging, HANDLER)
    props = function["Properties"]
    subnets = sorted(vpc_logging.resources("AWS::EC2::Subnet"))
    assert sorted(ref_["Ref"] for ref_ in props["VpcConfig"]["SubnetIds"]) == subnets
    function_group = logical_id(vpc_logging, "AWS::EC2::SecurityGroup", "NetworkFunctionSecurityGroup")
    assert props["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [function_group, "GroupId"]}]
    env = render(props["Environment"]["Variables"])
    assert sorted(env["FMGW_CUSTOMIZATION_SUBNET_IDS"].split(",")) == sorted("${" + s + "}" for s in subnets)
    job_group = logical_id(vpc_logging, "AWS::EC2::SecurityGroup", "CustomizationJobSecurityGroup")
    assert env["FMGW_CUSTOMIZATION_SECURITY_GROUP_IDS"] == "${" + job_group + ".GroupId}"
    group = vpc_logging.doc["Resources"][job_group]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert [(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in group["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)
    ]
    # the tasks reach Bedrock's control plane through an endpoint of its own
    names = [json.dumps(res["Properties"]["ServiceName"]) for res in vpc_logging.resources("AWS::EC2::VPCEndpoint").values()]
    assert any(name.endswith('.bedrock"') for name in names)


def test_vpc_mode_lets_bedrock_manage_the_jobs_interfaces_in_those_subnets_only(vpc_logging):
    by_action = service_grants(vpc_logging)
    job_group = logical_id(vpc_logging, "AWS::EC2::SecurityGroup", "CustomizationJobSecurityGroup")
    subnets = sorted(
        f"arn:aws:ec2:us-east-1:${{AWS::AccountId}}:subnet/${{{s}}}" for s in vpc_logging.resources("AWS::EC2::Subnet")
    )
    create = by_action["ec2:CreateNetworkInterface"]
    tagged = [st for st in create if "Condition" in st]
    assert [st["Condition"]["StringEquals"] for st in tagged] == [{"aws:RequestTag/BedrockManaged": "true"}]
    assert [st["Condition"]["ArnLike"] for st in tagged] == [{"aws:RequestTag/BedrockModelCustomizationJobArn": JOBS}]
    [placed] = [st for st in create if "Condition" not in st]
    group_arn = f"arn:aws:ec2:us-east-1:${{AWS::AccountId}}:security-group/${{{job_group}.GroupId}}"
    assert resources([placed]) == sorted([*subnets, group_arn])
    [delete] = by_action["ec2:DeleteNetworkInterface"]
    assert sorted(delete["Condition"]["ArnEquals"]["ec2:Subnet"]) == subnets
    assert delete["Condition"]["StringEquals"] == {"ec2:ResourceTag/BedrockManaged": "true"}


# ---- bucket, topic, outputs, flag ---------------------------------------------------------------------------------


def test_the_bucket_is_encrypted_tls_only_private_versioned_and_logged(synth):
    bucket_id = logical_id(synth, "AWS::S3::Bucket", "CustomizationBucket")
    props = synth.doc["Resources"][bucket_id]["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert render(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == stack_key(synth)
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": logical_id(synth, "AWS::S3::Bucket", "JobsAccessLogBucket")
    }
    [policy] = [
        res for res in synth.resources("AWS::S3::BucketPolicy").values() if res["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    [deny] = [st for st in policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_topic_is_encrypted_and_tls_only(synth):
    topic_id = logical_id(synth, "AWS::SNS::Topic", "CustomizationTopic")
    assert render(synth.doc["Resources"][topic_id]["Properties"]["KmsMasterKeyId"]) == stack_key(synth)
    [policy] = [
        res for res in synth.resources("AWS::SNS::TopicPolicy").values() if res["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    [deny] = [st for st in policy["Properties"]["PolicyDocument"]["Statement"] if st["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_outputs_name_the_machine_the_bucket_and_the_topic(synth):
    outputs = synth.doc["Outputs"]
    assert outputs["CustomizationStateMachineArn"]["Value"] == {
        "Ref": logical_id(synth, "AWS::StepFunctions::StateMachine", "Customization")
    }
    assert outputs["CustomizationBucketName"]["Value"] == {"Ref": logical_id(synth, "AWS::S3::Bucket", "CustomizationBucket")}
    assert outputs["CustomizationTopicArn"]["Value"] == {"Ref": logical_id(synth, "AWS::SNS::Topic", "CustomizationTopic")}


def test_the_customization_flag_leaves_it_all_out(off):
    assert off.stack.settings.customization is False
    assert [key for key in off.doc["Resources"] if key.startswith("Customization")] == []
    assert HANDLER not in [res["Properties"].get("Handler") for res in off.resources("AWS::Lambda::Function").values()]
    assert not [key for key in off.doc["Outputs"] if key.startswith("Customization")]
    assert "CustomModelsKey" not in json.dumps(off.resources("AWS::IAM::Policy"))


def test_the_flag_is_on_by_default_and_takes_booleans_only():
    assert load_settings(cdk_json_context()).customization is True
    assert load_settings({**cdk_json_context(), "customization": "false"}).customization is False
    with pytest.raises(ConfigError, match="customization"):
        load_settings({**cdk_json_context(), "customization": "sometimes"})


def test_teachers_are_the_non_retired_teachers_of_students_distillable_in_the_region():
    model = {"profileScope": "us", "lifecycle": "active"}

    def customization(types: list[str], region: str, teachers: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"baseModelId": "base:1", "types": types, "regions": [region], "teachers": list(teachers)}

    config = {
        "geographies": {"us": {"sourceRegions": ["us-east-1"], "destinationRegions": ["us-east-1", "us-west-2"]}},
        "models": {
            "student": {**model, "modelId": "s", "customization": customization(["DISTILLATION"], "us-east-1", ("big", "old"))},
            "tuned": {**model, "modelId": "t", "customization": customization(["FINE_TUNING"], "us-east-1")},
            "elsewhere": {**model, "modelId": "e", "customization": customization(["DISTILLATION"], "us-west-2", ("other",))},
            "big": {**model, "modelId": "big-v1"},
            "old": {**model, "modelId": "old-v1", "lifecycle": "retired"},
            "other": {**model, "modelId": "other-v1"},
        },
    }
    assert sorted(customizable(config, "us-east-1")) == ["student", "tuned"]
    assert teachers(config, "us-east-1") == ["big", "old"]
    # the retired one is never invoked, so never granted
    assert teacher_arns(config, partition="aws", region="us-east-1", account="111122223333") == [
        "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.big-v1",
        "arn:aws:bedrock:us-east-1::foundation-model/big-v1",
        "arn:aws:bedrock:us-west-2::foundation-model/big-v1",
    ]
