"""JSON Schemas from ``schemas/``: the one source for API Gateway models, handler validation and config.

Validators are compiled once per process with fastjsonschema (what Powertools' validation utility uses
underneath) because Powertools' ``validate()`` recompiles the schema on every call, which would cost
milliseconds per request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fmgateway.values.errors import InvalidRequest


def schema_dir() -> Path:
    """``schemas/`` beside ``fmgateway/`` in a Lambda bundle, or at the repository root in a checkout."""
    if env := os.environ.get("FMGW_SCHEMA_DIR"):
        return Path(env)
    package_root = Path(__file__).resolve().parents[1]  # fmgateway/
    for candidate in (package_root.parent / "schemas", package_root.parent.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("schemas/ directory not found; set FMGW_SCHEMA_DIR")


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((schema_dir() / f"{name}.json").read_text())


@cache
def _compiled(name: str) -> Callable[[Any], Any]:
    import fastjsonschema  # deferred with the compile itself: first request, not cold start

    return fastjsonschema.compile(load_schema(name))


def validate(name: str, data: Any, *, root: str = "body", error: type[Exception] = InvalidRequest) -> None:
    """Validate ``data`` against schema ``name``; the raised error names the failing field."""
    validator = _compiled(name)
    from fastjsonschema import JsonSchemaValueException

    try:
        validator(data)
    except JsonSchemaValueException as exc:
        message = exc.message
        if message.startswith("data"):
            message = root + message[4:]
        definition = exc.definition if isinstance(exc.definition, dict) else {}
        if exc.rule == "pattern" and "description" in definition:  # a regex alone does not say what is expected
            message += f" ({definition['description']})"
        if issubclass(error, InvalidRequest):
            raise error(message, param=_param(exc, definition)) from None
        raise error(message) from None


def _param(exc: Any, definition: dict[str, Any]) -> str | None:
    """The failing field as OpenAI's ``param`` (``messages[0].role``, no ``data.``/``body.`` prefix); for one unknown
    key or one missing required key, that key
    (``messages[1].provider_specific_fields``, ``model``)."""
    path = str(exc.name).removeprefix("data").removeprefix(".")
    value = exc.value
    named: list[str] = []
    if exc.rule == "additionalProperties" and isinstance(value, dict) and "patternProperties" not in definition:
        named = [key for key in value if key not in definition.get("properties", {})]
    elif exc.rule == "required" and isinstance(value, dict):
        named = [key for key in definition.get("required", ()) if key not in value]
    if len(named) == 1 and named[0].isidentifier():
        path = f"{path}.{named[0]}" if path else named[0]
    return path or None
