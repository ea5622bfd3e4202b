"""A small JSON Schema checker for the schemas callers send (OpenAI ``response_format: json_schema`` and ``strict``
tools' parameters); a leaf of the package: it imports nothing of the gateway.

Why not fastjsonschema (already a dependency): it compiles a schema into Python source and ``exec``s it, and these
schemas come from callers. This interpreter covers the keywords OpenAI's structured outputs accept (``type``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf`` / ``allOf`` /
``oneOf`` / ``not``, ``$ref`` into ``$defs`` / ``definitions``, string / number / array bounds, ``pattern``) and
the annotations (``title``, ``description``, ``default``, ``examples``, ``format`` ...) that constrain nothing here.
A schema using any other keyword is refused when the request arrives (``unsupported``), never half-checked.
"""

from __future__ import annotations

import math
import re
from typing import Any

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "format", "deprecated", "readOnly",
     "writeOnly", "$defs", "definitions", "strict", "contentEncoding", "contentMediaType"}
)  # fmt: skip
CHECKED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum", "const", "anyOf",
     "allOf", "oneOf", "not", "$ref", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
     "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
     "patternProperties"}
)  # fmt: skip
SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
SUBSCHEMAS = ("items", "additionalProperties", "not")
MAX_DEPTH = 32
MAX_CHECK_DEPTH = 200
MAX_VISITS = 100_000


def unsupported(schema: Any, where: str = "schema", depth: int = 0) -> str | None:
    """The first problem that keeps ``schema`` from being checked here (a path and why), or None."""
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return f"{where}: a schema must be an object or a boolean"
    if depth > MAX_DEPTH:
        return f"{where}: nested deeper than {MAX_DEPTH} levels"
    for key, value in schema.items():
        if key not in CHECKED and key not in ANNOTATIONS:
            return f"{where}.{key}: keyword not supported (supported: {', '.join(sorted(CHECKED))})"
        if key in SUBSCHEMA_MAPS:
            if not isinstance(value, dict):
                return f"{where}.{key}: must be an object"
            for name, sub in value.items():
                if problem := unsupported(sub, f"{where}.{key}.{name}", depth + 1):
                    return problem
        elif key in SUBSCHEMA_LISTS:
            if not isinstance(value, list):
                return f"{where}.{key}: must be an array"
            for index, sub in enumerate(value):
                if problem := unsupported(sub, f"{where}.{key}[{index}]", depth + 1):
                    return problem
        elif key in SUBSCHEMAS:
            if problem := unsupported(value, f"{where}.{key}", depth + 1):
                return problem
        elif key == "$ref" and (not isinstance(value, str) or not value.startswith("#")):
            return f"{where}.$ref: only references inside the schema (#/$defs/...) are supported"
        elif key == "type" and not all(kind in _TYPES for kind in (value if isinstance(value, list) else [value])):
            return f"{where}.type: must be one of {', '.join(_TYPES)} (or a list of them)"
        elif key in ("required", "enum") and not isinstance(value, list):
            return f"{where}.{key}: must be an array"
        elif key == "pattern":
            try:
                re.compile(value)
            except (re.error, TypeError):
                return f"{where}.pattern: not a valid regular expression"
    return None


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


class _Root:
    """The whole schema (what ``$ref`` resolves against) and the checks made so far: references can make a small
    schema expand exponentially (a chain of definitions each ``anyOf`` the next twice), so the work is bounded."""

    def __init__(self, schema: Any):
        self.schema, self.visits = schema, 0


class _TooCostly(Exception):
    pass


def errors(instance: Any, schema: Any) -> list[str]:
    """Why ``instance`` does not match ``schema`` (empty: it matches)."""
    try:
        return _errors(instance, schema, _Root(schema), "$", 0)
    except _TooCostly:
        return [f"$: the schema takes too long to check (more than {MAX_VISITS} steps)"]


def _errors(instance: Any, schema: Any, root: _Root, where: str, depth: int) -> list[str]:
    root.visits += 1
    if depth > MAX_CHECK_DEPTH:  # a $ref cycle that consumes nothing (allOf: [{$ref: "#"}]) must end
        return [f"{where}: the schema recurses without end"]
    if root.visits > MAX_VISITS:
        raise _TooCostly
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{where}: no value is allowed here"]
    found: list[str] = []
    if "$ref" in schema:
        found += _errors(instance, _resolve(root.schema, schema["$ref"]), root, where, depth + 1)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES.get(kind, lambda v: False)(instance) for kind in types):
            return [*found, f"{where}: expected {' or '.join(types)}, got {_kind(instance)}"]
    if "enum" in schema and not any(_same(instance, option) for option in schema["enum"]):
        found.append(f"{where}: must be one of {schema['enum']}")
    if "const" in schema and not _same(instance, schema["const"]):
        found.append(f"{where}: must be {schema['const']!r}")
    for sub in schema.get("allOf", []):
        found += _errors(instance, sub, root, where, depth + 1)
    if "anyOf" in schema and all(_errors(instance, sub, root, where, depth + 1) for sub in schema["anyOf"]):
        found.append(f"{where}: matches none of anyOf")
    if "oneOf" in schema and sum(not _errors(instance, sub, root, where, depth + 1) for sub in schema["oneOf"]) != 1:
        found.append(f"{where}: must match exactly one of oneOf")
    if "not" in schema and not _errors(instance, schema["not"], root, where, depth + 1):
        found.append(f"{where}: must not match 'not'")
    if isinstance(instance, dict):
        found += _object(instance, schema, root, where, depth)
    elif isinstance(instance, list):
        found += _array(instance, schema, root, where, depth)
    elif isinstance(instance, str):
        found += _string(instance, schema, where)
    elif _TYPES["number"](instance):
        found += _number(instance, schema, where)
    return found


def _object(instance: dict, schema: dict, root: _Root, where: str, depth: int) -> list[str]:
    found = [f"{where}.{name}: required" for name in schema.get("required", []) if name not in instance]
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    for name, value in instance.items():
        matched = False
        if name in properties:
            matched = True
            found += _errors(value, properties[name], root, f"{where}.{name}", depth + 1)
        for pattern, sub in patterns.items():
            if re.search(pattern, name):
                matched = True
                found += _errors(value, sub, root, f"{where}.{name}", depth + 1)
        if not matched and "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if extra is False:
                found.append(f"{where}.{name}: not allowed (additionalProperties is false)")
            else:
                found += _errors(value, extra, root, f"{where}.{name}", depth + 1)
    if len(instance) < schema.get("minProperties", 0) or len(instance) > schema.get("maxProperties", math.inf):
        found.append(f"{where}: number of properties out of bounds")
    return found


def _array(instance: list, schema: dict, root: _Root, where: str, depth: int) -> list[str]:
    found: list[str] = []
    prefix = schema.get("prefixItems", [])
    for index, item in enumerate(instance):
        if index < len(prefix):
            found += _errors(item, prefix[index], root, f"{where}[{index}]", depth + 1)
        elif "items" in schema:
            found += _errors(item, schema["items"], root, f"{where}[{index}]", depth + 1)
    if len(instance) < schema.get("minItems", 0) or len(instance) > schema.get("maxItems", math.inf):
        found.append(f"{where}: {len(instance)} items, outside minItems / maxItems")
    if schema.get("uniqueItems") and len({_canonical(item) for item in instance}) != len(instance):
        found.append(f"{where}: items must be unique")
    return found


def _string(instance: str, schema: dict, where: str) -> list[str]:
    found = []
    if len(instance) < schema.get("minLength", 0) or len(instance) > schema.get("maxLength", math.inf):
        found.append(f"{where}: length {len(instance)} outside minLength / maxLength")
    if "pattern" in schema and not re.search(schema["pattern"], instance):
        found.append(f"{where}: does not match pattern {schema['pattern']!r}")
    return found


def _number(instance: float, schema: dict, where: str) -> list[str]:
    found = []
    if "minimum" in schema and instance < schema["minimum"]:
        found.append(f"{where}: below minimum {schema['minimum']}")
    if "maximum" in schema and instance > schema["maximum"]:
        found.append(f"{where}: above maximum {schema['maximum']}")
    if "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
        found.append(f"{where}: not above exclusiveMinimum {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and instance >= schema["exclusiveMaximum"]:
        found.append(f"{where}: not below exclusiveMaximum {schema['exclusiveMaximum']}")
    if "multipleOf" in schema and schema["multipleOf"] and (instance / schema["multipleOf"]) % 1:
        found.append(f"{where}: not a multiple of {schema['multipleOf']}")
    return found


def _resolve(root: Any, ref: str) -> Any:
    node = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False  # an unresolvable reference matches nothing
        node = node[part]
    return node


def _same(a: Any, b: Any) -> bool:
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> Any:
    """Booleans are not numbers in JSON Schema: True must not equal 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _canonical(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_canonical(v) for v in value))
    return value


def _kind(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[kind](value):
            return kind
    return type(value).__name__
