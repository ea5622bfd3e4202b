"""Step Functions without AWS: what every state machine of the project needs to run in moto's interpreter with its
Lambda tasks executed by the real handler functions, in this process.

- ``MOTO_SFN_CONFIG``: the moto configuration that makes it execute definitions (``mock_aws(config=...)``, or local mode's
  ``default_user_config``);
- ``substitute``: ``${Name}`` placeholders filled as CloudFormation's DefinitionSubstitutions fill them;
- the Lambda registry: ``register`` / ``lambda_dispatch`` route moto's Lambda invocations of a function name to a
  Python handler (moto's own simple backend echoes the payload), with a Lambda-like context of that function and the
  error reported as Lambda reports it (``x-amz-function-error``; the exception's class name is the error Step Functions
  sees, as in AWS);
- ``faithful_timestamps``: Choice rules read RFC 3339 timestamps as Step Functions does;
- ``start_sync_execution`` / ``wait_for``: an execution's end (moto has no StartSyncExecution).

Used by ``local.orchestration`` (the routing machine) and ``local.customization`` (the customization machine); never
deployed.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

MOTO_SFN_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
ACCOUNT = "123456789012"
Handler = Callable[[dict, Any], Any]


def substitute(text: str, values: dict[str, Any]) -> str:
    """Fill ``${Name}`` placeholders as CloudFormation's DefinitionSubstitutions (and CDK for templates) do."""
    missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(values)
    if missing:
        raise KeyError(f"no value for placeholders {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda match: str(values[match.group(1)]), text)


def function_arn(name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


class Function(NamedTuple):
    handler: Handler
    timeout_seconds: int = 30  # what the context's remaining time starts from (the function's timeout in AWS)
    memory_mb: int = 512


class _Context:
    """What Lambda hands a handler as ``context``, for one invocation of one function."""

    def __init__(self, name: str, function: Function):
        self.function_name = name
        self.memory_limit_in_mb = function.memory_mb
        self.invoked_function_arn = function_arn(name)
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + function.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_dispatch_lock = threading.Lock()
_functions: dict[str, Function] = {}
_original: list[Callable] = []  # moto's own invoke while ours is installed


def _invoke(self, function_name: str, qualifier, body, headers, response_headers) -> bytes:
    """Stands in for moto's echoing Lambda backend: run the real handler, report errors as Lambda does."""
    name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
    function = _functions.get(name)
    if function is None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "ResourceNotFoundException", "errorMessage": f"no local function {name}"}).encode()
    try:
        result = function.handler(json.loads(body or "{}"), _Context(name, function))
    except Exception as exc:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
    return json.dumps(result).encode()


def _rfc3339(string: str):
    """RFC 3339 timestamps as Step Functions' Choice rules read them (fractions and offsets included); moto's
    interpreter only reads ``%Y-%m-%dT%H:%M:%SZ``, not even its own ``$$.State.EnteredTime``."""
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(string.replace("Z", "+00:00")) if isinstance(string, str) and "T" in string else None
    except ValueError:
        return None
    return None if parsed is None or parsed.tzinfo is None else parsed


def faithful_timestamps() -> None:
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.is_operator import IsTimestamp

    IsTimestamp.string_to_timestamp = staticmethod(_rfc3339)  # type: ignore[method-assign]


def register(functions: dict[str, Handler | Function]) -> None:
    """Route moto's Lambda invocations of these function names to their handlers, in this process (a bare handler
    gets a 30 s function's context); moto's own Lambda backend is back once every name is unregistered."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    # moto's interpreter logs an ERROR for every absent path a Choice's IsPresent rule probes: normal here
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    faithful_timestamps()
    with _dispatch_lock:
        _functions.update({name: f if isinstance(f, Function) else Function(f) for name, f in functions.items()})
        if LambdaSimpleBackend.invoke is not _invoke:
            _original.append(LambdaSimpleBackend.invoke)
            LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


def unregister(names: list[str]) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    with _dispatch_lock:
        for name in names:
            _functions.pop(name, None)
        if not _functions and _original:
            LambdaSimpleBackend.invoke = _original.pop()  # type: ignore[method-assign]


@contextmanager
def lambda_dispatch(functions: dict[str, Handler | Function]) -> Iterator[None]:
    """``register`` for the duration."""
    register(functions)
    try:
        yield
    finally:
        unregister(list(functions))


def wait_for(sfn, execution_arn: str, timeout: float = 60, poll_seconds: float = 0.005) -> dict[str, Any]:
    """DescribeExecution once the execution has ended (``status`` TIMED_OUT here when it has not within ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        # moto may show the final status a moment before the output or error that goes with it
        if described["status"] != "RUNNING" and ("output" in described or "error" in described):
            return described
        if time.monotonic() > deadline:
            return {**described, "status": "TIMED_OUT", "error": "States.Timeout", "cause": ""}
        time.sleep(poll_seconds)


def start_sync_execution(sfn, state_machine_arn: str, input_text: str, timeout: float = 60) -> dict[str, Any]:
    """StartSyncExecution's answer (status, output | error + cause) from moto's start_execution + polling."""
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=uuid.uuid4().hex, input=input_text)["executionArn"]
    described = wait_for(sfn, arn, timeout)
    answer = {"executionArn": arn, "status": described["status"]}
    for field in ("output", "error", "cause"):
        if field in described:
            answer[field] = described[field]
    return answer
