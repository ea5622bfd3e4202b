"""The orchestrated route end to end in one process: the real ASL in moto's Step Functions interpreter, its
Lambda tasks running the real handler (``handlers.routing_tasks``), DynamoDB in moto, Bedrock from the
simulator over HTTP, and API Gateway's request and response templates rendered as API Gateway would."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from fmgateway import runtime
from local.aws_resources import NAMES, create_state_tables
from local.bedrock_simulator import BedrockSimulator
from local.orchestration import MOTO_SFN_CONFIG, ROUTING_TASKS_FUNCTION, OrchestratedRoute, create_state_machine, lambda_dispatch
from tests.conftest import CONFIG_FILE
from tests.integration.conftest import api_event
from tests.isolation_scenarios import ISOLATION, MEDIUM

BREAKER_TABLE, CACHE_TABLE = NAMES["FMGW_BREAKER_TABLE"], NAMES["FMGW_CACHE_TABLE"]
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{ROUTING_TASKS_FUNCTION}"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA_LITE = "us.amazon.nova-lite-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0"
OPUS = "us.anthropic.claude-opus-4-1-20250805-v1:0"
CLASSIFIER = "us.amazon.nova-micro-v1:0"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


class Orchestrated:
    def __init__(self, route: OrchestratedRoute, dynamodb, sim: BedrockSimulator):
        self.route, self.dynamodb, self.sim = route, dynamodb, sim

    def call(self, body) -> tuple[int, dict, dict]:
        raw = body if isinstance(body, str) else json.dumps(body)
        response = self.route(api_event("POST", "/v1/chat/orchestrated", raw))
        return response["statusCode"], response["headers"], json.loads(response["body"])

    def breaker(self, model_id: str) -> dict | None:
        return self.dynamodb.get_item(TableName=BREAKER_TABLE, Key={"pk": {"S": f"breaker#{model_id}"}}).get("Item")

    def failures(self, model_id: str) -> int:
        """Failures counted against the model in the routing tasks' health window (where the rate rule reads them)."""
        from fmgateway import runtime

        return int(runtime.gateway("orchestrated").health.totals(model_id).get("f", 0))

    def calls(self, model_id: str) -> int:
        return self.sim.stats()["models"].get(model_id, {}).get("calls", 0)


def config_file(tmp_path, **content_routing) -> str:
    doc = json.loads(CONFIG_FILE.read_text())
    doc["circuitBreaker"].update(failureRateThreshold=50, minimumCalls=2, stateCacheSeconds=0, cooldownSeconds=30)
    doc["contentRouting"].update(content_routing)
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.fixture
def make_orchestrated(sim, tmp_path, monkeypatch):
    from handlers import routing_tasks

    def make(**content_routing) -> Orchestrated:
        sim.reset()
        monkeypatch.setenv("FMGW_CONFIG_FILE", config_file(tmp_path, **content_routing))
        monkeypatch.setenv("FMGW_BREAKER_TABLE", BREAKER_TABLE)
        monkeypatch.setenv("FMGW_CACHE_TABLE", CACHE_TABLE)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", sim.url)
        runtime.reset()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_state_tables(dynamodb)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = create_state_machine(sfn, BREAKER_TABLE, FUNCTION_ARN)
        return Orchestrated(OrchestratedRoute(sfn, arn), dynamodb, sim)

    with mock_aws(config=MOTO_SFN_CONFIG), lambda_dispatch({ROUTING_TASKS_FUNCTION: routing_tasks.handler}):
        yield make
    runtime.reset()


@pytest.fixture
def orchestrated(make_orchestrated) -> Orchestrated:
    return make_orchestrated()


def test_a_tier_request_is_answered_with_the_gateway_block_and_execution_arn(orchestrated):
    status, _, body = orchestrated.call({"tier": "medium", "messages": user("Hello")})
    assert status == 200, body
    gateway = body["gateway"]
    assert gateway["modelId"] == SONNET and gateway["route"] == "tier:medium" and gateway["degraded"] is False
    assert gateway["attempts"][0]["outcome"] == "ok" and gateway["usage"]["outputTokens"] > 0 and gateway["costUsd"] > 0
    assert gateway["executionArn"].startswith("arn:aws:states:")
    assert body["output"]["message"]["content"][0]["text"].startswith("[simulated")


VISITED: set[str] = set()
RAN: set[str] = set()


@pytest.fixture(autouse=True)
def _ran(request):
    yield
    RAN.add(request.node.nodeid)


def visited(orchestrated: Orchestrated, execution_arn: str) -> list[str]:
    events = orchestrated.route.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    names = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    VISITED.update(names)
    return names


def run(orchestrated: Orchestrated, body) -> tuple[int, dict, dict, list[str]]:
    status, headers, payload = orchestrated.call(body)
    arns = orchestrated.route.sfn.list_executions(stateMachineArn=orchestrated.route.state_machine_arn)["executions"]
    newest = max(arns, key=lambda execution: execution["startDate"])["executionArn"]
    return status, headers, payload, visited(orchestrated, newest)


COMPLEX_PROMPT = "Prove step by step that the algorithm below is optimal.\n```\ndef f(x):\n    return x * 2\n```"


@pytest.mark.parametrize(
    ("text", "tier", "model_id"),
    [("Hello", "simple", HAIKU), ("Compare the two plans", "medium", SONNET), (COMPLEX_PROMPT, "complex", OPUS)],
)
def test_auto_picks_the_tier_the_heuristic_picks(make_orchestrated, text, tier, model_id):
    orchestrated = make_orchestrated(mode="heuristic")
    status, _, body, states = run(orchestrated, {"model": "auto", "messages": user(text)})
    assert status == 200, body
    assert body["gateway"]["route"] == f"auto:{tier}" and body["gateway"]["modelId"] == model_id
    assert body["gateway"]["routing"]["decidedBy"] == "heuristic"
    assert "Classify" in states and "Answered" in states


def test_an_open_breaker_skips_its_model(orchestrated):
    from fmgateway.aws.stores import DynamoBreakerStore

    far = 4_000_000_000.0  # OPEN until 2096
    DynamoBreakerStore(orchestrated.dynamodb, BREAKER_TABLE).put(SONNET, {"state": "OPEN", "failures": 0, "windowStart": 0,
        "openUntil": far, "probes": 0, "probeLeaseUntil": 0, "successes": 0}, 0)  # fmt: skip
    status, _, body, states = run(orchestrated, {"tier": "medium", "messages": user("Hello")})
    assert status == 200 and body["gateway"]["model"] == "nova-pro"
    skipped = {"model": "claude-sonnet-4-5", "outcome": "skipped", "code": "circuit_open", "ms": 0.0}
    assert body["gateway"]["attempts"][0] == skipped
    assert "RecordSkip" in states and "Admit" not in states and orchestrated.calls(SONNET) == 0


def test_a_throttled_primary_moves_to_the_next_at_once(orchestrated):
    orchestrated.sim.set_faults(SONNET, errorCode="ThrottlingException")
    status, _, body, states = run(orchestrated, {"tier": "medium", "messages": user("Hello")})
    assert status == 200 and body["gateway"]["model"] == "nova-pro"
    assert [a["outcome"] for a in body["gateway"]["attempts"]] == ["throttled", "ok"]
    assert body["gateway"]["attempts"][0]["code"] == "ThrottlingException"
    assert orchestrated.calls(SONNET) == 1  # a throttle with a candidate left is a routing signal: no retry
    assert "RecordFailure" in states
    assert orchestrated.failures(SONNET) == 1
    from fmgateway import runtime
    from fmgateway.health import stats as health_stats

    totals = runtime.gateway("orchestrated").health.totals(SONNET)
    assert totals[f"k{health_stats.key_slot('key-1')}"] == 1  # the execution's tenant reached the per-key count


def test_a_throttled_last_candidate_is_retried_once_by_the_machine(orchestrated):
    """The plan's last candidate has nowhere to move: the machine's Retry (with jitter) tries it once more."""
    orchestrated.sim.set_faults(SONNET, down=True)
    orchestrated.sim.set_faults("us.amazon.nova-pro-v1:0", down=True)
    orchestrated.sim.set_faults(MAVERICK, errorCode="ThrottlingException")
    status, _, body, _ = run(orchestrated, {"tier": "medium", "messages": user("Nothing cached for this one")})
    assert status == 503, body
    assert orchestrated.calls(SONNET) == 1 and orchestrated.calls(MAVERICK) == 2


def test_all_down_serves_the_cached_answer_marked_degraded(orchestrated):
    request = {"tier": "medium", "messages": user("Cache me")}
    assert run(orchestrated, request)[0] == 200
    for model_id in (SONNET, "us.amazon.nova-pro-v1:0", "us.meta.llama4-maverick-17b-instruct-v1:0"):
        orchestrated.sim.set_faults(model_id, down=True)
    status, _, body, states = run(orchestrated, request)
    assert status == 200 and body["gateway"]["degraded"] is True
    assert [a["outcome"] for a in body["gateway"]["attempts"]] == ["unavailable"] * 3
    assert "AnsweredDegraded" in states


def test_all_down_and_nothing_cached_is_503_with_retry_after(orchestrated):
    orchestrated.sim.set_faults("*", down=True)
    status, headers, body, states = run(orchestrated, {"tier": "simple", "messages": user("Nobody home")})
    assert status == 503 and int(headers["Retry-After"]) >= 1
    assert body["error"]["code"] == "service_unavailable" and "no candidate model could answer" in body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code", "requestId"}
    assert {"DescribeExhausted", "Failed", "Fail"} <= set(states)


def test_a_cooled_down_breaker_is_probed_through_the_admit_rule(orchestrated):
    from fmgateway.aws.stores import DynamoBreakerStore

    store = DynamoBreakerStore(orchestrated.dynamodb, BREAKER_TABLE)
    store.put(SONNET, {"state": "OPEN", "failures": 0, "windowStart": 0, "openUntil": 1.0, "probes": 0,
        "probeLeaseUntil": 0, "successes": 0}, 0)  # fmt: skip
    status, _, body, states = run(orchestrated, {"tier": "medium", "messages": user("Hello")})
    assert status == 200 and body["gateway"]["model"] == "claude-sonnet-4-5"
    assert {"Admit", "Admitted", "Invoke"} <= set(states)
    record, _ = store.get(SONNET)
    assert record["state"] == "HALF_OPEN" and record["successes"] == 1  # successesToClose is 2


def test_a_half_open_breaker_with_its_probe_taken_is_skipped(orchestrated):
    from fmgateway.aws.stores import DynamoBreakerStore

    DynamoBreakerStore(orchestrated.dynamodb, BREAKER_TABLE).put(SONNET, {"state": "HALF_OPEN", "failures": 0,
        "windowStart": 0, "openUntil": 1.0, "probes": 1, "probeLeaseUntil": 4_000_000_000.0, "successes": 0}, 0)  # fmt: skip
    status, _, body, states = run(orchestrated, {"tier": "medium", "messages": user("Hello")})
    assert status == 200 and body["gateway"]["model"] == "nova-pro"
    assert {"Admit", "Admitted", "RecordSkip"} <= set(states) and orchestrated.calls(SONNET) == 0


@pytest.mark.parametrize("label", ["simple", "complex"])
def test_the_classifier_model_picks_the_tier(make_orchestrated, label):
    orchestrated = make_orchestrated(mode="classifier")
    orchestrated.sim.configure(replies={"*nova-micro*": label})
    status, _, body, _ = run(orchestrated, {"messages": user("Hello")})
    assert status == 200 and body["gateway"]["route"] == f"auto:{label}"
    assert body["gateway"]["routing"]["decidedBy"] == "classifier" and orchestrated.calls(CLASSIFIER) == 1


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda sim: sim.set_faults(CLASSIFIER, errorCode="ServiceUnavailableException"), "failed (ServiceUnavailableException)"),
        (lambda sim: (sim.set_latency(CLASSIFIER, fixedMs=2500), sim.configure(replies={"*nova-micro*": "complex"})), "failed"),
        (lambda sim: sim.configure(replies={"*nova-micro*": "probably complex"}), "no valid label"),
    ],
    ids=["failure", "timeout", "unparseable"],
)
def test_classifier_trouble_falls_back_to_the_heuristic(make_orchestrated, setup, reason):
    orchestrated = make_orchestrated(mode="classifier")
    setup(orchestrated.sim)
    status, _, body, _ = run(orchestrated, {"messages": user("Hello")})
    routing = body["gateway"]["routing"]
    assert status == 200 and routing["decidedBy"] == "heuristic" and routing["tier"] == "simple"
    assert reason in routing["reason"]


def test_an_explicit_model_skips_classification(orchestrated):
    status, _, body, states = run(orchestrated, {"model": "nova-lite", "messages": user("Hello")})
    assert status == 200 and body["gateway"]["modelId"] == NOVA_LITE
    assert "NoClassification" in states and "Classify" not in states


def test_an_invalid_request_is_400_in_the_error_shape(orchestrated):
    status, _, body, states = run(orchestrated, {"model": "no-such-model", "messages": user("Hello")})
    assert status == 400 and body["error"]["code"] == "invalid_request" and "unknown model" in body["error"]["message"]
    assert {"ParseCaught", "DescribeCaught"} <= set(states)


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
        {"messages": [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]},
        {"messages": [{"role": "user", "content": [{"text": "   "}]}]},
        {"system": [{"text": " "}], "messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        {"messages": [{"role": "user", "content": [{"text": "x"}, {"image": {"format": "png", "source": {"bytes": "AAB="}}}]}]},
    ],
    ids=["assistant-first", "two-user-turns", "blank-text", "blank-system", "non-canonical-base64"],
)
def test_the_converse_rules_of_v1_chat_apply_before_any_model_call(orchestrated, body):
    status, _, payload, _ = run(orchestrated, body)
    assert status == 400 and payload["error"]["code"] == "invalid_request", payload
    assert orchestrated.sim.stats()["totals"]["calls"] == 0


def test_a_body_over_the_routes_limit_is_413_and_says_where_to_go(orchestrated):
    big = {"tier": "simple", "messages": user("x" * 245_000)}
    status, _, body, states = run(orchestrated, big)
    assert status == 413 and body["error"]["code"] == "request_too_large"
    assert "POST /v1/chat" in body["error"]["message"] and "256 KiB" in body["error"]["message"]
    assert "DescribeTooLarge" in states and orchestrated.sim.stats()["totals"]["calls"] == 0


def test_a_request_out_of_budget_is_504(make_orchestrated, tmp_path, monkeypatch):
    orchestrated = make_orchestrated()
    doc = json.loads(Path(config_file(tmp_path)).read_text())
    doc["timeouts"]["requestBudgetSeconds"] = 1.3  # a candidate needs >= 1 s left to start
    path = tmp_path / "tight.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("FMGW_CONFIG_FILE", str(path))
    runtime.reset()
    # the primary times out after 0.6 s: less than the 1 s a candidate needs is left for the next one
    orchestrated.sim.set_faults(HAIKU, timeoutRate=1.0, timeoutSeconds=0.6)
    status, _, body, states = run(orchestrated, {"tier": "simple", "messages": user("Hello")})
    assert status == 504 and body["error"]["code"] == "timeout"
    assert "OutOfTime" in states


def test_a_failing_task_is_an_internal_502_without_details(orchestrated, monkeypatch):
    from fmgateway.core import orchestration

    def broken(gateway, payload):
        raise RuntimeError("bug with a secret in it")

    monkeypatch.setitem(orchestration.STEPS, "plan", broken)
    status, _, body, states = run(orchestrated, {"tier": "simple", "messages": user("Hello")})
    assert status == 502 and body["error"]["code"] == "internal_error" and "secret" not in json.dumps(body)
    assert "DescribeInternalError" in states


@pytest.mark.parametrize("name", ISOLATION)
def test_isolation_table_in_the_state_machine(orchestrated, name):
    from fmgateway.config.gateway_config import load_file

    outcomes, status, counted = ISOLATION[name]
    models = load_file(CONFIG_FILE).catalog.models
    for alias, outcome in zip(MEDIUM, outcomes, strict=True):
        if outcome != "ok":
            orchestrated.sim.set_faults(models[alias].invoke_id, errorCode=outcome)
    got, _, body, _ = run(orchestrated, {"tier": "medium", "messages": user("Hello")})
    assert got == status, body
    if status == 502:
        assert body["error"]["code"] == "model_error" and "both failed this request" in body["error"]["message"]
    assert tuple(orchestrated.failures(models[alias].invoke_id) for alias in MEDIUM) == counted


def test_auto_in_learned_mode_reports_the_score_the_lambda_path_computes(orchestrated):
    from fmgateway.routing import difficulty

    text = "A farmer has 12 cows and buys 3 times as many sheep. How many animals does he have?"
    decision = difficulty.bundled_model().decide(text)
    status, _, body, states = run(orchestrated, {"model": "auto", "messages": user(text)})
    assert status == 200, body
    routing = body["gateway"]["routing"]
    assert routing["decidedBy"] == "learned" and body["gateway"]["route"] == f"auto:{decision.tier}"
    assert routing["score"] == round(decision.score, 4) and routing["threshold"] == round(decision.threshold, 4)
    assert "Classify" in states


def test_every_state_is_reached_by_a_test(request):
    others = {item.nodeid for item in request.session.items if item.module is request.module} - {request.node.nodeid}
    if not others or others - RAN:
        pytest.skip("needs every test of this module in one process first (make test runs pytest with --dist loadfile)")
    states = set(json.loads((CONFIG_FILE.parents[1] / "statemachines" / "routing.asl.json").read_text())["States"])
    assert states - VISITED == set()
