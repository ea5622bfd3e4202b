"""OpenAI structured outputs, which both directions need: ``response_format`` and ``strict`` tools, from the request
(``output_format``, ``strict_schemas``) through each candidate's form of them (``candidate_step``) to the answer's
check (``OutputFormat.answer``, ``check_strict_calls``).

``response_format`` on Bedrock: ``json_schema`` as native structured output (Converse ``outputConfig``) on a
model whose catalog capabilities include ``structuredOutput``, else, like ``json_object`` everywhere, as a forced tool
whose input schema is the caller's schema: the tool's input is the answer. Either way the answer is checked before
it is returned: parsable JSON, matching the schema, or a 502 that says why (``ModelError``).

The choice is made per candidate, inside the candidate loop (``candidate_step``), because a fallback model may not
have what the first one has. The request's forwarded fields hold the forced-tool form, which every tool-capable model
takes (so the capability filter asks for tool use, and the degraded cache key covers the schema).

``strict`` tools likewise: Bedrock's strict tool use where the candidate has structured outputs, the tools without
``strict`` elsewhere; either way the calls are checked against the tool's parameters before they are returned.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from fmgateway.openai_surface import json_schema
from fmgateway.routing.capabilities import STRUCTURED_OUTPUT
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import OUTPUT_SCHEMA_MISMATCH, InvalidRequest, InvocationError, ModelError
from fmgateway.values.model import Model

JSON_OBJECT_TOOL = "json_object"
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
WRAPPED = "value"  # a schema whose root is not an object travels as the one property of the tool's input


def output_format(body: dict[str, Any], caller_tools: dict | None) -> OutputFormat | None:
    """``response_format`` -> its ``OutputFormat`` (None: plain text), refused here when it cannot be honoured."""
    spec = body.get("response_format")
    if spec is not None:
        # a key OpenAI's response_format does not have for this type is refused by name, never ignored: instructor's
        # JSON_SCHEMA mode sends {"type": "json_object", "schema": ...}, whose schema would otherwise be lost
        allowed = RESPONSE_FORMAT_KEYS.get(spec.get("type"), {"type"})
        extra = sorted(set(spec) - allowed)
        if extra:
            hint = " (a schema goes in {'type': 'json_schema', 'json_schema': {'name', 'schema'}})" if "schema" in extra else ""
            raise InvalidRequest(f"body.response_format.{extra[0]}: not a field of a {spec.get('type')} response_format{hint}")
    if spec is None or spec.get("type") == "text":
        return None
    if spec.get("type") == "json_object":
        name = JSON_OBJECT_TOOL
        result = OutputFormat("json_object", name, {"type": "object"}, None, caller_tools)
    elif spec.get("type") == "json_schema":
        definition = spec.get("json_schema") or {}
        name = definition.get("name") or ""
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequest("body.response_format.json_schema.name: 1-64 characters of a-z A-Z 0-9 _ -")
        schema = definition.get("schema", {"type": "object"})
        if problem := json_schema.unsupported(schema, "body.response_format.json_schema.schema"):
            raise InvalidRequest(problem)
        result = OutputFormat("json_schema", name, schema, definition.get("description"), caller_tools)
    else:
        raise InvalidRequest("body.response_format.type: must be text, json_object or json_schema")
    if caller_tools and any(spec["toolSpec"]["name"] == name for spec in caller_tools["tools"]):
        raise InvalidRequest(f"body.response_format: its name '{name}' is also the name of a tool; rename one of them")
    return result


RESPONSE_FORMAT_KEYS = {"text": {"type"}, "json_object": {"type"}, "json_schema": {"type", "json_schema"}}


class OutputFormat(NamedTuple):
    kind: str  # json_object | json_schema
    name: str
    schema: dict | bool
    description: str | None
    caller_tools: dict | None  # the caller's own toolConfig, restored when the format goes native

    @property
    def wrapped(self) -> bool:
        return not (isinstance(self.schema, dict) and self.schema.get("type") == "object")

    def tool_spec(self) -> dict:
        schema = {"type": "object", "properties": {WRAPPED: self.schema}, "required": [WRAPPED]} if self.wrapped else self.schema
        description = self.description or "Give the answer as this tool's input: it is the response, in this JSON schema."
        return {"toolSpec": {"name": self.name, "description": description, "inputSchema": {"json": schema}}}

    def forced_tool_config(self) -> dict:
        """The caller's tools (if any) plus the format tool: forced alone, or with the caller's tools the model must
        call one of them (a named tool choice of the caller still wins)."""
        if not self.caller_tools:
            return {"tools": [self.tool_spec()], "toolChoice": {"tool": {"name": self.name}}}
        choice = self.caller_tools.get("toolChoice", {})
        return {
            "tools": [*self.caller_tools["tools"], self.tool_spec()],
            "toolChoice": choice if "tool" in choice else {"any": {}},
        }

    def native_output_config(self) -> dict:
        structure = {"schema": json.dumps(self.schema), "name": self.name}
        if self.description:
            structure["description"] = self.description
        return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": structure}}}

    def body_for(self, model: Model, body: dict[str, Any]) -> dict[str, Any]:
        """The Converse body for one candidate: native structured output where the model has it."""
        if self.kind != "json_schema" or STRUCTURED_OUTPUT not in model.capabilities:
            return body
        adapted = {key: value for key, value in body.items() if key != "toolConfig"}
        if self.caller_tools:
            adapted["toolConfig"] = self.caller_tools
        adapted["outputConfig"] = self.native_output_config()
        return adapted

    def answer(self, blocks: list[dict], stop_reason: str) -> str | None:
        """The answer's content as checked JSON text; None when the model called one of the caller's tools instead."""
        for block in blocks:
            use = block.get("toolUse")
            if use and use.get("name") == self.name:
                value = use.get("input")
                if self.wrapped:
                    value = value.get(WRAPPED) if isinstance(value, dict) else None
                return self.checked(value)
        if any("toolUse" in block for block in blocks):
            return None
        return self.parsed_text("".join(block.get("text", "") for block in blocks), stop_reason)

    def parsed_text(self, text: str, stop_reason: str) -> str:
        try:
            value = json.loads(text)
        except ValueError:
            cut = " (the answer was cut off at max_tokens)" if stop_reason == "max_tokens" else ""
            raise ModelError(f"the model's answer is not valid JSON{cut}; response_format {self.kind} asked for JSON") from None
        return self.checked(value)

    def checked(self, value: Any) -> str:
        problems = json_schema.errors(value, self.schema)
        if problems:
            raise ModelError(
                f"the model's answer does not match response_format {self.kind} '{self.name}': {'; '.join(problems[:3])}"
            )
        return json.dumps(value, ensure_ascii=False)


# ---- strict tools ------------------------------------------------------------------------------------------------


def strict_schemas(tool_config: dict | None) -> dict[str, Any]:
    """Tool name -> input schema of the caller's ``strict`` tools: their calls are checked before they are returned."""
    specs = (tool_config or {}).get("tools") or []
    return {spec["toolSpec"]["name"]: spec["toolSpec"]["inputSchema"]["json"] for spec in specs if spec["toolSpec"].get("strict")}


def without_strict(model: Model, body: dict[str, Any]) -> dict[str, Any]:
    """Bedrock's strict tool use comes with its structured outputs: a model without them gets the tools without
    ``strict`` (Bedrock would refuse the request), and its calls are checked by the gateway instead."""
    config = body.get("toolConfig")
    if (
        STRUCTURED_OUTPUT in model.capabilities
        or not config
        or not any(t.get("toolSpec", {}).get("strict") for t in config["tools"])
    ):
        return body
    tools = [
        {"toolSpec": {k: v for k, v in t["toolSpec"].items() if k != "strict"}} if "toolSpec" in t else t for t in config["tools"]
    ]
    return {**body, "toolConfig": {**config, "tools": tools}}


def check_strict_calls(calls: list[dict], schemas: dict[str, Any]) -> None:
    """A call of a strict tool whose arguments miss the tool's schema is a 502, never passed on as if valid."""
    for call in calls:
        schema = schemas.get(call["function"]["name"])
        if schema is None:
            continue
        problems = json_schema.errors(json.loads(call["function"]["arguments"]), schema)
        if problems:
            raise ModelError(
                f"the model called strict tool '{call['function']['name']}' with arguments that miss its parameters "
                f"schema: {'; '.join(problems[:3])}"
            )


# ---- per candidate, in the candidate loop -----------------------------------------------------------------------


def candidate_step(inner: Any, fmt: OutputFormat | None, strict: bool) -> Any:
    """The invocation step ``inner`` with each candidate's form of the structured output (``fmt``) and of strict tools
    (``strict``: the request has some); a whole answer is checked against the format before the loop takes it."""
    if fmt is None and not strict:
        return inner

    def adapted(candidate: Candidate, body: dict[str, Any], deadline: float) -> Any:
        if fmt is not None:
            body = fmt.body_for(candidate.model, body)
        if strict:
            body = without_strict(candidate.model, body)
        response = inner(candidate, body, deadline)
        if fmt is not None and isinstance(response, dict):  # a whole answer (a stream is checked as it ends)
            try:
                fmt.answer(response["output"]["message"]["content"], response.get("stopReason", "end_turn"))
            except ModelError as err:  # the next candidate may match: failure isolation decides (README)
                raise InvocationError("model_error", OUTPUT_SCHEMA_MISMATCH, err.message) from err
        return response

    return adapted
