"""Async jobs: tables, queue + DLQ, results bucket, topic, functions and their event sources, schedule, API methods,
alarms, least-privilege IAM per function, and the settings check that a worker batch fits the worker timeout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.settings import (
    WORKER_BATCH_SIZE,
    WORKER_MARGIN_SECONDS,
    WORKER_TIMEOUT_SECONDS,
    ConfigError,
    cdk_json_context,
    jobs_settings,
    load_settings,
)
from tests.infra.conftest import api_function, as_list, render, statements_of
from tests.infra.test_api import methods

API = "handlers.jobs_api.handler"
WORKER = "handlers.jobs_worker.handler"
DLQ_HANDLER = "handlers.jobs_dlq.handler"
SWEEPER = "handlers.jobs_sweeper.handler"
JOBS_ENV = ("FMGW_JOBS_TABLE", "FMGW_JOBS_QUEUE_URL", "FMGW_RESULTS_BUCKET", "FMGW_JOBS_TOPIC_ARN")
# What every function may have besides its own grants: its log group, X-Ray, the configuration, the stack key.
BASELINE_PREFIXES = ("logs:", "xray:", "appconfig:", "kms:")


# ---- helpers ------------------------------------------------------------------------------------------------------


def logical_id(synth, type_: str, prefix: str) -> str:
    [found] = [key for key in synth.resources(type_) if key.startswith(prefix)]
    return found


def queue_ids(synth) -> tuple[str, str]:
    return logical_id(synth, "AWS::SQS::Queue", "JobsQueue"), logical_id(synth, "AWS::SQS::Queue", "JobsDeadLetterQueue")


def key_arn(synth) -> dict:
    key_id, _ = synth.one("AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def function_statements(synth, handler: str) -> list[dict[str, Any]]:
    _, function = api_function(synth, handler)
    return statements_of(synth, function["Properties"]["Role"]["Fn::GetAtt"][0])


def grants(synth, handler: str) -> dict[str, set[str]]:
    """action -> the (rendered) resources it is allowed on, for one function's role."""
    found: dict[str, set[str]] = {}
    for statement in function_statements(synth, handler):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            found.setdefault(action, set()).update(str(resource) for resource in as_list(statement["Resource"]))
    return found


def own_actions(synth, handler: str) -> set[str]:
    return {action for action in grants(synth, handler) if not action.startswith(BASELINE_PREFIXES)}


def mapping(synth, handler: str) -> dict[str, Any]:
    function_id, _ = api_function(synth, handler)
    [props] = [
        res["Properties"]
        for res in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if res["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    return props


# ---- queue, DLQ and their consumers ----------------------------------------------------------------------------


def test_worker_consumes_the_jobs_queue_with_partial_batch_failures(synth, gateway_config):
    queue_id, _ = queue_ids(synth)
    props = mapping(synth, WORKER)
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == WORKER_BATCH_SIZE == 3
    _, worker = api_function(synth, WORKER)
    assert worker["Properties"]["Timeout"] == WORKER_TIMEOUT_SECONDS
    assert worker["Properties"]["MemorySize"] == 1024
    budget = gateway_config["jobs"]["timeouts"]["requestBudgetSeconds"]
    assert props["BatchSize"] * budget + WORKER_MARGIN_SECONDS <= worker["Properties"]["Timeout"]


def test_dlq_consumer_drains_the_dlq_with_partial_batch_failures(synth):
    _, dlq_id = queue_ids(synth)
    props = mapping(synth, DLQ_HANDLER)
    assert props["EventSourceArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 10
    assert api_function(synth, DLQ_HANDLER)[1]["Properties"]["Timeout"] == 60
    assert len(synth.resources("AWS::Lambda::EventSourceMapping")) == 2


def test_redrive_to_the_dlq_after_max_receives(synth, gateway_config):
    queue_id, dlq_id = queue_ids(synth)
    queue = synth.doc["Resources"][queue_id]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": gateway_config["jobs"]["maxReceives"],
    }
    assert gateway_config["jobs"]["maxReceives"] == 3
    dlq = synth.doc["Resources"][dlq_id]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in dlq


def test_visibility_timeouts_are_six_times_the_consumer_timeouts(synth):
    queue_id, dlq_id = queue_ids(synth)
    resources = synth.doc["Resources"]
    worker_timeout = api_function(synth, WORKER)[1]["Properties"]["Timeout"]
    dlq_handler_timeout = api_function(synth, DLQ_HANDLER)[1]["Properties"]["Timeout"]
    assert resources[queue_id]["Properties"]["VisibilityTimeout"] >= 6 * worker_timeout
    assert resources[dlq_id]["Properties"]["VisibilityTimeout"] >= 6 * dlq_handler_timeout


# ---- encryption, tables, bucket, topic -------------------------------------------------------------------------


def test_queues_topic_bucket_and_tables_use_the_stack_key(synth):
    key = key_arn(synth)
    for queue_id in queue_ids(synth):
        assert synth.doc["Resources"][queue_id]["Properties"]["KmsMasterKeyId"] == key
    [topic] = [res for key_, res in synth.resources("AWS::SNS::Topic").items() if key_.startswith("JobsTopic")]
    assert topic["Properties"]["KmsMasterKeyId"] == key
    bucket = synth.doc["Resources"][logical_id(synth, "AWS::S3::Bucket", "JobsResultsBucket")]["Properties"]
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    for prefix in ("JobsTable", "JobsIdempotencyTable"):
        table = synth.doc["Resources"][logical_id(synth, "AWS::DynamoDB::Table", prefix)]
        props = table["Properties"]
        assert props["SSESpecification"] == {"KMSMasterKeyId": key, "SSEEnabled": True, "SSEType": "KMS"}
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert table["DeletionPolicy"] == "Retain"  # cdk.json: retain=true


def test_jobs_table_keys_ttl_and_pending_index(synth):
    props = synth.doc["Resources"][logical_id(synth, "AWS::DynamoDB::Table", "JobsTable")]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "pending",
            "KeySchema": [
                {"AttributeName": "pendingEnqueue", "KeyType": "HASH"},
                {"AttributeName": "createdEpoch", "KeyType": "RANGE"},
            ],
            "Projection": {"NonKeyAttributes": ["jobId"], "ProjectionType": "INCLUDE"},
        }
    ]
    types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert types == {"pk": "S", "pendingEnqueue": "S", "createdEpoch": "N"}


def test_idempotency_table_matches_the_powertools_defaults(synth):
    props = synth.doc["Resources"][logical_id(synth, "AWS::DynamoDB::Table", "JobsIdempotencyTable")]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def ssl_only(statements: list[dict]) -> bool:
    return any(st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for st in statements)


def test_results_bucket_private_ssl_only_expiring_and_access_logged(synth, gateway_config):
    bucket_id = logical_id(synth, "AWS::S3::Bucket", "JobsResultsBucket")
    props = synth.doc["Resources"][bucket_id]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "results/" and rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == gateway_config["jobs"]["retentionDays"]
    [policy] = [
        res["Properties"]
        for res in synth.resources("AWS::S3::BucketPolicy").values()
        if res["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert ssl_only(policy["PolicyDocument"]["Statement"])
    # Access logs go to a private, SSL-only bucket with S3-managed keys (log delivery does not support SSE-KMS).
    log_bucket_id = props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    log_bucket = synth.doc["Resources"][log_bucket_id]["Properties"]
    [log_rule] = log_bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert log_rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert all(log_bucket["PublicAccessBlockConfiguration"].values())
    assert log_bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 0
    [log_policy] = [
        res["Properties"]
        for res in synth.resources("AWS::S3::BucketPolicy").values()
        if res["Properties"]["Bucket"] == {"Ref": log_bucket_id}
    ]
    assert ssl_only(log_policy["PolicyDocument"]["Statement"])


def test_queues_and_topic_are_ssl_only(synth):
    queue_policies = [res["Properties"] for res in synth.resources("AWS::SQS::QueuePolicy").values()]
    for queue_id in queue_ids(synth):
        [policy] = [p for p in queue_policies if {"Ref": queue_id} in p["Queues"]]
        assert ssl_only(policy["PolicyDocument"]["Statement"])
    topic_id = logical_id(synth, "AWS::SNS::Topic", "JobsTopic")
    [policy] = [
        res["Properties"]
        for res in synth.resources("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in res["Properties"]["Topics"]
    ]
    assert ssl_only(policy["PolicyDocument"]["Statement"])


# ---- functions, schedule, API -----------------------------------------------------------------------------------


def test_functions_environment(synth):
    resources = synth.doc["Resources"]
    expected_types = {
        "FMGW_JOBS_TABLE": "AWS::DynamoDB::Table",
        "FMGW_JOBS_QUEUE_URL": "AWS::SQS::Queue",
        "FMGW_RESULTS_BUCKET": "AWS::S3::Bucket",
        "FMGW_JOBS_TOPIC_ARN": "AWS::SNS::Topic",
    }
    queue_id, _ = queue_ids(synth)
    for handler in (API, WORKER, DLQ_HANDLER, SWEEPER):
        _, function = api_function(synth, handler)
        props = function["Properties"]
        assert (props["Runtime"], props["Architectures"], props["TracingConfig"]) == ("python3.13", ["arm64"], {"Mode": "Active"})
        variables = props["Environment"]["Variables"]
        for name in JOBS_ENV:
            assert resources[variables[name]["Ref"]]["Type"] == expected_types[name], (handler, name)
        assert variables["FMGW_JOBS_QUEUE_URL"] == {"Ref": queue_id}
        assert variables["FMGW_JOBS_TABLE"] == {"Ref": logical_id(synth, "AWS::DynamoDB::Table", "JobsTable")}
        assert "FMGW_APPCONFIG_PROFILE" in variables
        assert ("FMGW_IDEMPOTENCY_TABLE" in variables) == (handler == WORKER)
        assert ("FMGW_BREAKER_TABLE" in variables) == ("FMGW_CACHE_TABLE" in variables) == (handler == WORKER)
    worker = api_function(synth, WORKER)[1]["Properties"]["Environment"]["Variables"]
    assert worker["FMGW_IDEMPOTENCY_TABLE"] == {"Ref": logical_id(synth, "AWS::DynamoDB::Table", "JobsIdempotencyTable")}


def test_schedule_invokes_the_sweeper_every_minute(synth):
    sweeper_id, _ = api_function(synth, SWEEPER)
    rule_id, rule = synth.one("AWS::Events::Rule")
    props = rule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props["State"] == "ENABLED"
    [target] = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [sweeper_id, "Arn"]}
    synth.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [sweeper_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def jobs_methods(synth) -> dict[str, dict]:
    return {name: props for name, props in methods(synth).items() if "/v1/jobs" in name}


def test_api_methods_require_a_key_and_validate(synth):
    found = jobs_methods(synth)
    assert set(found) == {"POST /v1/jobs", "GET /v1/jobs/{id}", "DELETE /v1/jobs/{id}"}
    validator_id, _ = synth.one("AWS::ApiGateway::RequestValidator")
    jobs_function_id, _ = api_function(synth, API)
    models = {key: res["Properties"]["Name"] for key, res in synth.resources("AWS::ApiGateway::Model").items()}
    for name, props in found.items():
        assert props["ApiKeyRequired"] is True, name
        assert props["RequestValidatorId"] == {"Ref": validator_id}, name
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert jobs_function_id in json.dumps(props["Integration"]["Uri"]), name
    post = found["POST /v1/jobs"]
    assert models[post["RequestModels"]["application/json"]["Ref"]] == "ChatRequest"
    assert post["RequestParameters"] == {"method.request.header.Idempotency-Key": False}
    for name in ("GET /v1/jobs/{id}", "DELETE /v1/jobs/{id}"):
        assert found[name]["RequestParameters"] == {"method.request.path.id": True}
        assert "RequestModels" not in found[name]


# ---- alarms and dashboard ---------------------------------------------------------------------------------------


def queue_alarms(synth) -> dict[tuple[str, str], dict]:
    """(metric name, queue logical id) -> alarm properties."""
    found = {}
    for alarm in synth.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("Namespace") == "AWS/SQS":
            [dimension] = props["Dimensions"]
            assert dimension["Name"] == "QueueName"
            found[(props["MetricName"], dimension["Value"]["Fn::GetAtt"][0])] = props
    return found


def test_dlq_and_queue_age_alarms(synth):
    queue_id, dlq_id = queue_ids(synth)
    alarms = queue_alarms(synth)
    dlq = alarms[("ApproximateNumberOfMessagesVisible", dlq_id)]
    assert (dlq["ComparisonOperator"], dlq["Threshold"]) == ("GreaterThanThreshold", 0)
    age = alarms[("ApproximateAgeOfOldestMessage", queue_id)]
    assert (age["ComparisonOperator"], age["Threshold"]) == ("GreaterThanThreshold", 900)
    assert age["Statistic"] == "Maximum"
    # The DLQ consumer drains the DLQ within seconds: arrivals are watched through its receives.
    poisoned = alarms[("NumberOfMessagesReceived", dlq_id)]
    assert (poisoned["ComparisonOperator"], poisoned["Threshold"]) == ("GreaterThanThreshold", 0)
    # Nothing drains the sweeper's DLQ: one waiting message is an alarm.
    sweeper_failures = alarms[
        ("ApproximateNumberOfMessagesVisible", logical_id(synth, "AWS::SQS::Queue", "JobsSweeperDeadLetterQueue"))
    ]
    assert (sweeper_failures["ComparisonOperator"], sweeper_failures["Threshold"]) == ("GreaterThanThreshold", 0)
    assert len(alarms) == 4
    for props in alarms.values():
        assert props["TreatMissingData"] == "notBreaching"


def test_dashboard_shows_the_queues(synth):
    _, dashboard = synth.one("AWS::CloudWatch::Dashboard")
    text = json.dumps(json.loads(render(dashboard["Properties"]["DashboardBody"]))["widgets"])
    queue_id, dlq_id = queue_ids(synth)
    for metric in (
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateAgeOfOldestMessage",
        "NumberOfMessagesSent",
        "NumberOfMessagesDeleted",
        "NumberOfMessagesReceived",
    ):
        assert f'"{metric}"' in text, metric
    assert f"${{{queue_id}.QueueName}}" in text and f"${{{dlq_id}.QueueName}}" in text


# ---- least privilege --------------------------------------------------------------------------------------------


def resource_of(synth, prefix: str, type_: str, attribute: str | None = "Arn") -> str:
    found = logical_id(synth, type_, prefix)
    return f"${{{found}.{attribute}}}" if attribute else f"${{{found}}}"


def test_jobs_api_function_grants(synth):
    actions = grants(synth, API)
    table = resource_of(synth, "JobsTable", "AWS::DynamoDB::Table")
    topic = resource_of(synth, "JobsTopic", "AWS::SNS::Topic", None)
    results = resource_of(synth, "JobsResultsBucket", "AWS::S3::Bucket") + "/results/*"
    assert not any(action.startswith("bedrock:") for action in actions)
    assert own_actions(synth, API) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
        "s3:GetObject",
        "sns:Publish",
    }
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"):
        assert actions[action] == {table}
    assert actions["sqs:SendMessage"] == {resource_of(synth, "JobsQueue", "AWS::SQS::Queue")}
    assert actions["s3:GetObject"] == {results}  # presigned result URLs
    # DELETE cancels a queued job, which is terminal: the cancellation is announced like every terminal job.
    assert actions["sns:Publish"] == {topic}


def test_worker_grants(synth, gateway_config):
    actions = grants(synth, WORKER)
    results = resource_of(synth, "JobsResultsBucket", "AWS::S3::Bucket") + "/results/*"
    assert actions["s3:PutObject"] == {results}
    assert actions["sns:Publish"] == {resource_of(synth, "JobsTopic", "AWS::SNS::Topic", None)}
    assert {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"} <= set(actions)
    assert not any(":*" in resource for resource in actions["bedrock:InvokeModel"])
    idempotency = resource_of(synth, "JobsIdempotencyTable", "AWS::DynamoDB::Table")
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert idempotency in actions[action], action
    assert resource_of(synth, "JobsTable", "AWS::DynamoDB::Table") in actions["dynamodb:UpdateItem"]
    assert resource_of(synth, "StateBreakerTable", "AWS::DynamoDB::Table") in actions["dynamodb:ConditionCheckItem"]
    assert actions["sqs:ReceiveMessage"] == {resource_of(synth, "JobsQueue", "AWS::SQS::Queue")}
    for forbidden in ("s3:GetObject", "s3:DeleteObject", "sqs:SendMessage", "dynamodb:Query", "dynamodb:Scan"):
        assert forbidden not in actions, forbidden


def test_dlq_consumer_grants(synth):
    actions = grants(synth, DLQ_HANDLER)
    assert not any(action.startswith(("bedrock:", "s3:")) for action in actions)
    assert own_actions(synth, DLQ_HANDLER) == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "sns:Publish",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    }
    dlq = resource_of(synth, "JobsDeadLetterQueue", "AWS::SQS::Queue")
    assert all(actions[action] == {dlq} for action in actions if action.startswith("sqs:"))


def test_sweeper_only_queries_updates_and_enqueues(synth):
    actions = grants(synth, SWEEPER)
    table = resource_of(synth, "JobsTable", "AWS::DynamoDB::Table")
    assert own_actions(synth, SWEEPER) == {"dynamodb:Query", "dynamodb:UpdateItem", "sqs:SendMessage"}
    assert actions["dynamodb:Query"] == {f"{table}/index/pending"}
    assert actions["dynamodb:UpdateItem"] == {table}
    # The jobs queue (re-enqueue), and its own DLQ, where Lambda puts a failed asynchronous invocation.
    assert actions["sqs:SendMessage"] == {
        resource_of(synth, "JobsQueue", "AWS::SQS::Queue"),
        resource_of(synth, "JobsSweeperDeadLetterQueue", "AWS::SQS::Queue"),
    }


@pytest.mark.parametrize("handler", [API, WORKER, DLQ_HANDLER, SWEEPER])
def test_no_wildcard_actions_and_key_use_only_through_services(synth, handler):
    key = f"${{{synth.one('AWS::KMS::Key')[0]}.Arn}}"
    for statement in function_statements(synth, handler):
        assert not any("*" in action for action in as_list(statement["Action"])), statement
        kms_actions = [a for a in as_list(statement["Action"]) if a.startswith("kms:")]
        if not kms_actions:
            continue
        assert statement["Resource"] == key
        if "Condition" in statement:
            assert set(statement["Condition"]) == {"StringEquals"}
            assert set(statement["Condition"]["StringEquals"]) == {"kms:ViaService"}
        else:  # CDK's grant for an SQS event source: decrypt what the queue delivers
            assert kms_actions == ["kms:Decrypt"]
            assert handler in (WORKER, DLQ_HANDLER)
    key_services = {
        statement["Condition"]["StringEquals"]["kms:ViaService"].split(".")[0]
        for statement in function_statements(synth, handler)
        if "Condition" in statement
    }
    expected = {
        API: {"dynamodb", "sqs", "s3", "sns"},
        WORKER: {"dynamodb", "s3", "sns", "bedrock"},  # bedrock: custom models the customization workflow made
        DLQ_HANDLER: {"dynamodb", "sns"},
        SWEEPER: {"dynamodb", "sqs"},
    }
    assert key_services == expected[handler]


# ---- settings ---------------------------------------------------------------------------------------------------


def test_jobs_settings_from_the_config(gateway_config):
    jobs = jobs_settings(gateway_config)
    assert (jobs.retention_days, jobs.max_receives) == (7, 3)
    assert jobs.request_budget_seconds == gateway_config["jobs"]["timeouts"]["requestBudgetSeconds"] == 240
    assert (jobs.batch_size, jobs.worker_timeout_seconds, jobs.visibility_timeout_seconds) == (3, 900, 5400)


def test_a_batch_that_cannot_finish_within_the_worker_timeout_fails_synth(gateway_config, tmp_path):
    config = json.loads(json.dumps(gateway_config))
    config["jobs"]["timeouts"]["requestBudgetSeconds"] = 281  # 3 x 281 + 60 = 903 > 900
    with pytest.raises(ConfigError, match=r"requestBudgetSeconds.*worker timeout of 900 s"):
        jobs_settings(config)
    config["jobs"]["timeouts"]["requestBudgetSeconds"] = 280  # 900: fits exactly
    assert jobs_settings(config).request_budget_seconds == 280
    assert jobs_settings(config, batch_size=1).batch_size == 1
    config["jobs"]["timeouts"]["requestBudgetSeconds"] = 600
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="at most 280"):
        load_settings({**cdk_json_context(), "configFile": str(path)})


def test_jobs_settings_defaults_follow_the_core(gateway_config):
    config = {key: value for key, value in gateway_config.items() if key != "jobs"}
    jobs = jobs_settings(config)
    assert (jobs.retention_days, jobs.max_receives) == (7, 3)
    # Without jobs.timeouts the worker runs jobs with the top-level (sync) timeouts.
    assert jobs.request_budget_seconds == gateway_config["timeouts"]["requestBudgetSeconds"]
