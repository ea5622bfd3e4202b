"""The run spec (the execution input's ``spec``, as ``fmgw customize start`` sends it): its shape checked field by
field with defaults filled in (``parse``, InvalidSpec naming the field), then against the catalog (``plan``): the base
model's customization types and regions, the teacher, the evaluation tier and its baseline (the tier's first candidate
after lifecycle remaps), the evaluation capacity (an on-demand custom model deployment where the base model offers one,
else Provisioned Throughput without commitment) and its hourly price (NotCustomizable with the reason)."""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from typing import Any

from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.lifecycle.customization.errors import InvalidSpec, NotCustomizable
from fmgateway.lifecycle.customization.ports import S3_URI, Settings
from fmgateway.values.backends import CUSTOM_DEPLOYMENT, PROVISIONED
from fmgateway.values.candidates import Candidate

TYPES = ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION")
# a name CreateModelCustomizationJob takes in jobName and customModelName once a suffix is added (no "--", <= 40)
NAME = re.compile(r"^[a-zA-Z0-9](-?[a-zA-Z0-9]){0,39}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
POLLING = {"jobSeconds": 60, "jobMaxSeconds": 86400, "capacitySeconds": 30, "capacityMaxSeconds": 3600}
EVALUATION = {"margin": 0.02, "batchSize": 20, "maxTokens": 512, "keepCapacityOnPromote": False}
FIELDS = {"name", "type", "baseModel", "teacher", "region", "trainingData", "validationData", "hyperParameters",
          "evaluation", "polling"}  # fmt: skip
EVALUATION_FIELDS = {
    "s3Uri", "tier", "margin", "expectedRequestsPerHour", "batchSize", "maxTokens", "hourlyUsd", "keepCapacityOnPromote",
}  # fmt: skip
MAX_BATCH = 100


def _object(value: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidSpec(f"{where}: an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InvalidSpec(f"{where}.{unknown[0]}: unknown field (fields: {', '.join(sorted(allowed))})")
    for name in required:
        if name not in value:
            raise InvalidSpec(f"{where}.{name}: required")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidSpec(f"{where}: a non-empty string")
    return value


def _uri(value: Any, where: str) -> str:
    if not isinstance(value, str) or not S3_URI.match(value):
        raise InvalidSpec(f"{where}: an s3://bucket/key URI as Bedrock takes it (got {value!r})")
    return value


def _number(value: Any, where: str, low: float, high: float | None = None, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidSpec(f"{where}: {'an integer' if integer else 'a number'} {bound} (got {value!r})")
    return value


def _training_data(value: Any, customization_type: str) -> dict[str, Any]:
    data = _object(value, "spec.trainingData", {"s3Uri", "invocationLogs"})
    if len(data) != 1:
        raise InvalidSpec("spec.trainingData: exactly one of s3Uri or invocationLogs")
    if "s3Uri" in data:
        return {"s3Uri": _uri(data["s3Uri"], "spec.trainingData.s3Uri")}
    where = "spec.trainingData.invocationLogs"
    if customization_type != "DISTILLATION":
        raise InvalidSpec(f"{where}: only a DISTILLATION reads its prompts from invocation logs (give s3Uri)")
    logs = _object(data["invocationLogs"], where, {"s3Uri", "requestMetadataFilters", "usePromptResponse"}, ("s3Uri",))
    parsed: dict[str, Any] = {"s3Uri": _uri(logs["s3Uri"], f"{where}.s3Uri")}
    if "requestMetadataFilters" in logs:
        from fmgateway.lifecycle.customization.training_data import check_filters

        parsed["requestMetadataFilters"] = check_filters(logs["requestMetadataFilters"], f"{where}.requestMetadataFilters")
    use = logs.get("usePromptResponse", False)
    if not isinstance(use, bool):
        raise InvalidSpec(f"{where}.usePromptResponse: true or false")
    parsed["usePromptResponse"] = use
    return {"invocationLogs": parsed}


def _hyper_parameters(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidSpec("spec.hyperParameters: an object of name -> value")
    out = {}
    for name, given in value.items():
        if isinstance(given, bool) or not isinstance(given, str | int | float):
            raise InvalidSpec(f"spec.hyperParameters.{name}: a string (Bedrock takes every hyperparameter as one)")
        out[str(name)] = str(given)
    return out


def _evaluation(value: Any) -> dict[str, Any]:
    where = "spec.evaluation"
    given = _object(value, where, EVALUATION_FIELDS, ("s3Uri", "tier", "expectedRequestsPerHour"))
    evaluation = {**EVALUATION, **given}
    evaluation["s3Uri"] = _uri(evaluation["s3Uri"], f"{where}.s3Uri")
    _string(evaluation["tier"], f"{where}.tier")
    _number(evaluation["margin"], f"{where}.margin", 0, 1)
    if _number(evaluation["expectedRequestsPerHour"], f"{where}.expectedRequestsPerHour", 0) == 0:
        raise InvalidSpec(f"{where}.expectedRequestsPerHour: more than 0 (it amortises the capacity's hourly price)")
    _number(evaluation["batchSize"], f"{where}.batchSize", 1, MAX_BATCH, integer=True)
    _number(evaluation["maxTokens"], f"{where}.maxTokens", 1, 128_000, integer=True)
    if "hourlyUsd" in evaluation:
        _number(evaluation["hourlyUsd"], f"{where}.hourlyUsd", 0)
    if not isinstance(evaluation["keepCapacityOnPromote"], bool):
        raise InvalidSpec(f"{where}.keepCapacityOnPromote: true or false")
    return evaluation


def _polling(value: Any) -> dict[str, int]:
    polling = {**POLLING, **_object(value, "spec.polling", set(POLLING))}
    for name, seconds in polling.items():
        _number(seconds, f"spec.polling.{name}", 1 if name.endswith("MaxSeconds") else 0, 31 * 86400, integer=True)
    return polling


def parse(raw: Any) -> dict[str, Any]:
    """The spec with its defaults filled in; InvalidSpec names the first field that is wrong."""
    spec = _object(copy.deepcopy(raw), "spec", FIELDS, ("name", "type", "baseModel", "trainingData", "evaluation"))
    if not isinstance(spec["name"], str) or not NAME.match(spec["name"]):
        raise InvalidSpec(f"spec.name: 1-40 letters, digits and single hyphens, starting and ending with a letter or digit "
                          f"(got {spec['name']!r})")  # fmt: skip
    if spec["type"] not in TYPES:
        raise InvalidSpec(f"spec.type: one of {', '.join(TYPES)} (got {spec['type']!r})")
    _string(spec["baseModel"], "spec.baseModel")
    if "teacher" in spec:
        _string(spec["teacher"], "spec.teacher")
        if spec["type"] != "DISTILLATION":
            raise InvalidSpec(f"spec.teacher: only a DISTILLATION has a teacher (this run is {spec['type']})")
    elif spec["type"] == "DISTILLATION":
        raise InvalidSpec("spec.teacher: a DISTILLATION needs a teacher (a catalog alias the base model accepts)")
    if "region" in spec and (not isinstance(spec["region"], str) or not REGION.match(spec["region"])):
        raise InvalidSpec(f"spec.region: a region name such as us-east-1 (got {spec['region']!r})")
    spec["trainingData"] = _training_data(spec["trainingData"], spec["type"])
    if "validationData" in spec:
        validation = _object(spec["validationData"], "spec.validationData", {"s3Uri"}, ("s3Uri",))
        spec["validationData"] = {"s3Uri": _uri(validation["s3Uri"], "spec.validationData.s3Uri")}
    spec["hyperParameters"] = _hyper_parameters(spec.get("hyperParameters", {}))
    spec["evaluation"] = _evaluation(spec["evaluation"])
    spec["polling"] = _polling(spec.get("polling", {}))
    return spec


def suffix(execution: str | None) -> str:
    """A short suffix unique to the execution (the same on a retried task, so a retry never starts a second job)."""
    if execution:
        return hashlib.sha256(execution.encode("utf-8")).hexdigest()[:8]
    return uuid.uuid4().hex[:8]


def _customizable(config: GatewayConfig) -> str:
    return ", ".join(alias for alias, entry in config.raw["models"].items() if entry.get("customization")) or "none"


def _price(entry: dict[str, Any], kind: str, spec: dict[str, Any], alias: str) -> tuple[float, str]:
    prices = entry.get("capacityPrices") or {}
    if kind == CUSTOM_DEPLOYMENT:
        found, field = prices.get("deploymentHourlyUsd"), "capacityPrices.deploymentHourlyUsd"
    else:
        found, field = (prices.get("provisionedUnitHourlyUsd") or {}).get("none"), "capacityPrices.provisionedUnitHourlyUsd.none"
    if found is not None:
        return float(found), f"catalog {alias}.{field}"
    if "hourlyUsd" in spec["evaluation"]:
        return float(spec["evaluation"]["hourlyUsd"]), "spec.evaluation.hourlyUsd"
    what = "an on-demand custom model deployment" if kind == CUSTOM_DEPLOYMENT else "Provisioned Throughput (no commitment)"
    raise NotCustomizable(
        f"no hourly price for the evaluation capacity ({what}): the catalog lists no {alias}.{field}; give "
        "spec.evaluation.hourlyUsd (the cost per 1,000 requests is amortised from it)"
    )


def plan(spec: dict[str, Any], config: GatewayConfig, settings: Settings) -> dict[str, Any]:
    """What the catalog makes of the spec: the base model and its customization, the teacher, the region, the
    baseline and the evaluation capacity with its price. NotCustomizable (or InvalidSpec) says why not."""
    alias, kind = spec["baseModel"], spec["type"]
    entry = config.raw["models"].get(alias)
    if entry is None:
        raise InvalidSpec(f"spec.baseModel: unknown model {alias!r} (customizable: {_customizable(config)})")
    customization = entry.get("customization")
    if not customization:
        raise NotCustomizable(
            f"{alias} ({entry['modelId']}): Bedrock does not customize it (customizable: {_customizable(config)})"
        )
    if kind not in customization["types"]:
        raise NotCustomizable(f"{alias} ({customization['baseModelId']}) takes {', '.join(customization['types'])}, not {kind}")
    if entry["lifecycle"] == "retired":
        raise NotCustomizable(f"{alias} is retired (successor {entry.get('successor')}): customize its successor")
    region = spec.get("region") or settings.region
    if region not in customization["regions"]:
        raise NotCustomizable(
            f"{alias}: Bedrock runs its customization jobs in {', '.join(customization['regions'])} only, not {region}"
            + ("" if "region" in spec else " (this deployment's region: deploy the workflow in one of those)")
        )
    if region != settings.region:  # the job reads and writes this deployment's bucket, key and subnets: all regional
        raise NotCustomizable(
            f"spec.region {region}: this deployment customizes in {settings.region}, where its bucket, key and subnets "
            f"are; run the workflow of a deployment in {region}"
        )
    teacher = None
    if kind == "DISTILLATION":
        name, accepted = spec["teacher"], customization.get("teachers", [])
        if name not in accepted:
            raise NotCustomizable(f"teacher {name}: Bedrock accepts {', '.join(accepted)} as teachers of {alias}")
        model = config.catalog.models[name]
        if model.lifecycle == "retired":
            raise NotCustomizable(f"teacher {name} is retired (successor {model.successor})")
        teacher = {"alias": name, "invokeId": model.invoke_id}
    tier = spec["evaluation"]["tier"]
    if tier not in config.tiers or not config.tiers[tier]:
        raise InvalidSpec(f"spec.evaluation.tier: unknown tier {tier!r} (tiers: {', '.join(config.tiers)})")
    baseline, _ = config.catalog.current(config.catalog.models[config.tiers[tier][0]])
    capacity_kind = CUSTOM_DEPLOYMENT if customization.get("onDemandDeployment") else PROVISIONED
    hourly, source = _price(entry, capacity_kind, spec, alias)
    candidate = spec["name"].lower()
    if candidate == baseline.alias or candidate in config.catalog.models:
        candidate = f"{candidate}-custom"
    return {
        "region": region,
        "baseModel": {"alias": alias, "modelId": entry["modelId"], "customizationBaseModelId": customization["baseModelId"]},
        "baseEntry": {key: value for key, value in entry.items() if key not in ("backend", "previousBackend")},
        "teacher": teacher,
        "baseline": Candidate(baseline).describe(),
        "candidateAlias": candidate,
        "capacity": {"kind": capacity_kind, "hourlyUsd": hourly, "priceSource": source},
    }
