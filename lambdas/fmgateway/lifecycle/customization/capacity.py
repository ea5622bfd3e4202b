"""The evaluation capacity: part 3's provisioning (``fmgateway.lifecycle.provisioning``: what to buy and its price,
the control plane's ``CapacityControl``) for the new custom model, one unit without commitment (or an on-demand custom
model deployment where the base model offers one), created by ``provision`` and polled once per call by ``poll`` (the
state machine's Wait/Get loop). A capacity that ends Failed, or is not in service within
``polling.capacityMaxSeconds``, is deleted: CapacityFailed / CapacityTimedOut. Live routing is never touched: the
capacity is only invoked by the evaluation, through a candidate built for it."""

from __future__ import annotations

import logging
from typing import Any

from fmgateway.lifecycle import provisioning
from fmgateway.lifecycle.customization.errors import CapacityFailed, CapacityTimedOut
from fmgateway.lifecycle.provisioning import CapacityControl, ProvisioningError
from fmgateway.values.backends import CUSTOM_DEPLOYMENT, PROVISIONED

log = logging.getLogger(__name__)
NOT_FOUND = ("ResourceNotFoundException", "NotFound", "not found")


def purchase(run: dict[str, Any], custom_model_arn: str) -> provisioning.Purchase:
    """What part 3 would buy for an entry serving the custom model at the run's price."""
    kind, hourly = run["capacity"]["kind"], run["capacity"]["hourlyUsd"]
    prices = {"deploymentHourlyUsd": hourly} if kind == CUSTOM_DEPLOYMENT else {"provisionedUnitHourlyUsd": {"none": hourly}}
    entry = {**run["baseEntry"], "customModelArn": custom_model_arn, "capacityPrices": prices}
    try:
        return provisioning.plan(
            {"models": {run["candidateAlias"]: entry}}, run["candidateAlias"], 1, "none", kind == CUSTOM_DEPLOYMENT
        )
    except ProvisioningError as exc:
        raise CapacityFailed(str(exc)) from None


def provision(control: CapacityControl, run: dict[str, Any], job: dict[str, Any], now: float) -> dict[str, Any]:
    bought = purchase(run, job["customModelArn"])
    name = f"{run['name']}-{run['suffix']}-eval"
    try:
        arn = control.create(bought.kind, name, bought.model, bought.units, provisioning.COMMITMENTS[bought.commitment])
    except Exception as exc:  # nothing was created: the control plane refused
        raise CapacityFailed(f"{bought.describe()} could not be created: {type(exc).__name__}: {exc}") from None
    return {
        "kind": bought.kind,
        "arn": arn,
        "name": name,
        "model": bought.model,
        "units": bought.units,
        "hourlyUsd": bought.hourly_usd,
        "priceSource": run["capacity"]["priceSource"],
        "createdAt": now,
        "status": "Creating",
        "ready": False,
        "elapsedSeconds": 0,
    }


def poll(control: CapacityControl, run: dict[str, Any], capacity: dict[str, Any], now: float) -> dict[str, Any]:
    status, message = control.status(capacity["kind"], capacity["arn"])
    elapsed = round(now - capacity["createdAt"], 1)
    polled = {**capacity, "status": status, "elapsedSeconds": elapsed, "ready": status == provisioning.READY[capacity["kind"]]}
    if polled["ready"]:
        return polled
    if status == "Failed":
        raise CapacityFailed(f"{capacity['arn']} failed: {message or 'Bedrock gave no reason'} ({release(control, capacity)})")
    limit = run["polling"]["capacityMaxSeconds"]
    if elapsed > limit:
        note = release(control, capacity)
        raise CapacityTimedOut(
            f"{capacity['arn']} still {status} after {elapsed:.0f} s (polling.capacityMaxSeconds {limit}): {note}"
        )
    return polled


def release(control: CapacityControl, capacity: dict[str, Any]) -> str:
    """Delete the capacity; what happened, in words (never raises: the caller reports it)."""
    try:
        control.delete(capacity["kind"], capacity["arn"])
        return "deleted"
    except Exception as exc:
        if any(marker in f"{type(exc).__name__} {exc}" for marker in NOT_FOUND):
            return "already deleted"
        log.warning("could not delete evaluation capacity %s: %s", capacity.get("arn"), exc)
        return f"NOT deleted ({type(exc).__name__}: {exc})"


def delete_command(capacity: dict[str, Any]) -> str:
    """The AWS CLI command that deletes it."""
    if capacity["kind"] == PROVISIONED:
        return f"aws bedrock delete-provisioned-model-throughput --provisioned-model-id {capacity['arn']}"
    return f"aws bedrock delete-custom-model-deployment --custom-model-deployment-identifier {capacity['arn']}"
