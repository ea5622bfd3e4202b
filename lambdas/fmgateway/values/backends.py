"""How a catalog model is invoked (issue 23): Bedrock on demand (by its inference profile or model id), a Bedrock
custom model by ARN (Provisioned Throughput, an on-demand custom model deployment, an imported model), or a SageMaker
AI real-time endpoint, optionally one of its inference components (how LoRA adapters are served).

Capacity paid by the hour (everything but on demand) carries its hourly price: the routing strategies treat it as
costing nothing more per call, and ``GET /v1/models`` shows its amortised cost per request.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

ON_DEMAND = "bedrock-on-demand"
PROVISIONED = "bedrock-provisioned"
CUSTOM_DEPLOYMENT = "bedrock-custom-deployment"
IMPORTED = "bedrock-imported"
SAGEMAKER = "sagemaker"
KINDS = (ON_DEMAND, PROVISIONED, CUSTOM_DEPLOYMENT, IMPORTED, SAGEMAKER)
# the resource type of each Bedrock ARN kind: arn:aws:bedrock:<region>:<account>:<type>/<id>
ARN_TYPES = {PROVISIONED: "provisioned-model", CUSTOM_DEPLOYMENT: "custom-model-deployment", IMPORTED: "imported-model"}
BEDROCK_KINDS = frozenset({ON_DEMAND, *ARN_TYPES})
CONTAINERS = ("tgi-messages", "lmi-chat")  # SageMaker request/response adapters (fmgateway.aws.sagemaker)
SAGEMAKER_ID = "sagemaker/"  # invoke ids of SageMaker candidates: sagemaker/<endpoint>[/<inference component>]
_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:([a-z0-9-]+):(\d{12}):([a-z-]+)/([A-Za-z0-9._-]+)$")


class Backend(NamedTuple):
    kind: str = ON_DEMAND
    arn: str | None = None  # the Bedrock ARN kinds
    endpoint: str | None = None  # SageMaker
    inference_component: str | None = None
    container: str | None = None  # SageMaker: one of CONTAINERS
    hourly_usd: float | None = None  # the capacity's price per hour: units x the price of one unit-hour

    @property
    def paid_by_the_hour(self) -> bool:
        return self.kind != ON_DEMAND

    @property
    def invoke_id(self) -> str | None:
        """What the invoker is called with, or None for on demand (the model's profile or model id)."""
        if self.kind == SAGEMAKER:
            return SAGEMAKER_ID + str(self.endpoint) + (f"/{self.inference_component}" if self.inference_component else "")
        return self.arn

    def describe(self) -> dict[str, Any]:
        fields = {
            "type": self.kind,
            "arn": self.arn,
            "endpoint": self.endpoint,
            "inferenceComponent": self.inference_component,
            "container": self.container,
            "hourlyUsd": self.hourly_usd,
        }
        return {key: value for key, value in fields.items() if value is not None}

    @classmethod
    def from_config(cls, entry: dict[str, Any] | None) -> Backend:
        """A catalog entry's ``backend`` object (the schema has checked its shape); absent: on demand."""
        if not entry:
            return cls()
        hourly = entry.get("hourlyUsd")
        if hourly is None and "unitHourlyUsd" in entry:
            hourly = round(entry["unitHourlyUsd"] * entry.get("units", 1), 6)
        return cls(
            kind=entry["type"],
            arn=entry.get("arn"),
            endpoint=entry.get("endpoint"),
            inference_component=entry.get("inferenceComponent"),
            container=entry.get("container"),
            hourly_usd=hourly,
        )


def arn_parts(arn: str) -> tuple[str, str, str, str] | None:
    """(region, account, resource type, id) of a Bedrock ARN, or None."""
    match = _ARN.match(arn)
    return match.groups() if match else None  # type: ignore[return-value]


def problem(backend: Backend, where: str) -> str | None:
    """What is wrong with a backend's own fields (the deployment's allowed patterns are checked apart)."""
    if backend.kind in ARN_TYPES:
        parts = arn_parts(backend.arn or "")
        kind = ARN_TYPES[backend.kind]
        if parts is None or parts[2] != kind:
            return f"{where}.arn: a {kind} ARN (arn:aws:bedrock:<region>:<account>:{kind}/<id>)"
    if backend.kind == SAGEMAKER and backend.container not in CONTAINERS:
        return f"{where}.container: one of {', '.join(CONTAINERS)}"
    if backend.paid_by_the_hour and backend.hourly_usd is None:
        return f"{where}: hourlyUsd (or unitHourlyUsd and units): capacity paid by the hour needs its price"
    return None


class Allowed(NamedTuple):
    """What the deployment's IAM grants (fixed at synth): Bedrock ARN kinds of one account and region, SageMaker
    endpoints whose names start with a prefix. Empty fields: not known here (tests, local mode without the setting)."""

    region: str | None = None
    account: str | None = None
    endpoint_prefix: str | None = None

    def refusal(self, backend: Backend, where: str) -> str | None:
        """Why the deployment could not invoke ``backend`` (so a rollout never turns into access-denied failures)."""
        if backend.kind in ARN_TYPES and backend.arn:
            parts = arn_parts(backend.arn)
            if parts is not None:
                region, account = parts[0], parts[1]
                if self.region and region != self.region:
                    return f"{where}.arn: region {region}, but this deployment may invoke only {self.region}"
                if self.account and account != self.account:
                    return f"{where}.arn: account {account}, but this deployment may invoke only {self.account}"
        prefix = self.endpoint_prefix
        if backend.kind == SAGEMAKER and prefix is not None and not str(backend.endpoint).startswith(prefix):
            return f"{where}.endpoint: {backend.endpoint} does not start with {prefix!r}, the prefix this deployment may invoke"
        return None
