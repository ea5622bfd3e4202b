"""The customization workflow's steps with in-memory fakes (issue 24): the job request Bedrock gets, the job and
capacity polls with every named error (the job stopped, the capacity deleted), a whole run from validate to report,
the reject path (capacity deleted, custom model kept), and the cleanup that never raises past what it could not clean."""

from __future__ import annotations

import json

import pytest

from fmgateway.config.gateway_config import parse_config
from fmgateway.lifecycle import comparison
from fmgateway.lifecycle.customization import tasks
from fmgateway.lifecycle.customization.errors import (
    CapacityFailed,
    CapacityTimedOut,
    EvaluationFailed,
    InvalidSpec,
    JobFailed,
    JobTimedOut,
    Misconfigured,
    TooFewRecords,
)
from fmgateway.lifecycle.customization.ports import ControlPlaneError
from fmgateway.values.backends import CUSTOM_DEPLOYMENT, PROVISIONED
from fmgateway.values.errors import InvocationError
from tests.customization_fakes import (
    CUSTOM_MODEL,
    EVAL_URI,
    ROLE,
    SETTINGS,
    FakeCapacity,
    FakeControl,
    World,
    distillation_spec,
    eval_set,
)
from tests.fakes import answer

TEACHER = "us.amazon.nova-pro-v1:0"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:fmgw-model-customization:run-1"


@pytest.fixture
def world() -> World:
    world = World()
    world.invoker.responses = {"claude-haiku": answer("ok", 10, 5), "custom-model-deployment": answer("ok", 10, 5)}
    return world


def step(world: World, action: str, **payload):
    return tasks.run(world.ports, {"action": action, **payload})


def validated(world: World, **changes) -> dict:
    return step(world, "validate", spec=distillation_spec(**changes), execution=EXECUTION)


def completed_job(world: World, run: dict) -> dict:
    job = step(world, "startJob", run=run)
    while job["status"] != "Completed":
        job = step(world, "jobStatus", run=run, job=job)
    return job


def ready_capacity(world: World, run: dict, job: dict) -> dict:
    capacity = step(world, "provision", run=run, job=job)
    while not capacity["ready"]:
        capacity = step(world, "capacityStatus", run=run, capacity=capacity)
    return capacity


# ---- validate and the job


def test_validate_returns_the_run_the_other_steps_need(world):
    run = validated(world)
    assert run["jobName"] == run["customModelName"] == f"support-distill-{run['suffix']}"
    assert run["batches"] == [{"index": 0, "first": 0, "count": 2}, {"index": 1, "first": 2, "count": 1}]
    assert run["data"]["invocationLogs"]["matched"] == 4 and run["polling"]["jobSeconds"] == 1
    assert validated(world)["suffix"] == run["suffix"]  # the same execution, the same names


def test_validate_refuses_too_few_matching_log_records(world):
    doc = distillation_spec()
    doc["trainingData"]["invocationLogs"]["requestMetadataFilters"] = {"equals": {"team": "nobody"}}
    with pytest.raises(TooFewRecords, match="0 invocation log records"):
        step(world, "validate", spec=doc)


def test_the_distillation_request_is_what_bedrock_takes(world):
    run = validated(world)
    step(world, "startJob", run=run)
    (request,) = world.control.requests
    tags = [{"key": "fmgw-run", "value": "support-distill"}]
    assert request == {
        "jobName": run["jobName"],
        "customModelName": run["customModelName"],
        "roleArn": ROLE,
        "clientRequestToken": run["jobName"],
        "baseModelIdentifier": "amazon.nova-lite-v1:0:300k",
        "customizationType": "DISTILLATION",
        "trainingDataConfig": {
            "invocationLogsConfig": {
                "invocationLogSource": {"s3Uri": "s3://fmgw-logs/AWSLogs/"},
                "requestMetadataFilters": {"equals": {"team": "support"}},
                "usePromptResponse": False,
            }
        },
        "outputDataConfig": {"s3Uri": "s3://fmgw-customization/output/support-distill/"},
        "customizationConfig": {
            "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": "us.amazon.nova-pro-v1:0"}}
        },
        "jobTags": tags,
        "customModelTags": tags,
    }


def test_a_fine_tuning_request_with_validation_data_key_and_vpc(world):
    world.settings = SETTINGS._replace(
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        subnet_ids=("subnet-a", "subnet-b"),
        security_group_ids=("sg-1",),
    )
    lines = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(3)]
    world.buckets.put("s3://fmgw-customization/datasets/train.jsonl", "\n".join(json.dumps(line) for line in lines))
    world.buckets.put("s3://fmgw-customization/datasets/validation.jsonl", json.dumps(lines[0]))
    doc = distillation_spec(
        type="FINE_TUNING", baseModel="titan-text-express", trainingData={"s3Uri": "s3://fmgw-customization/datasets/train.jsonl"},
        validationData={"s3Uri": "s3://fmgw-customization/datasets/validation.jsonl"}, hyperParameters={"epochCount": 2},
    )  # fmt: skip
    del doc["teacher"]
    run = step(world, "validate", spec=doc)
    assert run["capacity"]["kind"] == PROVISIONED and run["data"]["dataset"]["records"] == {"training": 3, "validation": 1}
    step(world, "startJob", run=run)
    (request,) = world.control.requests
    assert request["trainingDataConfig"] == {"s3Uri": "s3://fmgw-customization/datasets/train.jsonl"}
    assert request["validationDataConfig"] == {"validators": [{"s3Uri": "s3://fmgw-customization/datasets/validation.jsonl"}]}
    assert request["hyperParameters"] == {"epochCount": "2"} and "customizationConfig" not in request
    assert request["customModelKmsKeyId"] == world.settings.kms_key_arn
    assert request["vpcConfig"] == {"subnetIds": ["subnet-a", "subnet-b"], "securityGroupIds": ["sg-1"]}


@pytest.mark.parametrize(
    ("code", "error", "says"),
    [
        ("ValidationException", InvalidSpec, "Bedrock refused the customization job: bad base model"),
        ("ServiceQuotaExceededException", JobFailed, "CreateModelCustomizationJob failed: ServiceQuotaExceededException"),
    ],
)
def test_bedrock_refusing_the_job_is_a_named_error(world, code, error, says):
    world.control = FakeControl(refuse=ControlPlaneError(code, "bad base model"))
    with pytest.raises(error, match=says):
        step(world, "startJob", run=validated(world))


def test_the_job_is_polled_until_it_completes(world):
    run = validated(world)
    world.control = FakeControl(["InProgress", "InProgress", "Completed"])
    job = step(world, "startJob", run=run)
    world.tick(30)
    job = step(world, "jobStatus", run=run, job=job)
    assert job["status"] == "InProgress" and job["elapsedSeconds"] == 30
    job = completed_job(world, run)
    assert job["customModelArn"] == CUSTOM_MODEL


@pytest.mark.parametrize(
    ("statuses", "says"),
    [(["Failed"], "failed: Insufficient training data"), (["Stopped"], "was stopped before it completed")],
)
def test_a_failed_or_stopped_job_is_job_failed(world, statuses, says):
    run = validated(world)
    world.control = FakeControl(statuses, failure="Insufficient training data")
    job = step(world, "startJob", run=run)
    with pytest.raises(JobFailed, match=says):
        step(world, "jobStatus", run=run, job=job)


def test_a_job_past_its_maximum_is_stopped_then_timed_out(world):
    run = validated(world)
    world.control = FakeControl(["InProgress"])
    job = step(world, "startJob", run=run)
    world.tick(101)
    with pytest.raises(JobTimedOut, match=r"still InProgress after 101 s \(polling.jobMaxSeconds 100\): stopped"):
        step(world, "jobStatus", run=run, job=job)
    assert world.control.stopped == [job["arn"]]


# ---- capacity


def test_a_nova_student_gets_an_on_demand_deployment_of_its_custom_model(world):
    run = validated(world)
    capacity = ready_capacity(world, run, completed_job(world, run))
    assert world.capacity.created == [(CUSTOM_DEPLOYMENT, f"support-distill-{run['suffix']}-eval", CUSTOM_MODEL, 1, None)]
    assert capacity["status"] == "Active" and capacity["hourlyUsd"] == 0.2


def test_capacity_refused_at_creation_is_capacity_failed(world):
    run = validated(world)
    job = completed_job(world, run)
    world.capacity = FakeCapacity(refuse=RuntimeError("ServiceQuotaExceededException: no units left"))
    with pytest.raises(CapacityFailed, match="could not be created: RuntimeError: ServiceQuotaExceededException"):
        step(world, "provision", run=run, job=job)


def test_failed_capacity_is_deleted_and_capacity_failed(world):
    run = validated(world)
    job = completed_job(world, run)
    world.capacity = FakeCapacity(["Creating", "Failed"])
    capacity = step(world, "capacityStatus", run=run, capacity=step(world, "provision", run=run, job=job))
    with pytest.raises(CapacityFailed, match=r"failed: simulated failure \(deleted\)"):
        step(world, "capacityStatus", run=run, capacity=capacity)
    assert world.capacity.live == {}


def test_capacity_not_in_service_in_time_is_deleted_and_timed_out(world):
    run = validated(world)
    job = completed_job(world, run)
    world.capacity = FakeCapacity(["Creating"])
    capacity = step(world, "provision", run=run, job=job)
    world.tick(51)
    with pytest.raises(CapacityTimedOut, match=r"still Creating after 51 s \(polling.capacityMaxSeconds 50\): deleted"):
        step(world, "capacityStatus", run=run, capacity=capacity)
    assert world.capacity.live == {}


# ---- evaluation, decision, report


def evaluated(world: World, run: dict, capacity: dict) -> list[dict]:
    return [step(world, "evaluateBatch", run=run, capacity=capacity, batch=batch) for batch in run["batches"]]


def whole_run(world: World, **changes) -> tuple[dict, dict, dict, dict]:
    run = validated(world, **changes)
    job = completed_job(world, run)
    capacity = ready_capacity(world, run, job)
    decision = step(world, "decide", run=run, job=job, capacity=capacity, batches=evaluated(world, run, capacity))
    notice = step(world, "report", run=run, job=job, capacity=capacity, decision=decision)
    return run, capacity, decision, notice


def test_as_good_and_cheaper_is_promoted_with_a_proposed_entry_that_loads(world, config_doc):
    run, capacity, decision, notice = whole_run(world)
    assert decision["decision"] == "promote"
    assert decision["reason"].startswith("promote support-distill: quality 1.0000 is within 0.02 of claude-haiku-4-5's 1.0000")
    baseline, candidate = decision["models"]
    assert baseline["costPer1kRequestsUsd"] == pytest.approx(0.035)  # 10 in x $0.001 + 5 out x $0.005 per 1k tokens
    assert candidate["costPer1kRequestsUsd"] == pytest.approx(0.02)  # $0.2 an hour over 10,000 requests an hour
    report = world.buckets.json(notice["reportUri"])
    assert notice["reportUri"] == "s3://fmgw-customization/reports/support-distill/report.json"
    assert notice["decision"] == "promote" and notice["subject"] == "FM Gateway customization support-distill: promote"
    # no evaluation capacity left behind: the proposed entry says how to buy its own
    assert report["customModelArn"] == CUSTOM_MODEL and report["capacity"]["afterRun"] == "deleted"
    assert world.capacity.deleted == [capacity["arn"]] and world.capacity.live == {}
    proposed = report["proposedCatalogEntry"]
    assert "backend" not in proposed["entry"] and proposed["servedBy"] is None
    assert proposed["toServe"] == "fmgw models provision support-distill --on-demand --switch"
    assert proposed["entry"]["customModelArn"] == CUSTOM_MODEL and proposed["entry"]["modelId"] == "amazon.nova-lite-v1:0"
    assert proposed["entry"]["capacityPrices"]["deploymentHourlyUsd"] == 0.2  # what `fmgw models provision` reads
    assert any("issue 25" in note for note in report["notes"]) and proposed["toServe"] in notice["message"]


def test_keep_capacity_on_promote_keeps_it_serving_the_proposed_entry(world, config_doc):
    spec = distillation_spec()
    spec["evaluation"]["keepCapacityOnPromote"] = True
    run, capacity, decision, notice = whole_run(world, evaluation=spec["evaluation"])
    report = world.buckets.json(notice["reportUri"])
    assert decision["decision"] == "promote" and report["capacity"]["afterRun"] == "kept" and world.capacity.deleted == []
    proposed = report["proposedCatalogEntry"]
    assert proposed["entry"]["backend"] == {"type": CUSTOM_DEPLOYMENT, "arn": capacity["arn"], "hourlyUsd": 0.2}
    config_doc["models"][proposed["alias"]] = proposed["entry"]
    assert parse_config(config_doc).catalog.models["support-distill"].invoke_id == capacity["arn"]


def test_a_worse_candidate_is_rejected_its_capacity_deleted_and_its_model_kept(world):
    world.invoker.responses["custom-model-deployment"] = answer("not ok")
    run, capacity, decision, notice = whole_run(world)
    assert decision["decision"] == "reject"
    assert "reject support-distill: quality 0.0000 falls more than 0.02 below claude-haiku-4-5's 1.0000" in decision["reason"]
    assert world.capacity.deleted == [capacity["arn"]] and notice["capacity"]["afterRun"] == "deleted"
    report = world.buckets.json(notice["reportUri"])
    assert "proposedCatalogEntry" not in report
    assert f"aws bedrock delete-custom-model --model-identifier {CUSTOM_MODEL}" in notice["message"]


def test_a_candidate_that_fails_every_case_scores_zero_after_asking_again(world):
    world.invoker.fail["custom-model-deployment"] = ("unavailable", "ServiceUnavailableException")
    *_, decision, _ = whole_run(world)
    assert decision["decision"] == "reject" and decision["models"][1]["quality"] == 0.0 and decision["models"][1]["errors"] == 3
    assert sorted(world.slept) == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]  # each case asked three times, 1 s then 2 s apart


def test_a_transient_failure_is_asked_again_and_the_answer_counts(world):
    real = world.invoker.converse
    failed: set[str] = set()

    def throttled_once(invoke_id: str, request: dict, deadline=None):
        prompt = request["messages"][-1]["content"][0]["text"]
        if "custom-model-deployment" in invoke_id and prompt not in failed:
            failed.add(prompt)
            raise InvocationError("throttled", "ThrottlingException", "slow down")
        return real(invoke_id, request, deadline)

    world.invoker.converse = throttled_once
    *_, decision, _ = whole_run(world)
    assert decision["decision"] == "promote" and decision["models"][1]["errors"] == 0 and world.slept == [1.0] * 3


def test_an_evaluation_set_without_a_scorer_cannot_decide(world):
    world.buckets.put(EVAL_URI, "\n".join(json.dumps({"prompt": f"q{i}"}) for i in range(3)))
    with pytest.raises(EvaluationFailed, match="claude-haiku-4-5: no case could be scored"):
        whole_run(world)


def test_rows_travel_as_json_and_come_back_the_same():
    observation = comparison.Observation("ok", 12.5, 3.0, 4, 0.0001, "m", False, None)
    row = comparison.Row("m", 3, 0, observation, 1.0, "", 0.0, False, None, False)
    assert comparison.row_from_json(json.loads(json.dumps(comparison.row_to_json(row)))) == row


def test_a_batch_of_the_set_runs_only_its_cases(world):
    world.buckets.put(EVAL_URI, eval_set(5))
    run = validated(world)
    capacity = ready_capacity(world, run, completed_job(world, run))
    result = step(world, "evaluateBatch", run=run, capacity=capacity, batch=run["batches"][1])
    rows = world.buckets.json(result["rowsUri"])["rows"]
    assert result["rows"] == 4 and sorted({row["case"] for row in rows}) == [3, 4]
    assert {row["model"] for row in rows} == {"claude-haiku-4-5", "support-distill"}


# ---- cleanup and the task entry


def failed_state(error: str, message: str, **parts) -> dict:
    cause = json.dumps({"errorType": error, "errorMessage": message})
    return {"spec": distillation_spec(), "error": {"Error": error, "Cause": cause}, **{k: {"value": v} for k, v in parts.items()}}


def test_cleanup_stops_the_job_and_deletes_the_capacity(world):
    run = validated(world)
    world.control = FakeControl(["InProgress"])
    job = step(world, "startJob", run=run)
    capacity = step(world, "provision", run=run, job={**job, "customModelArn": CUSTOM_MODEL})
    notice = step(world, "cleanup", state=failed_state("EvaluationFailed", "boom", run=run, job=job, capacity=capacity))
    assert world.control.stopped == [job["arn"]] and world.capacity.live == {}
    assert notice["subject"] == "FM Gateway customization support-distill: failed (EvaluationFailed)"
    assert notice["message"].startswith("customization run support-distill failed: EvaluationFailed: boom")
    assert notice["notCleaned"] == [] and len(notice["cleaned"]) == 2


def test_cleanup_keeps_a_completed_custom_model_and_names_what_it_could_not_delete(world):
    run = validated(world)
    job = completed_job(world, run)
    capacity = step(world, "provision", run=run, job=job)
    world.capacity.stuck = True
    notice = step(world, "cleanup", state=failed_state("CapacityTimedOut", "slow", run=run, job=job, capacity=capacity))
    assert world.control.stopped == []
    assert notice["kept"] == [
        f"custom model {CUSTOM_MODEL} (delete it with `aws bedrock delete-custom-model --model-identifier {CUSTOM_MODEL}`)"
    ]
    (item,) = notice["notCleaned"]
    assert "NOT deleted (RuntimeError: AccessDeniedException" in item and "delete-custom-model-deployment" in item
    assert "NOT cleaned up:" in notice["message"]


def test_cleanup_after_a_refused_spec_has_nothing_to_clean(world):
    notice = step(world, "cleanup", state={"spec": {"name": "x"}, "error": {"Error": "InvalidSpec", "Cause": "not json"}})
    assert notice["message"] == (
        "customization run x failed: InvalidSpec: not json\nnothing to clean up: no job or evaluation capacity had been created"
    )


def test_an_unknown_action_is_refused(world):
    with pytest.raises(InvalidSpec, match="unknown customization task 'train'"):
        step(world, "train")


def test_the_handler_runs_a_step_with_the_environment_it_is_given():
    from handlers import customization_tasks

    with pytest.raises(Misconfigured, match="FMGW_CUSTOMIZATION_ROLE_ARN and FMGW_CUSTOMIZATION_BUCKET"):
        customization_tasks.run({"action": "validate", "spec": distillation_spec()}, {"AWS_REGION": "us-east-1"})
