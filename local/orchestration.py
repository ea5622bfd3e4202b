"""The orchestrated route without AWS: ``statemachines/routing.asl.json`` executed by moto's Step Functions
interpreter, its Lambda tasks dispatched in-process to the real handler functions, and API Gateway's mapping
templates (``statemachines/routing.*.vtl``) rendered by a Velocity engine made for AWS templates (airspeed-ext).

Used by local mode (``make local`` serves ``POST /v1/chat/orchestrated`` through it) and by the tests; never
deployed. In AWS the same files are what CDK deploys: the definition with its substitutions, the templates
on the method's Step Functions integration.
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
from pathlib import Path
from typing import Any

import airspeed

ROOT = Path(__file__).resolve().parents[1]
STATEMACHINES = ROOT / "statemachines"
DEFINITION = STATEMACHINES / "routing.asl.json"
REQUEST_TEMPLATE = STATEMACHINES / "routing.request.vtl"
RESPONSE_TEMPLATE = STATEMACHINES / "routing.response.vtl"
# Step Functions caps an execution's input at 256 KiB; the wrapped body is the bulk of it (infra uses the same figure)
MAX_WRAPPED_BODY_CHARS = 240_000
ROUTING_TASKS_FUNCTION = "fmgw-routing-tasks"
MOTO_SFN_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def substitute(text: str, values: dict[str, Any]) -> str:
    """Fill ``${Name}`` placeholders as CloudFormation's DefinitionSubstitutions (and CDK for templates) do."""
    missing = set(re.findall(r"\$\{(\w+)\}", text)) - set(values)
    if missing:
        raise KeyError(f"no value for placeholders {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda match: str(values[match.group(1)]), text)


# ---- API Gateway mapping templates ----------------------------------------------------------------------


def escape_javascript(text: Any) -> str:
    """``$util.escapeJavaScript``: Java's StringEscapeUtils rules, single quotes included (API Gateway docs)."""
    out = []
    for char in str(text):
        code = ord(char)
        if char in "\"'\\/":
            out.append("\\" + char)
        elif char in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif code < 0x20 or code > 0x7E:
            if code > 0xFFFF:  # Java strings are UTF-16: a surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    return "".join(out)


class _Util:
    escapeJavaScript = staticmethod(escape_javascript)

    @staticmethod
    def parseJson(text: str) -> Any:
        return json.loads(text)


class _Input:
    def __init__(self, body: str):
        self.body = body
        self._parsed: Any = None

    def _value(self, path: str) -> Any:
        if self._parsed is None:
            self._parsed = json.loads(self.body or "{}")
        value = self._parsed
        for part in path.removeprefix("$").strip(".").split(".") if path not in ("$", "") else ():
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def path(self, path: str) -> Any:
        return self._value(path)

    def json(self, path: str) -> str:
        return json.dumps(self._value(path), separators=(",", ":"), ensure_ascii=False)


def render(template: str, body: str, request_id: str, api_key_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """Render a mapping template the way API Gateway does; returns the text and ``$context.responseOverride``."""
    override: dict[str, Any] = {"status": None, "header": {}}
    context = {"requestId": request_id, "identity": {"apiKeyId": api_key_id or ""}, "responseOverride": override}
    text = airspeed.Template(template).merge({"input": _Input(body), "util": _Util, "context": context})
    return text, override


# ---- moto's interpreter with real Lambda tasks ---------------------------------------------------------


class _Context:
    function_name = ROUTING_TASKS_FUNCTION
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{ROUTING_TASKS_FUNCTION}"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 28_000


_dispatch_lock = threading.Lock()
_handlers: dict[str, Callable[[dict, Any], Any]] = {}


def _invoke(self, function_name: str, qualifier, body, headers, response_headers) -> bytes:
    """Stands in for moto's echoing Lambda backend: run the real handler, report errors as Lambda does."""
    name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
    handler = _handlers.get(name)
    if handler is None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "ResourceNotFoundException", "errorMessage": f"no local function {name}"}).encode()
    try:
        result = handler(json.loads(body or "{}"), _Context())
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


def install_lambda_dispatch(handlers: dict[str, Callable[[dict, Any], Any]]) -> None:
    """Route moto's Lambda invocations of these function names to the given handlers, in this process."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    # moto's interpreter logs an ERROR for every absent path a Choice's IsPresent rule probes: normal here
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    faithful_timestamps()
    with _dispatch_lock:
        _handlers.update(handlers)
        LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


@contextmanager
def lambda_dispatch(handlers: dict[str, Callable[[dict, Any], Any]]) -> Iterator[None]:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke
    install_lambda_dispatch(handlers)
    try:
        yield
    finally:
        LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]
        for name in handlers:
            _handlers.pop(name, None)


def definition(breaker_table: str, function_arn: str) -> str:
    return substitute(DEFINITION.read_text(), {"BreakerTableName": breaker_table, "RoutingTasksFunctionArn": function_arn})


def create_state_machine(sfn, breaker_table: str, function_arn: str, name: str = "fmgw-routing") -> str:
    role = "arn:aws:iam::123456789012:role/fmgw-routing"
    return sfn.create_state_machine(name=name, definition=definition(breaker_table, function_arn), roleArn=role, type="EXPRESS")[
        "stateMachineArn"
    ]


def start_sync_execution(sfn, state_machine_arn: str, input_text: str, timeout: float = 60) -> dict[str, Any]:
    """StartSyncExecution's answer (status, output | error + cause) from moto's start_execution + polling."""
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=uuid.uuid4().hex, input=input_text)["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        # moto may show the final status a moment before the output or error that goes with it
        if described["status"] != "RUNNING" and ("output" in described or "error" in described):
            break
        if time.monotonic() > deadline:
            return {"executionArn": arn, "status": "TIMED_OUT", "error": "States.Timeout", "cause": ""}
        time.sleep(0.005)
    answer = {"executionArn": arn, "status": described["status"]}
    for field in ("output", "error", "cause"):
        if field in described:
            answer[field] = described[field]
    return answer


class OrchestratedRoute:
    """``POST /v1/chat/orchestrated`` as API Gateway serves it: request template -> StartSyncExecution ->
    response template. Called with an API Gateway proxy event (as local mode hands to every route)."""

    def __init__(self, sfn, state_machine_arn: str, max_wrapped_body_chars: int = MAX_WRAPPED_BODY_CHARS):
        self.sfn, self.state_machine_arn = sfn, state_machine_arn
        values = {"StateMachineArn": state_machine_arn, "MaxWrappedBodyChars": max_wrapped_body_chars}
        self.request_template = substitute(REQUEST_TEMPLATE.read_text(), values)
        self.response_template = RESPONSE_TEMPLATE.read_text()

    def __call__(self, event: dict, context: Any = None) -> dict[str, Any]:
        request_id = event["requestContext"]["requestId"]
        api_key_id = (event["requestContext"].get("identity") or {}).get("apiKeyId")
        rendered, _ = render(self.request_template, event.get("body") or "{}", request_id, api_key_id)
        start = json.loads(rendered)
        answer = start_sync_execution(self.sfn, start["stateMachineArn"], start["input"])
        body, override = render(self.response_template, json.dumps(answer), request_id, api_key_id)
        headers = {"Content-Type": "application/json", **{k: str(v) for k, v in override["header"].items()}}
        return {"statusCode": int(override["status"] or 200), "headers": headers, "body": body.strip()}
