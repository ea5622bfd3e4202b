"""The simulator's model customization (issue 24): jobs that really read their data from S3 (moto) and invocation logs
the simulator itself wrote, through an unmodified boto3 ``bedrock`` client; every error path; the records a
distillation used under each kind of requestMetadataFilters; custom models served by capacity and answering as scripted
(local/simulator_customization*.py, local/simulator_training_data.py)."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable

import httpx
import pytest
from botocore.exceptions import ClientError

from local.bedrock_simulator import BedrockSimulator
from local.simulator_invocation_logs import InvocationLogWriter
from local.simulator_text import reply_text
from tests.integration.test_simulator_capacity import _boto, _error, _msgs, moto_url  # noqa: F401 (moto_url: a fixture)
from tests.unit.test_datasets import record as log_record

JOB_SECONDS = 0.3
NOVA, TEACHER = "amazon.nova-micro-v1:0", "us.amazon.nova-pro-v1:0"
ROLE = "arn:aws:iam::123456789012:role/fmgw-customization"
DATA, LOGS = "fmgw-training-data", "fmgw-invocation-logs"
CALLS = 90  # logged calls: team search/ads alternate, tier simple/complex/medium in turn, every 10th without a gateway id
RARE = 3  # logged calls of team "rare"
NO_ON_DEMAND = "The provided model doesn't support on-demand throughput."


@pytest.fixture(scope="module")
def s3(moto_url):  # noqa: F811
    client = _boto("s3", moto_url)
    for bucket in (DATA, LOGS, "fmgw-many-logs"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture(scope="module")
def sim(moto_url, s3):  # noqa: F811
    settings = {"customization": {"jobSeconds": JOB_SECONDS, "s3EndpointUrl": moto_url}, "capacity": {"provisioningSeconds": 0}}
    with BedrockSimulator(settings, use_env=False) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _reset(sim):
    sim.reset()
    yield


@pytest.fixture(scope="module")
def bedrock(sim):
    return sim.control_client()


@pytest.fixture(scope="module")
def runtime(sim):
    return sim.client()


@pytest.fixture(scope="module")
def logged(s3):
    """Calls through a simulator that writes Bedrock's invocation logs to moto (the one the jobs read, ``sim``, writes
    none, so the logs hold only these): (the id the record is known by, its requestMetadata) of every answered call.
    Five calls that failed are logged too, without a prompt."""
    writer = InvocationLogWriter(lambda key, data: s3.put_object(Bucket=LOGS, Key=key, Body=data), LOGS, flush_seconds=60)
    calls = []
    with BedrockSimulator(use_env=False, invocation_logs=writer) as logging_sim:
        client = logging_sim.client()
        for i in range(CALLS + RARE):
            metadata = {"team": ("search", "ads")[i % 2], "tier": ("simple", "complex", "medium")[i % 3]}
            if i >= CALLS:
                metadata["team"] = "rare"
            if i % 10 != 9:
                metadata["fmgw-request-id"] = f"gw-{i}"
            answer = client.converse(modelId=TEACHER, messages=_msgs(f"question {i}"), requestMetadata=metadata)
            calls.append((metadata.get("fmgw-request-id") or answer["ResponseMetadata"]["RequestId"], metadata))
        logging_sim.set_faults("amazon.nova-lite-v1:0", errorCode="ThrottlingException")
        for _ in range(5):
            with pytest.raises(ClientError):
                client.converse(modelId="amazon.nova-lite-v1:0", messages=_msgs(), requestMetadata={"team": "search"})
    return calls  # the writer flushed when the simulator stopped


def _put(s3, key: str, lines: list) -> str:
    s3.put_object(Bucket=DATA, Key=key, Body="\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode())
    return f"s3://{DATA}/{key}"


def _job(bedrock, name: str, data: dict, kind: str = "FINE_TUNING", model: str | None = None, **extra) -> str:
    return bedrock.create_model_customization_job(
        jobName=name, customModelName=model or f"{name}-model", roleArn=ROLE, baseModelIdentifier=NOVA,
        customizationType=kind, trainingDataConfig=data, outputDataConfig={"s3Uri": f"s3://{DATA}/out/"}, **extra,
    )["jobArn"]  # fmt: skip


def _distillation(bedrock, name: str, data: dict, teacher: str = TEACHER, **extra) -> str:
    config = {
        "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": teacher, "maxResponseLengthForInference": 1000}}
    }
    return _job(bedrock, name, data, "DISTILLATION", customizationConfig=config, **extra)


def _logs(filters: dict | None = None, **more) -> dict:
    config = {"invocationLogSource": {"s3Uri": f"s3://{LOGS}/AWSLogs/"}, **more}
    return {"invocationLogsConfig": config | ({"requestMetadataFilters": filters} if filters else {})}


def _ended(bedrock, job: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while (got := bedrock.get_model_customization_job(jobIdentifier=job))["status"] in ("InProgress", "Stopping"):
        assert time.monotonic() < deadline, got["status"]
        time.sleep(0.05)
    return got


def _raw_job(sim, job: str) -> dict:
    """GetModelCustomizationJob's JSON as the simulator sends it (boto3 drops the simulator's trainingDataUsed)."""
    return httpx.get(f"{sim.url}/model-customization-jobs/{job.replace('/', '%2F')}").json()


def _text(answer: dict) -> str:
    return answer["output"]["message"]["content"][0]["text"]


def _fails(call: Callable, code: str, status: int = 400) -> str:
    with pytest.raises(ClientError) as exc_info:
        call()
    found = _error(exc_info)
    assert found[:2] == (code, status), found
    return found[2]


# ---- fine-tuning and continued pre-training


def test_fine_tuning_reads_its_records_completes_and_its_model_answers_its_pairs_through_capacity(sim, s3, bedrock, runtime):
    conversation = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "You answer tersely."}],
        "messages": [
            {"role": "user", "content": [{"text": "Capital of France?"}]},
            {"role": "assistant", "content": [{"text": "Paris."}]},
        ],
    }
    uri = _put(s3, "ft/train.jsonl", [{"prompt": "What is 2+2?", "completion": "4"}, "", conversation])
    job = _job(bedrock, "ft-1", {"s3Uri": uri}, hyperParameters={"epochCount": "2"})
    assert job.startswith(f"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/{NOVA}/")
    got = bedrock.get_model_customization_job(jobIdentifier=job)
    assert (got["status"], got["outputModelName"], got["customizationType"]) == ("InProgress", "ft-1-model", "FINE_TUNING")
    assert got["statusDetails"]["validationDetails"]["status"] == "InProgress" and "outputModelArn" not in got
    _fails(lambda: bedrock.get_custom_model(modelIdentifier="ft-1-model"), "ResourceNotFoundException", 404)
    got = _ended(bedrock, "ft-1")
    assert got["status"] == "Completed" and got["endTime"] >= got["creationTime"]
    assert {d["status"] for d in got["statusDetails"].values()} == {"Completed"}
    assert got["trainingMetrics"]["trainingLoss"] > 0 and got["hyperParameters"] == {"epochCount": "2"}
    assert _raw_job(sim, job)["trainingDataUsed"] == {
        "source": uri, "kind": "s3", "objects": [uri], "matched": 2, "records": 2, "capped": False,
    }  # fmt: skip
    model = bedrock.get_custom_model(modelIdentifier=got["outputModelArn"])
    assert model["modelArn"].startswith(f"arn:aws:bedrock:us-east-1:123456789012:custom-model/{NOVA}/")
    assert (model["modelName"], model["jobArn"], model["customizationType"], model["modelStatus"]) == (
        "ft-1-model", job, "FINE_TUNING", "Active",
    )  # fmt: skip
    assert model["baseModelArn"] == f"arn:aws:bedrock:us-east-1::foundation-model/{NOVA}"
    assert model["trainingDataConfig"] == {"s3Uri": uri} and model["hyperParameters"] == {"epochCount": "2"}
    summaries = bedrock.list_custom_models()["modelSummaries"]
    assert [(s["modelName"], s["baseModelName"], s["modelStatus"]) for s in summaries] == [
        ("ft-1-model", "amazon.nova-micro-v1", "Active")
    ]
    # on demand: as Bedrock, no; through Provisioned Throughput or a deployment: its learned pairs, else its base model
    on_demand = lambda: runtime.converse(modelId=model["modelArn"], messages=_msgs("What is 2+2?"))  # noqa: E731
    assert _fails(on_demand, "ValidationException") == NO_ON_DEMAND
    pt = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="ft-pt", modelId="ft-1-model")
    pt_arn = pt["provisionedModelArn"]
    assert bedrock.get_provisioned_model_throughput(provisionedModelId=pt_arn)["modelArn"] == model["modelArn"]
    assert _text(runtime.converse(modelId=pt_arn, messages=_msgs("What is 2+2?"))) == "4"
    assert _text(runtime.converse(modelId=pt_arn, messages=_msgs("Capital of France?"))) == "Paris."
    assert _text(runtime.converse(modelId=pt_arn, messages=_msgs("Other"))) == reply_text(NOVA, "Other")
    deployment = bedrock.create_custom_model_deployment(modelDeploymentName="ft-dep", modelArn=model["modelArn"])
    native = json.loads(
        runtime.invoke_model(
            modelId=deployment["customModelDeploymentArn"], body=json.dumps({"messages": _msgs("What is 2+2?")})
        )["body"].read()
    )
    assert native["output"]["message"]["content"][0]["text"] == "4"  # a Nova body: the base model's family
    events = list(runtime.converse_stream(modelId=pt_arn, messages=_msgs("Capital of France?"))["stream"])
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == "Paris."


def test_continued_pre_training_reads_every_jsonl_object_under_a_prefix(sim, s3, bedrock, runtime):
    first = _put(s3, "cpt/a.jsonl", [{"input": "Gateways route requests."}, {"input": "Caches save tokens."}])
    second = _put(s3, "cpt/b.jsonl", [{"input": "Breakers open on failures."}])
    _put(s3, "cpt/notes.txt", ["not training data"])
    job = _job(bedrock, "cpt-1", {"s3Uri": f"s3://{DATA}/cpt/"}, "CONTINUED_PRE_TRAINING")
    assert _ended(bedrock, job)["status"] == "Completed"
    used = _raw_job(sim, job)["trainingDataUsed"]
    assert (used["objects"], used["records"]) == ([first, second], 3)
    pt = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="cpt-pt", modelId="cpt-1-model")
    answer = runtime.converse(modelId=pt["provisionedModelArn"], messages=_msgs("Gateways route requests."))
    assert _text(answer) == reply_text(NOVA, "Gateways route requests.")  # it learned text, not answers: its base model's


@pytest.mark.parametrize(
    ("kind", "lines", "reason"),
    [
        (
            "FINE_TUNING",
            [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}, "{not json"],
            "line 3: not JSON",
        ),
        ("FINE_TUNING", [{"prompt": "a", "completion": "b"}, {"prompt": "a"}], 'line 2: expected {"prompt", "completion"}'),
        ("FINE_TUNING", [{"messages": [{"role": "user", "content": "only a question"}]}], "line 1: the last message must be"),
        ("FINE_TUNING", [{"messages": [{"role": "assistant", "content": "x"}]}], "line 1: messages.0.role must be user"),
        ("FINE_TUNING", [{"schemaVersion": "v0", "messages": []}], "line 1: schemaVersion must be bedrock-conversation-2024"),
        ("FINE_TUNING", ["[1, 2]"], "line 1: not a JSON object"),
        ("CONTINUED_PRE_TRAINING", [{"input": "fine"}, {"prompt": "a", "completion": "b"}], "line 2: a continued pre-training"),
        ("FINE_TUNING", [""], "No training records"),
    ],
)
def test_a_record_that_does_not_parse_fails_the_job_naming_the_line(sim, s3, bedrock, kind, lines, reason):
    uri = _put(s3, "bad/train.jsonl", lines)
    job = _job(bedrock, "bad-1", {"s3Uri": uri}, kind)
    assert bedrock.get_model_customization_job(jobIdentifier=job)["status"] == "InProgress"
    got = _ended(bedrock, job)
    assert got["status"] == "Failed" and reason in got["failureMessage"], got["failureMessage"]
    assert got["statusDetails"]["validationDetails"]["status"] == "Failed" and "outputModelArn" not in got
    if "line" in reason:
        assert got["failureMessage"].startswith(f"{uri} line ")
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_training_data_that_cannot_be_read_fails_the_job(sim, bedrock):
    for name, uri in (("gone-1", "s3://fmgw-no-such-bucket/train.jsonl"), ("gone-2", f"s3://{DATA}/nothing-here/")):
        got = _ended(bedrock, _job(bedrock, name, {"s3Uri": uri}))
        assert got["status"] == "Failed" and uri in got["failureMessage"]


# ---- distillation


FILTERS = {
    "equals": ({"equals": {"team": "search"}}, lambda m: m["team"] == "search"),
    "notEquals": ({"notEquals": {"team": "ads"}}, lambda m: m["team"] != "ads"),
    "andAll": (
        {"andAll": [{"equals": {"team": "search"}}, {"notEquals": {"tier": "simple"}}]},
        lambda m: m["team"] == "search" and m["tier"] != "simple",
    ),
    "orAll": (
        {"orAll": [{"equals": {"tier": "simple"}}, {"equals": {"team": "rare"}}]},
        lambda m: m["tier"] == "simple" or m["team"] == "rare",
    ),
}


@pytest.mark.parametrize("kind", FILTERS)
def test_a_distillation_uses_exactly_the_log_records_its_filters_match(sim, bedrock, logged, kind):
    filters, matches = FILTERS[kind]
    expected = sorted(request_id for request_id, metadata in logged if matches(metadata))
    assert len(expected) >= 30  # every filter keeps at least the minimum (the andAll exactly)
    sim.configure(customization={**sim.config()["customization"], "minimumRecords": 30})
    job = _distillation(bedrock, f"distill-{kind}", _logs(filters, usePromptResponse=kind == "orAll"))
    got = _ended(bedrock, job)
    assert got["status"] == "Completed", got.get("failureMessage")
    assert got["customizationConfig"]["distillationConfig"]["teacherModelConfig"]["teacherModelIdentifier"] == TEACHER
    assert got["trainingDataConfig"]["invocationLogsConfig"]["requestMetadataFilters"] == filters
    for used in (_raw_job(sim, job)["trainingDataUsed"], sim.customization()["jobs"][0]["trainingDataUsed"]):
        assert used["kind"] == "invocationLogs" and (used["matched"], used["records"]) == (len(expected), len(expected))
        assert sorted(used["requestIds"]) == expected and not used["capped"]
        assert used["objects"] and all(o.startswith(f"s3://{LOGS}/AWSLogs/123456789012/") for o in used["objects"])
    if kind == "orAll":  # calls 9, 39 and 69 had no gateway id: known by the record's own requestId
        assert sum(not request_id.startswith("gw-") for request_id in used["requestIds"]) == 3


def test_too_few_matching_log_records_fail_the_distillation(sim, bedrock, logged):
    got = _ended(bedrock, _distillation(bedrock, "distill-rare", _logs({"equals": {"team": "rare"}})))
    assert got["status"] == "Failed"
    assert "Only 3 invocation log records match" in got["failureMessage"] and "at least 100" in got["failureMessage"]
    sim.configure(
        customization={"jobSeconds": 0, "minimumRecords": 3, "s3EndpointUrl": sim.config()["customization"]["s3EndpointUrl"]}
    )
    assert _ended(bedrock, _distillation(bedrock, "distill-rare-2", _logs({"equals": {"team": "rare"}})))["status"] == "Completed"
    # failed calls are logged without a prompt: never used, whatever the filter
    search = [request_id for request_id, m in logged if m["team"] == "search"]
    used = _raw_job(sim, _distillation(bedrock, "distill-search", _logs({"equals": {"team": "search"}})))["trainingDataUsed"]
    assert used["matched"] == len(search) == CALLS // 2


def test_more_than_15000_records_are_capped_as_bedrock_does(sim, s3, bedrock):
    raw, lines = log_record("q"), []  # the documentation-sourced Converse record
    for i in range(15_010):
        raw["requestId"], raw["requestMetadata"]["fmgw-request-id"] = f"r-{i}", f"gw-{i:05d}"
        lines.append(json.dumps(raw))
    key = "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/12/01/10/many.json.gz"
    s3.put_object(Bucket="fmgw-many-logs", Key=key, Body=gzip.compress("\n".join(lines).encode()))
    data = {"invocationLogsConfig": {"invocationLogSource": {"s3Uri": "s3://fmgw-many-logs/AWSLogs/"}}}
    job = _distillation(bedrock, "distill-many", data)
    used = _raw_job(sim, job)["trainingDataUsed"]
    assert (used["matched"], used["records"], used["capped"]) == (15_010, 15_000, True)
    assert used["requestIds"] == [f"gw-{i:05d}" for i in range(15_000)]
    assert _ended(bedrock, job)["status"] == "Completed"


def test_a_distilled_model_answers_as_its_teacher_and_outcomes_script_a_worse_one(sim, s3, bedrock, runtime):
    prompts = [{"schemaVersion": "bedrock-conversation-2024", "messages": [{"role": "user", "content": [{"text": f"p{i}"}]}]}
               for i in range(100)]  # fmt: skip
    uri = _put(s3, "distill/prompts.jsonl", prompts)
    teacher_arn = f"arn:aws:bedrock:us-east-1::foundation-model/{TEACHER.removeprefix('us.')}"
    job = _distillation(bedrock, "distill-s3", {"s3Uri": uri}, teacher=teacher_arn)
    assert _ended(bedrock, job)["status"] == "Completed"
    model = bedrock.get_model_customization_job(jobIdentifier=job)["outputModelArn"]
    deployment = bedrock.create_custom_model_deployment(modelDeploymentName="distill-dep", modelArn=model)
    arn, teacher = deployment["customModelDeploymentArn"], TEACHER.removeprefix("us.")
    sim.configure(replies={teacher: {"Hard question": "The teacher's good answer"}})
    assert _text(runtime.converse(modelId=arn, messages=_msgs("Hard question"))) == "The teacher's good answer"
    assert _text(runtime.converse(modelId=arn, messages=_msgs("p1"))) == reply_text(teacher, "p1")
    customization = {**sim.config()["customization"], "outcomes": {"distill-s3-*": "base"}}
    sim.configure(customization=customization)  # a worse distillation: it learned nothing
    assert _text(runtime.converse(modelId=arn, messages=_msgs("Hard question"))) == reply_text(NOVA, "Hard question")
    sim.configure(customization={**customization, "outcomes": {"distill-s3-model": "anthropic.claude-3-haiku-20240307-v1:0"}})
    assert _text(runtime.converse(modelId=arn, messages=_msgs("x"))) == reply_text("anthropic.claude-3-haiku-20240307-v1:0", "x")
    assert sim.customization()["customModels"][0]["answersAs"] == "anthropic.claude-3-haiku-20240307-v1:0"
    sim.configure(replies={teacher: "fixed", arn: "the deployment's own"})  # a reply for the ARN itself still wins
    assert _text(runtime.converse(modelId=arn, messages=_msgs("x"))) == "the deployment's own"


def test_a_distillation_needs_a_teacher_and_well_formed_filters(sim, bedrock):
    logs, file = _logs({"equals": {"team": "search"}}), {"s3Uri": f"s3://{DATA}/x.jsonl"}
    teacher_config = {"distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": TEACHER}}}
    for call in (
        lambda: _job(bedrock, "no-teacher", logs, "DISTILLATION"),
        lambda: _distillation(bedrock, "bad-teacher", logs, teacher="arn:aws:s3:::bucket"),
        lambda: _job(bedrock, "ft-logs", logs),  # invocation logs feed only distillations
        lambda: _job(bedrock, "ft-teacher", file, customizationConfig=teacher_config),  # a teacher only for distillations
        lambda: _job(bedrock, "rft", file, "REINFORCEMENT_FINE_TUNING"),  # not simulated
    ):
        _fails(call, "ValidationException")
    assert "teacherModelIdentifier" in _fails(lambda: _job(bedrock, "no-teacher", logs, "DISTILLATION"), "ValidationException")
    missing_base = lambda: bedrock.create_model_customization_job(  # noqa: E731
        jobName="no-base", customModelName="m", roleArn=ROLE, baseModelIdentifier="no-such-custom-model",
        trainingDataConfig=file, outputDataConfig={"s3Uri": f"s3://{DATA}/o/"},
    )  # fmt: skip
    _fails(missing_base, "ResourceNotFoundException", 404)
    request = {
        "jobName": "raw", "customModelName": "raw-model", "roleArn": ROLE, "baseModelIdentifier": NOVA,
        "customizationType": "DISTILLATION", "outputDataConfig": {"s3Uri": f"s3://{DATA}/o/"},
        "customizationConfig": teacher_config, "trainingDataConfig": logs,
    }  # fmt: skip
    refused = [
        {"trainingDataConfig": _logs(filters)}
        for filters in (
            {"equals": {"team": "search"}, "notEquals": {"team": "ads"}},  # a union: one member
            {"equals": {"team": "search", "tier": "simple"}},  # one pair
            {"andAll": []},
            {"orAll": [{"equals": {"a": "b"}}] * 17},
            {"andAll": [{"andAll": [{"equals": {"a": "b"}}]}]},  # no nesting
            {"startsWith": {"team": "s"}},
        )
    ]
    refused += [
        {"customizationConfig": {"distillationConfig": {"teacherModelConfig": {}}}},
        {"customizationConfig": {"distillationConfig": {"teacherModelConfig": {
            "teacherModelIdentifier": TEACHER, "maxResponseLengthForInference": 0}}}},
        {"trainingDataConfig": {**logs, "s3Uri": f"s3://{DATA}/x.jsonl"}},  # both sources
    ]  # fmt: skip
    for change in refused:
        answer = httpx.post(f"{sim.url}/model-customization-jobs", json={**request, **change})
        assert (answer.status_code, answer.headers["x-amzn-ErrorType"]) == (400, "ValidationException"), change
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []


# ---- names, stop, failJobs, delete


def test_a_duplicate_job_name_or_custom_model_name_is_a_conflict_and_a_token_is_idempotent(sim, s3, bedrock):
    uri = _put(s3, "dup/train.jsonl", [{"prompt": "a", "completion": "b"}])
    first = _job(bedrock, "dup-1", {"s3Uri": uri}, model="dup-model", clientRequestToken="token-1")
    assert _job(bedrock, "dup-1", {"s3Uri": uri}, model="dup-model", clientRequestToken="token-1") == first
    message = _fails(lambda: _job(bedrock, "dup-1", {"s3Uri": uri}, model="other-model"), "ConflictException")
    assert "dup-1" in message
    _fails(lambda: _job(bedrock, "dup-2", {"s3Uri": uri}, model="dup-model"), "ConflictException")  # a job makes it
    _ended(bedrock, first)
    _fails(lambda: _job(bedrock, "dup-3", {"s3Uri": uri}, model="dup-model"), "ConflictException")  # it exists
    assert len(bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"]) == 1


def test_a_stopped_job_is_stopping_then_stopped_and_makes_no_model(sim, s3, bedrock):
    uri = _put(s3, "stop/train.jsonl", [{"prompt": "a", "completion": "b"}])
    job = _job(bedrock, "stop-1", {"s3Uri": uri})
    assert bedrock.stop_model_customization_job(jobIdentifier=job)["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = bedrock.get_model_customization_job(jobIdentifier=job)
    assert got["status"] == "Stopping" and "endTime" not in got
    assert "Stopping" in {d["status"] for d in got["statusDetails"].values()}
    message = _fails(lambda: bedrock.stop_model_customization_job(jobIdentifier="stop-1"), "ConflictException")
    assert "Stopping" in message
    time.sleep(JOB_SECONDS + 0.1)
    got = bedrock.get_model_customization_job(jobIdentifier=job)
    assert got["status"] == "Stopped" and got["endTime"] and "outputModelArn" not in got
    assert bedrock.list_custom_models()["modelSummaries"] == []
    _fails(lambda: bedrock.get_custom_model(modelIdentifier="stop-1-model"), "ResourceNotFoundException", 404)
    _fails(lambda: bedrock.stop_model_customization_job(jobIdentifier="stop-1"), "ConflictException")
    _fails(lambda: bedrock.stop_model_customization_job(jobIdentifier="never"), "ResourceNotFoundException", 404)
    _fails(lambda: bedrock.get_model_customization_job(jobIdentifier="never"), "ResourceNotFoundException", 404)


def test_fail_jobs_fails_the_jobs_whose_name_or_model_name_matches(sim, s3, bedrock):
    sim.configure(customization={**sim.config()["customization"], "failJobs": ["doomed-*"]})
    uri = _put(s3, "doomed/train.jsonl", [{"prompt": "a", "completion": "b"}])
    by_job, by_model = (
        _job(bedrock, "doomed-job", {"s3Uri": uri}),
        _job(bedrock, "fine-job", {"s3Uri": uri}, model="doomed-model"),
    )
    fine = _job(bedrock, "ok-job", {"s3Uri": uri})
    for job in (by_job, by_model):
        got = _ended(bedrock, job)
        assert got["status"] == "Failed" and "customization.failJobs" in got["failureMessage"]
        assert got["statusDetails"]["trainingDetails"]["status"] == "Failed"
    assert _ended(bedrock, fine)["status"] == "Completed"
    assert [m["modelName"] for m in bedrock.list_custom_models()["modelSummaries"]] == ["ok-job-model"]
    summaries = bedrock.list_model_customization_jobs(statusEquals="Failed", sortOrder="Ascending")
    assert [s["jobName"] for s in summaries["modelCustomizationJobSummaries"]] == ["doomed-job", "fine-job"]
    page = bedrock.list_model_customization_jobs(maxResults=2)
    assert [s["jobName"] for s in page["modelCustomizationJobSummaries"]] == ["ok-job", "fine-job"] and page["nextToken"]
    rest = bedrock.list_model_customization_jobs(maxResults=2, nextToken=page["nextToken"])
    assert [s["jobName"] for s in rest["modelCustomizationJobSummaries"]] == ["doomed-job"]
    assert [s["jobName"] for s in bedrock.list_model_customization_jobs(nameContains="ok")["modelCustomizationJobSummaries"]] == [
        "ok-job"
    ]


def test_a_custom_model_served_by_capacity_cannot_be_deleted(sim, s3, bedrock, runtime):
    uri = _put(s3, "del/train.jsonl", [{"prompt": "a", "completion": "b"}])
    model = _ended(bedrock, _job(bedrock, "del-1", {"s3Uri": uri}))["outputModelArn"]
    pt = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="del-pt", modelId=model)
    deployment = bedrock.create_custom_model_deployment(modelDeploymentName="del-dep", modelArn=model)
    for capacity in (pt["provisionedModelArn"], deployment["customModelDeploymentArn"]):
        message = _fails(lambda: bedrock.delete_custom_model(modelIdentifier=model), "ConflictException")
        assert capacity in message
        if capacity == pt["provisionedModelArn"]:
            bedrock.delete_provisioned_model_throughput(provisionedModelId=capacity)
        else:
            bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=capacity)
    assert bedrock.delete_custom_model(modelIdentifier="del-1-model")["ResponseMetadata"]["HTTPStatusCode"] == 200
    _fails(lambda: bedrock.get_custom_model(modelIdentifier=model), "ResourceNotFoundException", 404)
    _fails(lambda: bedrock.delete_custom_model(modelIdentifier=model), "ResourceNotFoundException", 404)
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_reset_clears_jobs_and_custom_models_and_bad_settings_are_refused(sim, s3, bedrock):
    uri = _put(s3, "reset/train.jsonl", [{"prompt": "a", "completion": "b"}])
    _ended(bedrock, _job(bedrock, "reset-1", {"s3Uri": uri}))
    overview = httpx.get(f"{sim.url}/_sim/customization").json()
    assert [(j["jobName"], j["status"]) for j in overview["jobs"]] == [("reset-1", "Completed")]
    assert [(m["modelName"], m["answersAs"], m["learnedPrompts"]) for m in overview["customModels"]] == [
        ("reset-1-model", NOVA, 1)
    ]
    assert httpx.post(f"{sim.url}/_sim/reset").status_code == 200
    assert sim.customization() == {"jobs": [], "customModels": []}
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
    for bad in ({"jobSeconds": -1}, {"failJobs": "yes"}, {"minimumRecords": 0}, {"outcomes": {"x": 1}},
                {"s3EndpointUrl": "moto"}, {"nope": 1}):  # fmt: skip
        assert httpx.put(f"{sim.url}/_sim/config", json={"customization": bad}).status_code == 400, bad


def test_the_capacity_check_finds_the_simulators_own_custom_models_before_the_fallback(moto_url, s3):  # noqa: F811
    """With a fallback (moto) and checkCustomModels, a custom model of the simulator needs no twin in moto."""
    settings = {"controlPlaneFallback": moto_url, "capacity": {"provisioningSeconds": 0},
                "customization": {"jobSeconds": 0, "s3EndpointUrl": moto_url}}  # fmt: skip
    with BedrockSimulator(settings, use_env=False) as forwarding:
        bedrock = forwarding.control_client()
        uri = _put(s3, "fallback/train.jsonl", [{"prompt": "a", "completion": "b"}])
        model = _ended(bedrock, _job(bedrock, "fb-1", {"s3Uri": uri}))["outputModelArn"]
        pt = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="fb-pt", modelId=model)
        assert _text(forwarding.client().converse(modelId=pt["provisionedModelArn"], messages=_msgs("a"))) == "b"
        with pytest.raises(ClientError) as exc_info:  # moto never heard of it
            _boto("bedrock", moto_url).get_custom_model(modelIdentifier=model)
        assert _error(exc_info)[0] == "ResourceNotFoundException"


def test_local_mode_reads_s3_through_aws_endpoint_url(moto_url, s3, monkeypatch):  # noqa: F811
    """s3EndpointUrl null: boto3's own resolution, as local mode relies on (AWS_ENDPOINT_URL is its moto)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    with BedrockSimulator({"customization": {"jobSeconds": 0}}, use_env=False) as plain:
        bedrock = plain.control_client()
        uri = _put(s3, "env/train.jsonl", [{"prompt": "a", "completion": "b"}])
        assert _ended(bedrock, _job(bedrock, "env-1", {"s3Uri": uri}))["status"] == "Completed"


def test_the_invocation_logs_written_are_gzipped_json_lines(s3, logged):
    """The distillation tests read what the simulator wrote: check it is there, as Bedrock lays it out."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=LOGS)["Contents"]]
    objects = [k for k in keys if k.endswith(".json.gz")]
    lines = [
        json.loads(line)
        for k in objects
        for line in gzip.decompress(s3.get_object(Bucket=LOGS, Key=k)["Body"].read()).splitlines()
    ]
    assert len([r for r in lines if "errorCode" not in r]) == CALLS + RARE and len([r for r in lines if "errorCode" in r]) == 5
