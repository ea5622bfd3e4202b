"""Buying and releasing capacity for a catalog entry (issue 23), apart from switching live routing to it.

``plan`` says what ``fmgw models provision`` would buy and what it costs (the entry's ``capacityPrices``: per model
unit-hour by commitment for Provisioned Throughput, per hour for an on-demand custom model deployment); ``buy`` creates
it through the control plane and waits until it is in service; ``switched`` / ``restored`` are the configuration
changes a ``Deployer`` applies (the entry's backend set to the new capacity, the previous one kept as
``previousBackend``; and back). An imported model is refused: Custom Model Import has no Provisioned Throughput.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from fmgateway.values.backends import CUSTOM_DEPLOYMENT, IMPORTED, PROVISIONED

HOURS_PER_MONTH = 730
COMMITMENTS = {"none": None, "1m": "OneMonth", "6m": "SixMonths"}
READY = {PROVISIONED: "InService", CUSTOM_DEPLOYMENT: "Active"}


class CapacityControl(Protocol):
    """The Bedrock control plane's capacity calls (``fmgateway.aws.capacity``)."""

    def create(self, kind: str, name: str, model: str, units: int, commitment: str | None) -> str: ...

    def status(self, kind: str, arn: str) -> tuple[str, str]:
        """(status, failure message)."""
        ...

    def delete(self, kind: str, arn: str) -> None: ...


class ProvisioningError(Exception):
    """Nothing was bought, or what was bought is not usable (the message says which and why)."""


class Purchase(NamedTuple):
    alias: str
    kind: str
    model: str  # the custom model ARN (or base model id) the capacity serves
    units: int
    commitment: str
    hourly_usd: float

    @property
    def monthly_usd(self) -> float:
        return round(self.hourly_usd * HOURS_PER_MONTH, 2)

    def describe(self) -> str:
        if self.kind == CUSTOM_DEPLOYMENT:
            return f"an on-demand custom model deployment of {self.model} for {self.alias}"
        capacity = f"{self.units} model unit(s) of Provisioned Throughput ({self.commitment} commitment)"
        return f"{capacity} of {self.model} for {self.alias}"


def plan(config: dict[str, Any], alias: str, units: int, commitment: str, on_demand: bool) -> Purchase:
    """What to buy for ``alias`` and its price (ProvisioningError when the entry cannot have it)."""
    entry = config["models"].get(alias)
    if entry is None:
        raise ProvisioningError(f"{alias}: not in the catalog")
    if (entry.get("backend") or {}).get("type") == IMPORTED:
        raise ProvisioningError(
            f"{alias} is an imported model: Custom Model Import has no Provisioned Throughput (it is billed per custom "
            "model unit and copy, and loads copies on demand)"
        )
    if commitment not in COMMITMENTS:
        raise ProvisioningError(f"--commitment: one of {', '.join(COMMITMENTS)}")
    prices = entry.get("capacityPrices") or {}
    model = entry.get("customModelArn") or entry["modelId"]
    if on_demand:
        hourly = prices.get("deploymentHourlyUsd")
        if hourly is None:
            raise ProvisioningError(
                f"{alias}: Bedrock offers on-demand custom model deployments only for some base models (customized Nova "
                "Lite, Micro and Pro); this entry lists no deploymentHourlyUsd: use Provisioned Throughput"
            )
        if not entry.get("customModelArn"):
            raise ProvisioningError(f"{alias}: a deployment serves a custom model: the entry needs customModelArn")
        return Purchase(alias, CUSTOM_DEPLOYMENT, model, 1, "none", float(hourly))
    unit_price = (prices.get("provisionedUnitHourlyUsd") or {}).get(commitment)
    if unit_price is None:
        raise ProvisioningError(f"{alias}: capacityPrices.provisionedUnitHourlyUsd.{commitment} is not in the catalog")
    if units < 1:
        raise ProvisioningError("--units: at least 1")
    return Purchase(alias, PROVISIONED, model, units, commitment, round(float(unit_price) * units, 4))


def buy(
    control: CapacityControl,
    purchase: Purchase,
    name: str,
    on_wait: Callable[[str, float], None] | None = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Create the capacity and wait until it is in service; its ARN. A failure, or a timeout, is ProvisioningError
    (a failed resource is deleted, so nothing is left billing)."""
    arn = control.create(purchase.kind, name, purchase.model, purchase.units, COMMITMENTS[purchase.commitment])
    waited = 0.0
    while True:
        status, message = control.status(purchase.kind, arn)
        if on_wait is not None:
            on_wait(status, waited)
        if status == READY[purchase.kind]:
            return arn
        if status == "Failed":
            control.delete(purchase.kind, arn)
            raise ProvisioningError(f"{arn} failed: {message or 'no reason given'} (deleted; the configuration is unchanged)")
        if waited >= timeout_seconds:
            raise ProvisioningError(f"{arn} still {status} after {waited:.0f} s (left as it is: release it or wait)")
        sleep(poll_seconds)
        waited += poll_seconds


def switched(config: dict[str, Any], purchase: Purchase, arn: str) -> dict[str, Any]:
    """``config`` with ``purchase.alias`` invoked through the new capacity (its previous backend kept to restore)."""
    changed = copy.deepcopy(config)
    entry = changed["models"][purchase.alias]
    previous = entry.pop("backend", None)
    entry.pop("previousBackend", None)
    if previous is not None:
        entry["previousBackend"] = previous
    backend: dict[str, Any] = {"type": purchase.kind, "arn": arn}
    if purchase.kind == PROVISIONED:
        backend.update(
            unitHourlyUsd=round(purchase.hourly_usd / purchase.units, 6), units=purchase.units, commitment=purchase.commitment
        )
    else:
        backend["hourlyUsd"] = purchase.hourly_usd
    entry["backend"] = backend
    return changed


def restored(config: dict[str, Any], alias: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``config`` with ``alias`` back on its previous backend (Bedrock on demand when none was kept), and the capacity
    backend it leaves (to delete once the change is live)."""
    changed = copy.deepcopy(config)
    entry = changed["models"].get(alias)
    if entry is None:
        raise ProvisioningError(f"{alias}: not in the catalog")
    leaving = entry.get("backend") or {}
    if leaving.get("type") not in READY:
        raise ProvisioningError(
            f"{alias} is not on capacity this command bought (backend {leaving.get('type', 'bedrock-on-demand')})"
        )
    previous = entry.pop("previousBackend", None)
    if previous is None:
        entry.pop("backend")
    else:
        entry["backend"] = previous
    return changed, leaving
