"""The run's end: the evaluation capacity is deleted (on promote too, unless the spec's
``evaluation.keepCapacityOnPromote`` keeps it for the proposed entry) and the custom model kept; the report (JSON) goes
to ``s3://<bucket>/reports/<name>/report.json`` with the spec, the data read, the job, the custom model, the capacity,
each model's figures, the decision and its reason, and on promote a proposed catalog entry for the custom model (the
base model's entry with the custom model and its capacity prices; served through the kept capacity, as ``fmgw models
provision --switch`` would write it, or, once the capacity is released, to be provisioned with that command); then the
notice for SNS. Nothing here changes live routing: the entry is a proposal a person reviews (registering it in the
model registry as pending manual approval comes with issue 25)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fmgateway.lifecycle import provisioning
from fmgateway.lifecycle.customization import capacity as evaluation_capacity
from fmgateway.lifecycle.customization.ports import Buckets, Settings, write
from fmgateway.lifecycle.provisioning import CapacityControl
from fmgateway.values.backends import PROVISIONED

REGISTRY_NOTE = (
    "Registration in the model registry (pending manual approval) comes with issue 25; until then add the entry to the "
    "configuration by hand, reviewed like any configuration change."
)


def report_uri(settings: Settings, name: str) -> str:
    return f"s3://{settings.bucket}/reports/{name}/report.json"


def delete_model_command(arn: str) -> str:
    return f"aws bedrock delete-custom-model --model-identifier {arn}"


def proposed_entry(run: dict[str, Any], job: dict[str, Any], capacity: dict[str, Any], kept: bool) -> dict[str, Any]:
    """The catalog entry for the custom model (``models.<alias>``): served through the evaluation capacity when it was
    ``kept``; else without a backend, with the command that buys its capacity and switches it there."""
    alias = run["candidateAlias"]
    purchase = evaluation_capacity.purchase(run, job["customModelArn"])
    entry = {key: value for key, value in run["baseEntry"].items() if key not in ("customization", "successor")}
    known = run["baseEntry"].get("capacityPrices") or {}
    prices = {**known, **_prices(capacity, known)}
    entry.update(lifecycle="active", customModelArn=job["customModelArn"], capacityPrices=prices)
    if not kept:
        flag = "" if capacity["kind"] == PROVISIONED else " --on-demand"
        command = f"fmgw models provision {alias}{flag} --switch"
        return {"alias": alias, "entry": entry, "servedBy": None, "toServe": command}
    switched = provisioning.switched({"models": {alias: entry}}, purchase, capacity["arn"])["models"][alias]
    return {"alias": alias, "entry": switched, "servedBy": capacity["arn"]}


def _prices(capacity: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """The base model's capacity prices, with the one the run paid (what ``fmgw models provision`` reads)."""
    if capacity["kind"] == PROVISIONED:
        return {"provisionedUnitHourlyUsd": {**(known.get("provisionedUnitHourlyUsd") or {}), "none": capacity["hourlyUsd"]}}
    return {"deploymentHourlyUsd": capacity["hourlyUsd"]}


def _figures_line(model: dict[str, Any]) -> str:
    cost = model["costPer1kRequestsUsd"]
    return f"{model['role']} {model['model']}: quality {model['quality']}, ${cost:.6g} per 1,000 requests ({model['costBasis']})"


def finish(
    buckets: Buckets, control: CapacityControl, settings: Settings, run: dict[str, Any], job: dict[str, Any],
    capacity: dict[str, Any], decision: dict[str, Any], now: float,
) -> dict[str, Any]:  # fmt: skip
    """Tear down on reject, write the report; the notice: ``{decision, subject, message, reportUri}``."""
    promote = decision["decision"] == "promote"
    custom_model = job["customModelArn"]
    notes: list[str] = []
    keep = promote and bool(run["spec"]["evaluation"].get("keepCapacityOnPromote"))
    if keep:
        kept = "kept"
        notes.append(
            f"Live routing is unchanged. The evaluation capacity {capacity['arn']} stays in service for the proposed entry "
            f"(evaluation.keepCapacityOnPromote) and costs ${capacity['hourlyUsd']:g} an hour until released: "
            f"`fmgw models release {run['candidateAlias']}` once the entry is in the catalog, or "
            f"`{evaluation_capacity.delete_command(capacity)}`."
        )
        notes.append(REGISTRY_NOTE)
    elif promote:
        kept = evaluation_capacity.release(control, capacity)
        advice = f": delete it with `{evaluation_capacity.delete_command(capacity)}`." if kept.startswith("NOT") else "."
        notes.append(f"Live routing is unchanged. The evaluation capacity {capacity['arn']} was {kept}{advice}")
        notes.append(
            f"To serve the custom model {custom_model}: add the proposed entry to the catalog (in no tier yet), then "
            f"`{proposed_entry(run, job, capacity, kept=False)['toServe']}` buys its capacity and switches the entry "
            "to it; the entry serves nothing before that."
        )
        notes.append(REGISTRY_NOTE)
    else:
        kept = evaluation_capacity.release(control, capacity)
        advice = f": delete it with `{evaluation_capacity.delete_command(capacity)}`." if kept.startswith("NOT") else "."
        notes.append(f"The evaluation capacity {capacity['arn']} was {kept}{advice}")
        notes.append(f"The custom model {custom_model} is kept; delete it with `{delete_model_command(custom_model)}`.")
    uri = report_uri(settings, run["name"])
    report = {
        "name": run["name"],
        "createdAt": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "spec": run["spec"],
        "region": run["region"],
        "data": run["data"],
        "job": {key: job.get(key) for key in ("arn", "name", "status", "elapsedSeconds", "outputUri")},
        "customModelArn": custom_model,
        "capacity": {**{key: capacity.get(key) for key in ("kind", "arn", "name", "hourlyUsd", "priceSource")}, "afterRun": kept},
        "baseline": run["baseline"]["alias"],
        "candidate": run["candidateAlias"],
        "models": decision["models"],
        "margin": decision["margin"],
        "expectedRequestsPerHour": decision["expectedRequestsPerHour"],
        "decision": decision["decision"],
        "reason": decision["reason"],
        "notes": notes,
    }
    if promote:
        report["proposedCatalogEntry"] = proposed_entry(run, job, capacity, kept=keep)
    write(buckets, uri, json.dumps(report, indent=2).encode("utf-8"))
    lines = [decision["reason"], *(_figures_line(model) for model in decision["models"]), *notes, f"Report: {uri}"]
    return {
        "decision": decision["decision"],
        "subject": f"FM Gateway customization {run['name']}: {decision['decision']}",
        "message": "\n".join(lines),
        "reason": decision["reason"],
        "models": [{key: value for key, value in model.items() if key != "measured"} for model in decision["models"]],
        "reportUri": uri,
        "customModelArn": custom_model,
        "capacity": {"arn": capacity["arn"], "afterRun": kept},
    }
