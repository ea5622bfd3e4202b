"""The orchestrated route without AWS: ``statemachines/routing.asl.json`` executed by moto's Step Functions
interpreter, its Lambda tasks dispatched in-process to the real handler functions, and API Gateway's mapping
templates (``statemachines/routing.*.vtl``) rendered by a Velocity engine made for AWS templates (airspeed-ext).

Used by local mode (``make local`` serves ``POST /v1/chat/orchestrated`` through it) and by the tests; never
deployed. In AWS the same files are what CDK deploys: the definition with its substitutions, the templates
on the method's Step Functions integration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import airspeed

from local import step_functions
from local.step_functions import MOTO_SFN_CONFIG, faithful_timestamps, start_sync_execution, substitute

__all__ = ["MOTO_SFN_CONFIG", "faithful_timestamps", "start_sync_execution", "substitute"]  # where callers found them

ROOT = Path(__file__).resolve().parents[1]
STATEMACHINES = ROOT / "statemachines"
DEFINITION = STATEMACHINES / "routing.asl.json"
REQUEST_TEMPLATE = STATEMACHINES / "routing.request.vtl"
RESPONSE_TEMPLATE = STATEMACHINES / "routing.response.vtl"
# Step Functions caps an execution's input at 256 KiB; the wrapped body is the bulk of it (infra uses the same figure)
MAX_WRAPPED_BODY_CHARS = 240_000
ROUTING_TASKS_FUNCTION = "fmgw-routing-tasks"


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


# ---- moto's interpreter with real Lambda tasks (local.step_functions) ----------------------------------------


def install_lambda_dispatch(handlers: dict[str, Callable[[dict, Any], Any]]) -> None:
    """Route moto's Lambda invocations of these function names to the given handlers (``step_functions.register``)."""
    step_functions.register(dict(handlers))


def lambda_dispatch(handlers: dict[str, Callable[[dict, Any], Any]]):
    return step_functions.lambda_dispatch(dict(handlers))


def definition(breaker_table: str, function_arn: str) -> str:
    return substitute(DEFINITION.read_text(), {"BreakerTableName": breaker_table, "RoutingTasksFunctionArn": function_arn})


def create_state_machine(sfn, breaker_table: str, function_arn: str, name: str = "fmgw-routing") -> str:
    role = "arn:aws:iam::123456789012:role/fmgw-routing"
    return sfn.create_state_machine(name=name, definition=definition(breaker_table, function_arn), roleArn=role, type="EXPRESS")[
        "stateMachineArn"
    ]


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
