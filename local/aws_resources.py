"""The AWS resources the stack creates, made in moto (the embedded server in local mode, ``mock_aws``
in tests): DynamoDB tables, the jobs queue with its DLQ, the results bucket, the jobs topic and a
subscriber queue that local mode prints notifications from."""

from __future__ import annotations

import json

import boto3

NAMES = {
    "FMGW_BREAKER_TABLE": "fmgw-local-breaker",
    "FMGW_CACHE_TABLE": "fmgw-local-cache",
    "FMGW_HEALTH_TABLE": "fmgw-local-health",
    "FMGW_JOBS_TABLE": "fmgw-local-jobs",
    "FMGW_IDEMPOTENCY_TABLE": "fmgw-local-idempotency",
}
QUEUE, DLQ, BUCKET, TOPIC, NOTICES = (
    "fmgw-local-jobs",
    "fmgw-local-jobs-dlq",
    "fmgw-local-results",
    "fmgw-local-jobs",
    "fmgw-local-notices",
)


def _table(dynamodb, name: str, key: str = "pk", **extra) -> None:
    attributes = [{"AttributeName": key, "AttributeType": "S"}, *extra.pop("attributes", [])]
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def create_state_tables(dynamodb) -> dict[str, str]:
    """The sync API's tables (breaker state, response cache, model health); returns their environment variables."""
    existing = set(dynamodb.list_tables()["TableNames"])
    names = {env_name: NAMES[env_name] for env_name in ("FMGW_BREAKER_TABLE", "FMGW_CACHE_TABLE", "FMGW_HEALTH_TABLE")}
    for table in names.values():
        if table not in existing:
            _table(dynamodb, table)
    return names


def create_resources(endpoint_url: str | None = None, region: str = "us-east-1", max_receives: int = 3) -> dict[str, str]:
    """Create (or find) every resource; returns the environment the Lambda functions read."""
    clients = {
        name: boto3.client(name, endpoint_url=endpoint_url, region_name=region) for name in ("dynamodb", "sqs", "s3", "sns")
    }
    dynamodb, sqs, s3, sns = clients["dynamodb"], clients["sqs"], clients["s3"], clients["sns"]
    create_state_tables(dynamodb)
    existing = set(dynamodb.list_tables()["TableNames"])
    if NAMES["FMGW_IDEMPOTENCY_TABLE"] not in existing:
        _table(dynamodb, NAMES["FMGW_IDEMPOTENCY_TABLE"], key="id")
    if NAMES["FMGW_JOBS_TABLE"] not in existing:
        _table(
            dynamodb,
            NAMES["FMGW_JOBS_TABLE"],
            attributes=[
                {"AttributeName": "pendingEnqueue", "AttributeType": "S"},
                {"AttributeName": "createdEpoch", "AttributeType": "N"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "pending",
                    "KeySchema": [
                        {"AttributeName": "pendingEnqueue", "KeyType": "HASH"},
                        {"AttributeName": "createdEpoch", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["jobId"]},
                }
            ],
        )

    def queue_arn(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    dlq_url = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": queue_arn(dlq_url), "maxReceiveCount": str(max_receives)})
    queue_url = sqs.create_queue(QueueName=QUEUE, Attributes={"VisibilityTimeout": "5400", "RedrivePolicy": redrive})["QueueUrl"]
    s3.create_bucket(Bucket=BUCKET)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    notices_url = sqs.create_queue(QueueName=NOTICES)["QueueUrl"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(notices_url))
    return {
        **NAMES,
        "FMGW_JOBS_QUEUE_URL": queue_url,
        "FMGW_JOBS_DLQ_URL": dlq_url,
        "FMGW_RESULTS_BUCKET": BUCKET,
        "FMGW_JOBS_TOPIC_ARN": topic_arn,
        "FMGW_NOTICES_URL": notices_url,
    }


def create_api_keys(
    plans: dict, keys: dict[str, str], endpoint_url: str | None = None, region: str = "us-east-1", stage: str = "local"
) -> tuple[str, dict[str, str]]:
    """The REST API's usage plans and keys in moto's API Gateway, as the stack creates them: one usage plan per plan of
    the configuration, attached to ``stage`` of a REST API, and each key (value -> plan name) in its plan. The key
    authorizer reads them through API Gateway's control plane, as in AWS. Returns the REST API id and key value -> id.
    """
    apigateway = boto3.client("apigateway", endpoint_url=endpoint_url, region_name=region)
    api_id = apigateway.create_rest_api(name="fm-gateway-local")["id"]
    plan_ids = {
        name: apigateway.create_usage_plan(
            name=f"fm-gateway-local-{name}",
            apiStages=[{"apiId": api_id, "stage": stage}],
            throttle={"rateLimit": plan["rateLimit"], "burstLimit": plan["burstLimit"]},
            quota={"limit": plan["quotaPerDay"], "period": "DAY"},
        )["id"]
        for name, plan in plans.items()
    }
    ids = {}
    for value, plan in keys.items():
        key_id = apigateway.create_api_key(name=f"fm-gateway-local-{plan}", value=value, enabled=True)["id"]
        apigateway.create_usage_plan_key(usagePlanId=plan_ids[plan], keyId=key_id, keyType="API_KEY")
        ids[value] = key_id
    return api_id, ids


CUSTOMIZATION_NOTICES = "fmgw-local-customization-notices"


def create_customization(endpoint_url: str, region: str = "us-east-1") -> dict[str, str]:
    """The model customization workflow in this process's moto server (``local.customization``: the state machine, its
    topic and bucket, its task dispatched to the real handler, which inherits local mode's environment: Bedrock's
    control plane and runtime on the simulator, S3 on moto) and a queue on its topic that local mode prints.
    Returns the ``customization`` entry of local mode's state file (what ``fmgw customize`` reads) and the queue's URL.
    """
    from local.customization import deploy

    clients = {name: boto3.client(name, endpoint_url=endpoint_url, region_name=region) for name in ("stepfunctions", "sns", "s3")}
    deployment = deploy(clients["stepfunctions"], clients["sns"], clients["s3"])
    sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)
    notices_url = sqs.create_queue(QueueName=CUSTOMIZATION_NOTICES)["QueueUrl"]
    notices_arn = sqs.get_queue_attributes(QueueUrl=notices_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients["sns"].subscribe(TopicArn=deployment.topic_arn, Protocol="sqs", Endpoint=notices_arn)
    return {
        "stateMachineArn": deployment.state_machine_arn,
        "bucket": deployment.bucket,
        "topicArn": deployment.topic_arn,
        "noticesUrl": notices_url,
    }
