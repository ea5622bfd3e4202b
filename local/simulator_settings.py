"""The Bedrock simulator's settings: the built-in defaults, their layered loading (``local/simulator.json`` <
``$FMGW_SIM_CONFIG`` < a config file < ``$FMGW_SIM_FAULTS`` < overrides), their validation, and the model patterns
that pick a model's fault and latency entries (the format is described in ``local.bedrock_simulator``)."""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
from pathlib import Path
from typing import Any

from local.simulator_errors import ERROR_STATUS, STREAM_EXCEPTIONS

DEFAULT_CONFIG_PATH = Path(__file__).with_name("simulator.json")
ENV_CONFIG = "FMGW_SIM_CONFIG"
ENV_FAULTS = "FMGW_SIM_FAULTS"

DEFAULT_MODEL_ID_PATTERN = (
    r"^(?:arn:aws(?:-[a-z]+)*:bedrock:[a-z0-9-]*:\d{0,12}:[A-Za-z0-9./:_-]+"
    r"|(?:[a-z]{2,7}\.)?[a-z0-9-]+\.[A-Za-z0-9._:-]+)$"
)
FAULT_DEFAULTS: dict[str, Any] = {
    "throttleRate": 0.0,
    "errorRate": 0.0,
    "timeoutRate": 0.0,
    "timeoutSeconds": 2.0,
    "down": False,
    "failAfterEvents": None,
    "errorCode": None,
    "streamErrorType": "modelStreamErrorException",
}
LATENCY_DEFAULTS: dict[str, Any] = {"fixedMs": 0, "perTokenMs": 0}
# Provisioned Throughput, custom model deployments and imported models (local.simulator_capacity)
CAPACITY_DEFAULTS: dict[str, Any] = {
    "provisioningSeconds": 2,  # Creating -> InService / Active after this long (0: at once)
    "failProvisioning": False,  # true, or name patterns: those end Failed instead
    "checkCustomModels": True,  # with a controlPlaneFallback, a custom model must exist there
    "deploymentBaseModels": ["*amazon.nova*"],  # base models whose custom models take on-demand deployments
}
# model customization jobs and custom models (local.simulator_customization)
CUSTOMIZATION_DEFAULTS: dict[str, Any] = {
    "jobSeconds": 3,  # InProgress -> Completed / Failed after this long (0: at once)
    "failJobs": False,  # true, or job / custom model name patterns: those end Failed
    "minimumRecords": 100,  # a distillation job with fewer prompts fails (Bedrock's minimum)
    "outcomes": {},  # custom model name pattern -> "teacher" | "base" | "<model id>": the model it answers as
    "s3EndpointUrl": None,  # where jobs read their data (null: boto3's own, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)
}
SAGEMAKER_CONTAINERS = ("tgi-messages", "lmi-chat")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
BUILTIN_SETTINGS: dict[str, Any] = {
    "seed": 42,
    "regionsDown": [],
    "unknownModels": [],
    "modelIdPattern": DEFAULT_MODEL_ID_PATTERN,
    "latency": {"*": dict(LATENCY_DEFAULTS)},
    "faults": {"*": dict(FAULT_DEFAULTS)},
    "replies": {},
    "capacity": dict(CAPACITY_DEFAULTS),
    "customization": dict(CUSTOMIZATION_DEFAULTS),
    "sagemakerEndpoints": {},  # name -> {"container": "tgi-messages" | "lmi-chat", "inferenceComponents": [...]}
    "sagemakerPartBytes": 7,  # a streamed SageMaker answer comes in PayloadParts of at most this many bytes
    "controlPlaneFallback": None,  # URL other bedrock control-plane requests are forwarded to (local mode: moto)
}
TOP_LEVEL_KEYS = set(BUILTIN_SETTINGS)


def camel_case(name: str) -> str:
    """``per_token_ms`` -> ``perTokenMs`` (the Python API takes either spelling)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def pattern_matches(pattern: str, model_id: str) -> bool:
    """``"*"`` matches every id, a glob (``*?[``) the whole id, a plain string the exact id or a substring."""
    if pattern == "*":
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(model_id, pattern)
    return pattern in model_id


def entry_for_model(mapping: dict, model_id: str, defaults: dict) -> dict:
    """Effective per-model entry: defaults < "*" < matching patterns (short first) < exact id."""
    keys = ["*"] if "*" in mapping else []
    keys += sorted((k for k in mapping if k not in ("*", model_id) and pattern_matches(k, model_id)), key=len)
    keys += [model_id] if model_id in mapping and model_id != "*" else []
    merged = dict(defaults)
    for key in keys:
        merged.update({k: v for k, v in (mapping[key] or {}).items() if v is not None})
    return merged


def check_entry(kind: str, fields: dict) -> None:
    """Raise ValueError for an unknown field or a bad value of a ``faults`` or ``latency`` entry."""
    allowed = FAULT_DEFAULTS if kind == "faults" else LATENCY_DEFAULTS
    for key, value in fields.items():
        if key not in allowed:
            raise ValueError(f"unknown {kind} field {key!r} (allowed: {sorted(allowed)})")
        if value is None or key in ("down",):
            continue
        if key == "errorCode" and value not in ERROR_STATUS:
            raise ValueError(f"errorCode must be one of {sorted(ERROR_STATUS)}")
        if key == "streamErrorType" and value not in STREAM_EXCEPTIONS:
            raise ValueError(f"streamErrorType must be one of {sorted(STREAM_EXCEPTIONS)}")
        if key.endswith("Rate") and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ValueError(f"{key} must be a number in 0..1")
        if key in ("timeoutSeconds", "fixedMs", "perTokenMs", "failAfterEvents") and not (
            isinstance(value, (int, float)) and value >= 0
        ):
            raise ValueError(f"{key} must be a number >= 0")


def validate_settings(settings: dict) -> dict:
    """Raise ValueError for unknown keys or bad values; returns settings."""
    unknown = set(settings) - TOP_LEVEL_KEYS
    if unknown:
        raise ValueError(f"unknown settings keys {sorted(unknown)} (allowed: {sorted(TOP_LEVEL_KEYS)})")
    for kind in ("faults", "latency"):
        if not isinstance(settings.get(kind), dict):
            raise ValueError(f"{kind} must be an object keyed by model pattern")
        for entry in settings[kind].values():
            check_entry(kind, entry or {})
    for key in ("regionsDown", "unknownModels"):
        if not isinstance(settings.get(key), list):
            raise ValueError(f"{key} must be a list")
    replies = settings.get("replies")

    def reply(value: object) -> bool:
        return isinstance(value, str) or (
            isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        )

    if not isinstance(replies, dict) or not all(reply(value) for value in replies.values()):
        raise ValueError("replies must be an object of model pattern -> reply text, or -> {prompt: reply text}")
    re.compile(settings["modelIdPattern"])
    _validate_backends(settings)
    _validate_customization(settings)
    return settings


def _validate_customization(settings: dict) -> None:
    """The customization keys; fills in their defaults."""
    given = settings.get("customization")
    if not isinstance(given, dict) or set(given) - set(CUSTOMIZATION_DEFAULTS):
        raise ValueError(f"customization must be an object with keys among {sorted(CUSTOMIZATION_DEFAULTS)}")
    customization = settings["customization"] = {**CUSTOMIZATION_DEFAULTS, **given}
    seconds = customization["jobSeconds"]
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise ValueError("customization.jobSeconds must be a number >= 0")
    fail = customization["failJobs"]
    if not isinstance(fail, bool) and not (isinstance(fail, list) and all(isinstance(p, str) for p in fail)):
        raise ValueError("customization.failJobs must be true, false or a list of name patterns")
    minimum = customization["minimumRecords"]
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
        raise ValueError("customization.minimumRecords must be an integer >= 1")
    outcomes = customization["outcomes"]
    if not isinstance(outcomes, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in outcomes.items()):
        raise ValueError('customization.outcomes must map name patterns to "teacher", "base" or a model id')
    endpoint = customization["s3EndpointUrl"]
    if endpoint is not None and not (isinstance(endpoint, str) and re.match(r"^https?://[^/]+", endpoint)):
        raise ValueError("customization.s3EndpointUrl must be null or an http(s):// URL")


def _validate_backends(settings: dict) -> None:
    """The capacity and SageMaker keys; fills in the capacity defaults and each endpoint's component list."""
    capacity = settings.get("capacity")
    if not isinstance(capacity, dict) or set(capacity) - set(CAPACITY_DEFAULTS):
        raise ValueError(f"capacity must be an object with keys among {sorted(CAPACITY_DEFAULTS)}")
    capacity = settings["capacity"] = {**CAPACITY_DEFAULTS, **capacity}
    seconds = capacity["provisioningSeconds"]
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise ValueError("capacity.provisioningSeconds must be a number >= 0")
    fail = capacity["failProvisioning"]
    if not isinstance(fail, bool) and not (isinstance(fail, list) and all(isinstance(p, str) for p in fail)):
        raise ValueError("capacity.failProvisioning must be true, false or a list of name patterns")
    if not isinstance(capacity["checkCustomModels"], bool):
        raise ValueError("capacity.checkCustomModels must be true or false")
    bases = capacity["deploymentBaseModels"]
    if not isinstance(bases, list) or not all(isinstance(p, str) for p in bases):
        raise ValueError("capacity.deploymentBaseModels must be a list of model patterns")
    endpoints = settings.get("sagemakerEndpoints")
    if not isinstance(endpoints, dict):
        raise ValueError("sagemakerEndpoints must be an object keyed by endpoint name")
    for name, endpoint in endpoints.items():
        endpoints[name] = check_endpoint(name, endpoint)
    part = settings.get("sagemakerPartBytes")
    if not isinstance(part, int) or isinstance(part, bool) or part < 1:
        raise ValueError("sagemakerPartBytes must be an integer >= 1")
    fallback = settings.get("controlPlaneFallback")
    if fallback is not None and not (isinstance(fallback, str) and re.match(r"^https?://[^/]+", fallback)):
        raise ValueError("controlPlaneFallback must be null or an http(s):// URL")


def check_endpoint(name: Any, endpoint: Any) -> dict:
    """A SageMaker endpoint entry, normalized: ``{"container": ..., "inferenceComponents": [...]}``."""
    if not isinstance(name, str) or not _ENDPOINT_NAME.match(name):
        raise ValueError(f"SageMaker endpoint name {name!r} must match [a-zA-Z0-9](-*[a-zA-Z0-9])*, at most 63 characters")
    if not isinstance(endpoint, dict) or set(endpoint) - {"container", "inferenceComponents"}:
        raise ValueError(f"sagemakerEndpoints.{name} must be an object with container and inferenceComponents")
    if endpoint.get("container") not in SAGEMAKER_CONTAINERS:
        raise ValueError(f"sagemakerEndpoints.{name}.container must be one of {list(SAGEMAKER_CONTAINERS)}")
    components = endpoint.get("inferenceComponents") or []
    if not isinstance(components, list) or not all(isinstance(c, str) and _ENDPOINT_NAME.match(c) for c in components):
        raise ValueError(f"sagemakerEndpoints.{name}.inferenceComponents must be a list of inference component names")
    return {"container": endpoint["container"], "inferenceComponents": list(components)}


def _deep_merge(dst: dict, src: dict) -> dict:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _deep_merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)
    return dst


def load_settings(
    config_path: str | os.PathLike | None = None,
    *,
    use_env: bool = True,
    overrides: dict | None = None,
) -> dict:
    """simulator.json < $FMGW_SIM_CONFIG < config_path < $FMGW_SIM_FAULTS < overrides."""
    settings = copy.deepcopy(BUILTIN_SETTINGS)
    if DEFAULT_CONFIG_PATH.exists():
        _deep_merge(settings, json.loads(DEFAULT_CONFIG_PATH.read_text()))
    paths = [os.environ.get(ENV_CONFIG) if use_env else None, config_path]
    for path in filter(None, paths):
        _deep_merge(settings, json.loads(Path(path).read_text()))
    if use_env and os.environ.get(ENV_FAULTS):
        _deep_merge(settings["faults"], json.loads(os.environ[ENV_FAULTS]))
    _deep_merge(settings, overrides or {})
    return validate_settings(settings)
