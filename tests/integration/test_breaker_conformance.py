"""One breaker, two executors: every row of the scenario table (tests/breaker_scenarios.py) through the Python
breaker and through the routing state machine (the real ASL in moto's interpreter, its Lambda tasks running the
real handler), driven by one fake clock; after every step both leave the same breaker record.

How a row maps onto the state machine: ``admit`` starts a request whose model call is held open, so the admit
decision is observable on its own (allow / probe: the call arrives; skip: the execution ends without one);
``ok`` / ``fail`` completes the oldest held call that way, or, with none held, runs a whole request that ends
that way. The fake clock is the execution's ``$$.State.EnteredTime``, which the Choice and the tasks use.
"""

from __future__ import annotations

import datetime as real_datetime
import json
import queue
import threading
import time

import boto3
import pytest
from moto import mock_aws

from fmgateway import runtime
from fmgateway.aws.stores import DynamoBreakerStore, MemoryBreakerStore
from fmgateway.core import orchestration
from fmgateway.health.breaker import BreakerState, CircuitBreaker
from fmgateway.values.errors import InvocationError
from local.aws_resources import NAMES, create_state_tables
from local.orchestration import MOTO_SFN_CONFIG, ROUTING_TASKS_FUNCTION, create_state_machine, lambda_dispatch
from tests.breaker_scenarios import BREAKER, HEALTH, SCENARIOS, SETTINGS, event_key
from tests.conftest import CONFIG_FILE, FakeClock

BREAKER_TABLE = NAMES["FMGW_BREAKER_TABLE"]
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{ROUTING_TASKS_FUNCTION}"
KEY = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
REQUEST = {"tier": "simple", "messages": [{"role": "user", "content": [{"text": "Hello"}]}]}


class HeldCall:
    def __init__(self):
        self.released = threading.Event()
        self.outcome = "ok"

    def release(self, outcome: str) -> None:
        self.outcome = outcome
        self.released.set()


class HeldInvoker:
    """The model behind the state machine's invoke task: each call waits until the test says how it ends."""

    def __init__(self):
        self.calls: queue.Queue[HeldCall] = queue.Queue()

    def configure(self, settings: dict) -> None:
        pass

    def converse(self, invoke_id: str, request: dict, deadline: float | None = None) -> dict:
        call = HeldCall()
        self.calls.put(call)
        if not call.released.wait(30):
            raise InvocationError("timeout", "HeldTooLong", "the test never released this call")
        if call.outcome == "fail":
            raise InvocationError("unavailable", "ServiceUnavailableException", "held call failed")
        return {"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}}, "stopReason": "end_turn",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}  # fmt: skip


class FakeEnteredTime:
    """Stands in for the ``datetime`` module where moto's interpreter stamps ``$$.State.EnteredTime``."""

    timezone = real_datetime.timezone

    def __init__(self, clock: FakeClock):
        clock_ref = clock

        class _DateTime:
            @staticmethod
            def now(tz=None):
                return real_datetime.datetime.fromtimestamp(clock_ref(), real_datetime.UTC)

        self.datetime = _DateTime


class StateMachineExecutor:
    def __init__(self, sfn, arn: str, invoker: HeldInvoker, decisions: list[str]):
        self.sfn, self.arn, self.invoker, self.decisions = sfn, arn, invoker, decisions
        self.held: list[tuple[HeldCall, str]] = []

    def _start(self, tenant: str) -> str:
        payload = json.dumps({"requestId": "conformance", "tenant": tenant, "body": REQUEST})
        return self.sfn.start_execution(stateMachineArn=self.arn, name=f"e{time.monotonic_ns()}", input=payload)["executionArn"]

    def _done(self, arn: str) -> bool:
        return self.sfn.describe_execution(executionArn=arn)["status"] != "RUNNING"

    def _wait(self, predicate, what: str) -> None:
        deadline = time.monotonic() + 30
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.005)

    def _next_call_or_end(self, arn: str) -> HeldCall | None:
        found: list[HeldCall] = []

        def arrived() -> bool:
            try:
                found.append(self.invoker.calls.get_nowait())
                return True
            except queue.Empty:
                return self._done(arn)

        self._wait(arrived, "the model call or the end of the execution")
        return found[0] if found else None

    def admit(self, tenant: str) -> str:
        arn = self._start(tenant)
        call = self._next_call_or_end(arn)
        if call is None:
            return "skip"
        self.held.append((call, arn))
        return self.decisions[-1]

    def outcome(self, outcome: str, tenant: str) -> None:
        if self.held:
            call, arn = self.held.pop(0)
        else:
            arn = self._start(tenant)
            call = self._next_call_or_end(arn)
            if call is None:
                return  # skipped (breaker open): the bare event leaves no mark either
        call.release(outcome)
        self._wait(lambda: self._done(arn), "the execution to end")

    def release_all(self) -> None:
        for call, arn in self.held:
            call.release("ok")
            self._wait(lambda arn=arn: self._done(arn), "a held execution to end")
        self.held.clear()


@pytest.fixture
def executors(tmp_path, monkeypatch):
    from moto.stepfunctions.parser.asl.component.state import state as moto_state

    from handlers import routing_tasks

    clock = FakeClock()
    doc = json.loads(CONFIG_FILE.read_text())
    doc["circuitBreaker"] = dict(SETTINGS)
    doc["health"] = dict(HEALTH)
    doc["tiers"]["simple"] = ["claude-haiku-4-5"]  # one candidate: every event is about its breaker
    doc["cache"]["enabled"] = False
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv("FMGW_CONFIG_FILE", str(path))
    monkeypatch.setenv("FMGW_BREAKER_TABLE", BREAKER_TABLE)
    monkeypatch.delenv("FMGW_CACHE_TABLE", raising=False)
    monkeypatch.setattr(moto_state, "datetime", FakeEnteredTime(clock))
    decisions: list[str] = []
    original_invoke = orchestration.STEPS["invoke"]

    def invoke(gateway, payload):
        decisions.append(payload["decision"])
        return original_invoke(gateway, payload)

    monkeypatch.setitem(orchestration.STEPS, "invoke", invoke)
    runtime.reset()
    with mock_aws(config=MOTO_SFN_CONFIG), lambda_dispatch({ROUTING_TASKS_FUNCTION: routing_tasks.handler}):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_state_tables(dynamodb)
        invoker = HeldInvoker()
        runtime.gateway("orchestrated").invoker = invoker
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = StateMachineExecutor(sfn, create_state_machine(sfn, BREAKER_TABLE, FUNCTION_ARN), invoker, decisions)
        memory = MemoryBreakerStore()
        yield clock, CircuitBreaker(memory, clock=clock), memory, machine, DynamoBreakerStore(dynamodb, BREAKER_TABLE)
        machine.release_all()
    runtime.reset()


@pytest.mark.parametrize("name", SCENARIOS)
def test_both_executors_leave_the_same_records(executors, name):
    clock, breaker, memory, machine, table = executors
    start = clock.now
    for at, step, expected, state in SCENARIOS[name]:
        clock.now = start + at
        event, caller = event_key(step)
        if event == "admit":
            assert breaker.admit(KEY, BREAKER) == expected, ("python", at, step)
            assert machine.admit(caller) == expected, ("state machine", at, step)
        elif event == "fail":
            breaker.record_failure(KEY, BREAKER, caller=caller)
            machine.outcome("fail", caller)
        else:
            breaker.record_success(KEY, BREAKER, caller=caller)
            machine.outcome("ok", caller)
        python_record = BreakerState.from_record(memory.get(KEY)[0])
        machine_record = BreakerState.from_record(table.get(KEY)[0])
        assert python_record.state == state, (at, event)
        assert machine_record == python_record, (at, event, machine_record, python_record)
