"""Bedrock IAM: exactly the configured, non-retired models, through their inference profiles."""

from __future__ import annotations

from infra.constructs.inference_access import ACTIONS, model_resource_arns
from tests.infra.conftest import api_function, as_list, statements_of

ACCOUNT = "${AWS::AccountId}"
US_REGIONS = ("us-east-1", "us-east-2", "us-west-2")


def invoke_statements(synth) -> list[dict]:
    role_id = api_function(synth)[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    prefixes = ("bedrock:", "sagemaker:")
    return [st for st in statements_of(synth, role_id) if any(a.startswith(prefixes) for a in as_list(st["Action"]))]


def bedrock_statements(synth) -> list[dict]:
    """The statement of the configured models (custom capacity has its own: ``test_custom_capacity_...``)."""
    return [st for st in invoke_statements(synth) if st.get("Sid") == "InvokeConfiguredModels"]


def test_one_statement_with_invoke_actions_only(synth):
    statements = bedrock_statements(synth)
    assert len(statements) == 1
    statement = statements[0]
    assert statement["Effect"] == "Allow"
    assert sorted(as_list(statement["Action"])) == sorted(ACTIONS)
    assert not any("*" in action for action in as_list(statement["Action"]))
    assert "Condition" not in statement


def test_us_profile_model_gets_profile_and_every_destination_region(synth):
    resources = set(bedrock_statements(synth)[0]["Resource"])
    model_id = "anthropic.claude-haiku-4-5-20251001-v1:0"
    assert f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.{model_id}" in resources
    for region in US_REGIONS:
        assert f"arn:aws:bedrock:{region}::foundation-model/{model_id}" in resources
    assert not any(model_id in arn and "eu-" in arn for arn in resources)


def test_in_region_model_gets_only_the_stack_region_foundation_model(synth):
    resources = set(bedrock_statements(synth)[0]["Resource"])
    model_id = "cohere.command-r-plus-v1:0"
    assert [arn for arn in resources if model_id in arn] == [f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}"]


def test_exact_resource_set_and_no_retired_model(synth, gateway_config):
    resources = bedrock_statements(synth)[0]["Resource"]
    expected: set[str] = set()
    embedding_models = gateway_config.get("embeddings", {}).get("models", {})  # /v1/embeddings and embedding bodies
    for model in [*gateway_config["models"].values(), *embedding_models.values()]:
        if model.get("lifecycle") == "retired":
            continue
        model_id = model["modelId"]
        if model["profileScope"] == "in-region":
            expected.add(f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}")
        else:
            scope = model["profileScope"]
            expected.add(f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{scope}.{model_id}")
            for region in gateway_config["geographies"][scope]["destinationRegions"]:
                expected.add(f"arn:aws:bedrock:{region}::foundation-model/{model_id}")
    assert len(resources) == len(set(resources))
    assert set(resources) == expected
    retired = [m["modelId"] for m in gateway_config["models"].values() if m["lifecycle"] == "retired"]
    assert retired, "the seed config has retired models"
    for model_id in retired:
        assert not any(arn.endswith(f"/{model_id}") or arn.endswith(f".{model_id}") for arn in resources), model_id
    assert not any(arn == "*" or ":*" in arn for arn in resources)


def test_global_scope_grants_global_profile_and_any_region_foundation_model():
    config = {
        "geographies": {},
        "models": {
            "g": {"modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0", "profileScope": "global", "lifecycle": "active"},
            "old": {"modelId": "amazon.titan-text-premier-v1:0", "profileScope": "global", "lifecycle": "retired"},
        },
    }
    arns = model_resource_arns(config, partition="aws", region="eu-west-1", account="123456789012")
    model_id = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert arns == [
        f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/global.{model_id}",
        f"arn:aws:bedrock:::foundation-model/{model_id}",
        f"arn:aws:bedrock:*::foundation-model/{model_id}",
    ]


def test_policy_is_attached_to_the_api_streaming_jobs_worker_routing_and_customization_tasks_roles(synth):
    role_id = api_function(synth)[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        res
        for res in synth.resources("AWS::IAM::Policy").values()
        if any(st.get("Sid") == "InvokeConfiguredModels" for st in res["Properties"]["PolicyDocument"]["Statement"])
    ]
    assert len(policies) == 1
    worker_role_id = api_function(synth, "handlers.jobs_worker.handler")[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    tasks_role_id = api_function(synth, "handlers.routing_tasks.handler")[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    streaming_role_id = api_function(synth, "run.sh")[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    # the customization tasks evaluate against the baseline models and invoke the evaluation capacity
    customization_role_id = api_function(synth, "handlers.customization_tasks.handler")[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    roles = sorted(ref["Ref"] for ref in policies[0]["Properties"]["Roles"])
    assert roles == sorted([role_id, streaming_role_id, worker_role_id, tasks_role_id, customization_role_id])


def test_no_s3_read_without_input_buckets(synth):
    assert not [st for st in bedrock_statements(synth) if "s3:GetObject" in as_list(st["Action"])]
    role_id = api_function(synth)[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert not [st for st in statements_of(synth, role_id) if "s3:GetObject" in as_list(st["Action"])]


def test_input_buckets_get_s3_get_object_on_exactly_their_objects(gateway_config):
    """limits.s3InputBuckets: the Bedrock policy (attached to every function that calls Bedrock) may read exactly the
    objects of those buckets, since Bedrock reads an s3Location with the caller's permissions."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_iam as iam
    from aws_cdk.assertions import Template

    from infra.constructs.inference_access import InferenceAccess
    from tests.infra.conftest import render

    config = {**gateway_config, "limits": {**gateway_config.get("limits", {}), "s3InputBuckets": ["team-a-inputs", "scans"]}}
    stack = Stack(App(), "Inputs", env={"region": "us-east-1"})
    access = InferenceAccess(stack, "InferenceAccess", config=config)
    access.policy.attach_to_role(iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")))
    [policy] = [r for r in Template.from_stack(stack).to_json()["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    statements = {st["Sid"]: st for st in render(policy["Properties"]["PolicyDocument"]["Statement"])}
    reads = statements["ReadConfiguredInputBuckets"]
    assert reads["Action"] == "s3:GetObject" and reads["Effect"] == "Allow"
    resources = sorted(arn.replace("${AWS::Partition}", "aws") for arn in as_list(reads["Resource"]))
    assert resources == ["arn:aws:s3:::scans/*", "arn:aws:s3:::team-a-inputs/*"]


def test_custom_capacity_is_granted_by_pattern_in_this_account_and_region_only(synth):
    """Issue 23: Provisioned Throughput, custom model deployments and imported models of the stack's account and
    region; SageMaker endpoints and inference components under the configured prefix; nothing else."""
    by_sid = {st["Sid"]: st for st in invoke_statements(synth)}
    assert set(by_sid) == {"InvokeConfiguredModels", "InvokeCustomCapacity", "InvokeSageMakerEndpoints"}
    capacity = by_sid["InvokeCustomCapacity"]
    assert sorted(as_list(capacity["Action"])) == sorted(ACTIONS)
    assert sorted(as_list(capacity["Resource"])) == sorted(
        f"arn:aws:bedrock:us-east-1:{ACCOUNT}:{kind}/*"
        for kind in ("provisioned-model", "custom-model-deployment", "imported-model")
    )
    sagemaker = by_sid["InvokeSageMakerEndpoints"]
    assert sorted(as_list(sagemaker["Action"])) == ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]
    assert sorted(as_list(sagemaker["Resource"])) == [
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/fmgw-*",
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:inference-component/fmgw-*",
    ]


def test_the_functions_that_invoke_are_told_the_same_patterns(synth):
    import json

    properties = api_function(synth)[1]["Properties"]
    access = properties["Environment"]["Variables"]["FMGW_BACKEND_ACCESS"]
    rendered = json.dumps(access)
    assert "us-east-1" in rendered and "AWS::AccountId" in rendered and "fmgw-" in rendered
