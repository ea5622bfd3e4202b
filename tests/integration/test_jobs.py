"""Async jobs end to end through the handlers: moto for DynamoDB/SQS/S3/SNS, the simulator for Bedrock."""

from __future__ import annotations

import json
import random
import time

import pytest
import requests
from moto import mock_aws

from fmgateway import runtime
from fmgateway.jobs.service import SUCCEEDED
from local.aws_resources import create_resources
from local.bedrock_simulator import BedrockSimulator
from local.event_sources import SqsEventSource
from tests.conftest import CONFIG_FILE
from tests.integration.conftest import LambdaContext, api_event
from tests.integration.jobs_env import notices

CHAT = {"messages": [{"role": "user", "content": [{"text": "Summarise the plot of Hamlet."}]}], "tier": "simple"}


class Pipeline:
    def __init__(self, env: dict, simulator: BedrockSimulator):
        from handlers import jobs_api, jobs_dlq, jobs_sweeper, jobs_worker

        self.env, self.simulator = env, simulator
        self.api, self.sweeper = jobs_api.handler, jobs_sweeper.handler
        self.worker = SqsEventSource(env["FMGW_JOBS_QUEUE_URL"], jobs_worker.handler)
        self.dlq = SqsEventSource(env["FMGW_JOBS_DLQ_URL"], jobs_dlq.handler)

    def call(self, method: str, path: str, body=None, tenant: str = "tenant-a", headers=None, job_id=None):
        event = api_event(method, path, body, headers)
        event["resource"] = "/v1/jobs/{id}" if job_id else "/v1/jobs"
        event["pathParameters"] = {"id": job_id} if job_id else None
        event["requestContext"]["identity"] = {"apiKeyId": tenant}
        response = self.api(event, LambdaContext())
        return response["statusCode"], response["headers"], json.loads(response["body"])

    def submit(self, body=CHAT, **kwargs) -> str:
        status, _, payload = self.call("POST", "/v1/jobs", body, **kwargs)
        assert status == 202, payload
        return payload["jobId"]

    def status(self, job_id: str, tenant: str = "tenant-a") -> dict:
        return self.call("GET", f"/v1/jobs/{job_id}", tenant=tenant, job_id=job_id)[2]

    def notices(self) -> list[dict]:
        return notices(self.env["FMGW_NOTICES_URL"])


@pytest.fixture
def pipeline(monkeypatch, tmp_path):
    config = json.loads(CONFIG_FILE.read_text())
    config["jobs"]["inlineResultMaxBytes"] = 2000
    config_file = tmp_path / "gateway.json"
    config_file.write_text(json.dumps(config))
    with (
        BedrockSimulator(use_env=False) as simulator,
        mock_aws(config={"core": {"passthrough": {"services": ["bedrock-runtime"]}}}),
    ):
        env = create_resources()
        for name, value in {
            **env,
            "FMGW_CONFIG_FILE": str(config_file),
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": simulator.url,
        }.items():
            monkeypatch.setenv(name, value)
        runtime.reset()
        from handlers import jobs_worker

        jobs_worker._idempotency.cache_clear()
        yield Pipeline(env, simulator)
        runtime.gateway("jobs").cache.flush()
        runtime.reset()


def test_happy_path_submit_process_poll_notify(pipeline):
    status, headers, body = pipeline.call("POST", "/v1/jobs", {**CHAT, "metadata": {"ticket": 42}})
    assert status == 202
    assert body["status"] == "QUEUED" and headers["Location"] == body["statusUrl"] == f"/v1/jobs/{body['jobId']}"
    job_id = body["jobId"]
    assert pipeline.status(job_id)["status"] == "QUEUED"

    pipeline.worker.drain()
    job = pipeline.status(job_id)
    assert job["status"] == "SUCCEEDED" and job["attempts"] == 1
    assert job["metadata"] == {"ticket": 42}
    assert job["result"]["output"]["message"]["content"][0]["text"].startswith("[simulated ")
    assert job["result"]["gateway"]["route"] == "tier:simple"
    assert job["createdAt"] <= job["updatedAt"]

    [notice] = pipeline.notices()
    assert notice["attributes"] == {"status": "SUCCEEDED", "tenant": "tenant-a", "route": "tier:simple"}
    assert notice["message"]["jobId"] == job_id and notice["message"]["metadata"] == {"ticket": 42}


def test_idempotent_resubmission(pipeline):
    key = {"Idempotency-Key": "order-123"}
    first = pipeline.submit(headers=key)
    assert pipeline.submit(headers=key) == first  # same key, same tenant: same job
    assert pipeline.submit(headers=key, tenant="tenant-b") != first  # keys are per tenant
    status, _, body = pipeline.call("POST", "/v1/jobs", {**CHAT, "tier": "complex"}, headers=key)
    assert status == 409 and body["error"]["code"] == "conflict"
    pipeline.worker.drain()
    assert pipeline.status(first)["attempts"] == 1  # run once
    assert pipeline.submit(headers=key) == first  # still the same job after it finished
    assert len([n for n in pipeline.notices() if n["message"]["jobId"] == first]) == 1


def test_tenant_isolation(pipeline):
    job_id = pipeline.submit()
    for method in ("GET", "DELETE"):
        status, _, body = pipeline.call(method, f"/v1/jobs/{job_id}", tenant="tenant-b", job_id=job_id)
        assert status == 404 and body["error"]["code"] == "not_found"
    assert pipeline.status(job_id)["status"] == "QUEUED"


def test_unknown_job_and_missing_key(pipeline):
    assert pipeline.call("GET", "/v1/jobs/abc", job_id="abc")[0] == 404
    event = api_event("POST", "/v1/jobs", CHAT)
    event["requestContext"]["identity"] = {}
    assert pipeline.api(event, LambdaContext())["statusCode"] == 403


def test_invalid_job_request_is_400(pipeline):
    status, _, body = pipeline.call("POST", "/v1/jobs", {"messages": []})
    assert status == 400 and "body.messages" in body["error"]["message"]


def test_cancel_before_start(pipeline):
    job_id = pipeline.submit()
    status, _, body = pipeline.call("DELETE", f"/v1/jobs/{job_id}", job_id=job_id)
    assert status == 200 and body["status"] == "CANCELLED"
    pipeline.worker.drain()
    job = pipeline.status(job_id)
    assert job["status"] == "CANCELLED" and job["attempts"] == 0 and "result" not in job
    assert [n["attributes"]["status"] for n in pipeline.notices()] == ["CANCELLED"]


def test_cancel_after_finish_is_409(pipeline):
    job_id = pipeline.submit()
    pipeline.worker.drain()
    status, _, body = pipeline.call("DELETE", f"/v1/jobs/{job_id}", job_id=job_id)
    assert status == 409 and "SUCCEEDED" in body["error"]["message"]


def test_large_result_goes_to_s3_with_a_presigned_url(pipeline):
    runtime.config_source().get().raw["jobs"]["inlineResultMaxBytes"] = 300  # the simulator answers ~800 bytes
    job_id = pipeline.submit()
    pipeline.worker.drain()
    job = pipeline.status(job_id)
    assert job["status"] == SUCCEEDED and "result" not in job
    assert job["resultUrl"].startswith("https://") and "X-Amz-Signature" in job["resultUrl"]
    fetched = requests.get(job["resultUrl"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.json()["output"]["message"]["role"] == "assistant"


def test_poison_message_goes_to_the_dlq_and_the_job_fails_with_the_reason(pipeline):
    pipeline.simulator.set_faults("*", down=True)
    job_id = pipeline.submit()
    for _ in range(3):  # maxReceiveCount 3: three failed deliveries
        assert pipeline.worker.poll_once() == 1
        assert pipeline.status(job_id)["status"] == "RUNNING"
    assert pipeline.worker.poll_once() == 0  # moved to the DLQ
    pipeline.dlq.drain()
    job = pipeline.status(job_id)
    assert job["status"] == "FAILED" and job["attempts"] == 3
    assert job["error"]["code"] == "poisoned"
    assert "gave up after 3 attempts" in job["error"]["message"]
    assert "no candidate model could answer" in job["error"]["message"]
    [notice] = pipeline.notices()
    assert notice["attributes"]["status"] == "FAILED" and notice["attributes"]["tenant"] == "tenant-a"


def test_a_job_the_model_rejects_fails_at_once_without_retries(pipeline):
    job_id = pipeline.submit()
    pipeline.simulator.set_faults("*", errorCode="ValidationException")
    pipeline.worker.drain()
    job = pipeline.status(job_id)
    assert job["status"] == "FAILED" and job["attempts"] == 1 and job["error"]["code"] == "invalid_request"


def test_submit_that_dies_before_enqueueing_is_swept(pipeline, monkeypatch):
    jobs = runtime.jobs()
    real_send = jobs.queue.send
    monkeypatch.setattr(jobs.queue, "send", lambda job_id: (_ for _ in ()).throw(ConnectionError("sqs down")))
    job_id = pipeline.submit()  # accepted: the record exists, flagged for the sweeper
    assert pipeline.worker.poll_once() == 0
    monkeypatch.setattr(jobs.queue, "send", real_send)
    assert pipeline.sweeper({}, LambdaContext()) == {"enqueued": 0}  # still within the grace period
    monkeypatch.setattr(jobs, "clock", lambda: time.time() + 120)
    assert pipeline.sweeper({}, LambdaContext()) == {"enqueued": 1}
    assert pipeline.sweeper({}, LambdaContext()) == {"enqueued": 0}  # flag cleared once enqueued
    pipeline.worker.drain()
    assert pipeline.status(job_id)["status"] == "SUCCEEDED"


def test_idempotent_resubmit_enqueues_a_job_left_behind(pipeline, monkeypatch):
    jobs = runtime.jobs()
    real_send = jobs.queue.send
    monkeypatch.setattr(jobs.queue, "send", lambda job_id: (_ for _ in ()).throw(ConnectionError("sqs down")))
    job_id = pipeline.submit(headers={"Idempotency-Key": "k1"})
    monkeypatch.setattr(jobs.queue, "send", real_send)
    assert pipeline.submit(headers={"Idempotency-Key": "k1"}) == job_id
    pipeline.worker.drain()
    assert pipeline.status(job_id)["status"] == "SUCCEEDED"


class Chaos:
    """Makes ~20% of jobs fail on their first attempt at a random point of processing."""

    POINTS = ("before_start", "after_start", "before_result", "after_result")

    def __init__(self, jobs, rng: random.Random, rate: float = 0.2):
        self.rng, self.rate = rng, rate
        self.plan: dict[str, str] = {}
        self.fired: dict[str, str] = {}
        self.result_writes: dict[str, int] = {}
        store = jobs.store
        real_update = store.update

        def update(job_id, changes, **kwargs):
            point = self.plan.get(job_id)
            status = changes.get("status")
            if status == "RUNNING" and point in ("before_start", "after_start") and job_id not in self.fired:
                if point == "before_start":
                    self.fired[job_id] = point
                    raise RuntimeError(f"chaos {point}")
                done = real_update(job_id, changes, **kwargs)
                self.fired[job_id] = point
                raise RuntimeError(f"chaos {point} (done={done})")
            if status == SUCCEEDED and point in ("before_result", "after_result") and job_id not in self.fired:
                self.fired[job_id] = point
                if point == "before_result":
                    raise RuntimeError(f"chaos {point}")
                done = real_update(job_id, changes, **kwargs)
                self.result_writes[job_id] = self.result_writes.get(job_id, 0) + int(done)
                raise RuntimeError(f"chaos {point}")
            done = real_update(job_id, changes, **kwargs)
            if status == SUCCEEDED and done:
                self.result_writes[job_id] = self.result_writes.get(job_id, 0) + 1
            return done

        store.update = update

    def choose(self, job_id: str) -> None:
        if self.rng.random() < self.rate:
            self.plan[job_id] = self.rng.choice(self.POINTS)


def test_fault_injection_500_jobs_each_succeeds_exactly_once(pipeline, capsys):
    rng = random.Random(20261122)
    jobs = runtime.jobs()
    chaos = Chaos(jobs, rng)
    job_ids = []
    for index in range(500):
        body = {"messages": [{"role": "user", "content": [{"text": f"Job number {index}: say hi"}]}], "tier": "simple"}
        job_id = pipeline.submit(body, tenant=f"tenant-{index % 5}")
        chaos.choose(job_id)
        job_ids.append(job_id)
    sqs = pipeline.worker.sqs
    # Some messages are delivered twice: within a batch, and again after the job finished.
    pipeline.worker.drain(duplicate=lambda message: rng.random() < 0.05)
    for job_id in rng.sample(job_ids, 25):
        sqs.send_message(QueueUrl=pipeline.env["FMGW_JOBS_QUEUE_URL"], MessageBody=json.dumps({"jobId": job_id}))
    pipeline.worker.drain()
    pipeline.dlq.drain()

    statuses = {job_id: jobs.store.get(job_id)["status"] for job_id in job_ids}
    sns_per_job: dict[str, int] = {}
    for notice in pipeline.notices():
        sns_per_job[notice["message"]["jobId"]] = sns_per_job.get(notice["message"]["jobId"], 0) + 1
    succeeded = sum(1 for status in statuses.values() if status == SUCCEEDED)
    lost = [job_id for job_id, status in statuses.items() if status != SUCCEEDED]
    duplicate_writes = [job_id for job_id in job_ids if chaos.result_writes.get(job_id, 0) != 1]
    duplicate_notices = [job_id for job_id in job_ids if sns_per_job.get(job_id, 0) != 1]
    with capsys.disabled():
        print(
            f"\n[fault test] jobs={len(job_ids)} failed-first-attempts={len(chaos.fired)} "
            f"({', '.join(f'{p}={list(chaos.fired.values()).count(p)}' for p in Chaos.POINTS)}) "
            f"succeeded={succeeded} lost={len(lost)} result-writes={sum(chaos.result_writes.values())} "
            f"sns-messages={sum(sns_per_job.values())} duplicate-writes={len(duplicate_writes)} "
            f"duplicate-notices={len(duplicate_notices)} worker-invocations={pipeline.worker.invocations}"
        )
    assert 60 <= len(chaos.fired) <= 140  # ~20% of 500 failed their first attempt
    assert lost == []
    assert duplicate_writes == []
    assert duplicate_notices == []


def test_a_failed_delivery_comes_back_after_a_backoff_not_the_visibility_timeout(pipeline):
    from handlers.jobs_worker import retry_delay

    assert [retry_delay(n) for n in (1, 2, 3, 6, 20)] == [30, 60, 120, 900, 900]
    pipeline.simulator.set_faults("*", down=True)
    job_id = pipeline.submit()
    pipeline.worker.retry_delay = None  # keep the visibility the handler set, as Lambda does
    assert pipeline.worker.poll_once() == 1
    attributes = pipeline.worker.sqs.get_queue_attributes(
        QueueUrl=pipeline.env["FMGW_JOBS_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert pipeline.status(job_id)["status"] == "RUNNING"
    assert pipeline.status(job_id)["attempts"] == 1


def test_a_second_delivery_while_the_job_runs_is_dropped_not_failed(pipeline, monkeypatch):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    from handlers import jobs_worker

    job_id = pipeline.submit()
    config, run = jobs_worker._idempotency()

    def in_progress(message):
        raise IdempotencyAlreadyInProgressError("another delivery holds this job")

    monkeypatch.setattr(jobs_worker, "_idempotency", lambda: (config, in_progress))
    assert pipeline.worker.poll_once() == 1
    assert pipeline.worker.poll_once() == 0  # deleted: not retried towards the DLQ
    assert pipeline.status(job_id)["status"] == "QUEUED"  # untouched, the running delivery owns it


def test_non_latin_text_near_the_size_limit_fits_the_job_record(pipeline):
    text = "東京" * 40_000  # 80k characters: ~240 KB as UTF-8, twice that as \\u escapes
    raw = json.dumps({"messages": [{"role": "user", "content": [{"text": text}]}]}, ensure_ascii=False)  # as sent
    status, _, body = pipeline.call("POST", "/v1/jobs", raw)
    assert status == 202, body
    job = runtime.jobs().store.get(body["jobId"])
    assert job["request"]["messages"][0]["content"][0]["text"] == text


def test_a_large_request_sends_even_a_small_result_to_s3(pipeline):
    text = "word " * 40_000  # 200 KB of request: request + inline result would crowd the 400 KB item
    runtime.config_source().get().raw["jobs"]["inlineResultMaxBytes"] = 300_000
    from fmgateway.jobs import service as jobs_module

    job_id = pipeline.submit({"messages": [{"role": "user", "content": [{"text": text}]}], "tier": "complex"})
    original = jobs_module.ITEM_BUDGET_BYTES
    jobs_module.ITEM_BUDGET_BYTES = 200_500  # keep the test's answer small: the request alone nearly fills it
    try:
        pipeline.worker.drain()
    finally:
        jobs_module.ITEM_BUDGET_BYTES = original
    job = pipeline.status(job_id)
    assert job["status"] == SUCCEEDED and "resultUrl" in job and "result" not in job


def test_concurrent_announcers_send_one_notice(pipeline, monkeypatch):
    """A worker delivery lands while DELETE is between its publish and its notified flag."""
    jobs = runtime.jobs()
    job_id = pipeline.submit()
    real_publish = jobs.notifier.publish

    def publish_while_a_worker_delivery_arrives(message, attributes):
        real_publish(message, attributes)
        assert jobs.process(job_id) == "duplicate"  # sees CANCELLED, tries to announce, loses the claim

    monkeypatch.setattr(jobs.notifier, "publish", publish_while_a_worker_delivery_arrives)
    assert pipeline.call("DELETE", f"/v1/jobs/{job_id}", job_id=job_id)[0] == 200
    assert [n["attributes"]["status"] for n in pipeline.notices()] == ["CANCELLED"]


def test_a_notice_lost_to_a_crash_is_sent_by_the_next_delivery(pipeline, monkeypatch):
    jobs = runtime.jobs()
    job_id = pipeline.submit()
    real_publish = jobs.notifier.publish
    monkeypatch.setattr(jobs.notifier, "publish", lambda *a: (_ for _ in ()).throw(ConnectionError("sns down")))
    pipeline.worker.poll_once()  # completes the job, the publish fails, the claim is released, the message retried
    assert pipeline.status(job_id)["status"] == SUCCEEDED and pipeline.notices() == []
    monkeypatch.setattr(jobs.notifier, "publish", real_publish)
    pipeline.worker.drain()
    assert [n["attributes"]["status"] for n in pipeline.notices()] == ["SUCCEEDED"]


TOOL = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}
DEEP = {"a": [1]}
for _ in range(40):
    DEEP = {"a": DEEP}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": {"x": NaN}}', "NaN is not JSON"),
        ('{"messages": [{"role": "user", "content": [{"text": "hi \\ud800"}]}]}', "lone UTF-16 surrogate"),
        ('{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "metadata": {"n": ' + "7" * 4400 + "}}", "out of range"),
        (json.dumps({**CHAT, "metadata": DEEP}), "nested deeper than 32 levels"),
        (json.dumps({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}), "messages[0].role"),
        (json.dumps({"messages": [CHAT["messages"][0], CHAT["messages"][0]]}), "messages[1].role: roles must alternate"),
        (json.dumps({**CHAT, "model": "no-such-model"}), "body.model: unknown model"),
        (  # issue 10: a capability no candidate has, and the requestMetadata rules, are refused at submit
            json.dumps({**CHAT, "model": "llama3-3-70b", "toolConfig": {"tools": [TOOL], "toolChoice": {"any": {}}}}),
            "llama3-3-70b: capability: does not support toolChoice",
        ),
        (json.dumps({**CHAT, "requestMetadata": {"fmgw-route": "x"}}), "body.requestMetadata['fmgw-route']"),
        (json.dumps({**CHAT, "maxCostUsd": 0.000001, "inferenceConfig": {"maxTokens": 4000}}), "body.maxCostUsd: 1e-06 USD"),
        (json.dumps({**CHAT, "maxCostUsd": 0.01, "model": "claude-opus-4-1"}), "body.maxCostUsd: claude-opus-4-1 may cost"),
        (json.dumps({**CHAT, "maxCostUsd": 0}), "maxCostUsd"),
        (
            json.dumps({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "aGé="}}}]}]}),
            "messages[0].content[0].image.source.bytes",
        ),
    ],
)
def test_a_job_the_worker_could_not_run_is_refused_at_submit(pipeline, raw, says):
    status, _, payload = pipeline.call("POST", "/v1/jobs", raw)
    assert status == 400 and says in payload["error"]["message"], payload
    assert pipeline.worker.poll_once() == 0  # nothing was queued


def test_metadata_round_trips_as_valid_json(pipeline):
    metadata = {"nested": {"list": [1, 2.5, None, True, "é"]}, "big": 2**63 - 1}
    job_id = pipeline.submit({**CHAT, "metadata": metadata})
    pipeline.worker.drain()
    status = pipeline.status(job_id)
    assert status["status"] == "SUCCEEDED" and status["metadata"] == metadata


@pytest.mark.parametrize("failing", ["create", "get"])
def test_a_store_failure_is_a_503_with_retry_after_never_a_500(pipeline, monkeypatch, failing):
    import botocore.exceptions

    job_id = pipeline.submit()
    jobs = runtime.jobs()

    def broken(*args, **kwargs):
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://dynamodb")

    monkeypatch.setattr(jobs.store, failing, broken)
    if failing == "create":
        status, headers, payload = pipeline.call("POST", "/v1/jobs", CHAT)
    else:
        status, headers, payload = pipeline.call("GET", f"/v1/jobs/{job_id}", job_id=job_id)
    assert status == 503 and headers["Retry-After"] == "1"
    assert payload["error"]["code"] == "service_unavailable" and payload["error"]["requestId"]


def test_tenant_is_the_authorizers_key_id(pipeline):
    """API key source AUTHORIZER: the key authorizer's context carries the key id; it is the tenant, and it wins over
    anything else in the identity."""

    def call(method, path, tenant, body=None, job_id=None):
        event = api_event(method, path, body)
        event["resource"] = "/v1/jobs/{id}" if job_id else "/v1/jobs"
        event["pathParameters"] = {"id": job_id} if job_id else None
        event["requestContext"]["identity"] = {"apiKeyId": None}
        event["requestContext"]["authorizer"] = {"principalId": tenant, "apiKeyId": tenant, "plan": "free"}
        response = pipeline.api(event, LambdaContext())
        return response["statusCode"], json.loads(response["body"])

    status, body = call("POST", "/v1/jobs", "key-id-a", CHAT)
    assert status == 202, body
    job_id = body["jobId"]
    assert call("GET", f"/v1/jobs/{job_id}", "key-id-a", job_id=job_id)[0] == 200
    assert call("GET", f"/v1/jobs/{job_id}", "key-id-b", job_id=job_id)[0] == 404
    assert pipeline.status(job_id, tenant="key-id-a")["jobId"] == job_id  # the same tenant as the header key source
