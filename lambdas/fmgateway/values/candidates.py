"""What the candidate loop tries, one value per way of answering (DESIGN.md "Candidates").

A ``Candidate`` is a catalog model plus where and how it is invoked: its backend (the model's: Bedrock on demand, a
custom model ARN, a SageMaker endpoint; ``fmgateway.values.backends``), and later dimensions (source region, version)
as fields here. The keys derived from them are the only names the breaker and health data use. A candidate travels
whole (``describe`` / ``from_json``): nothing rebuilds one from its alias, so a model that is not in the catalog (one
being evaluated) goes through the loop and the state machine like any other.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.values.backends import ON_DEMAND
from fmgateway.values.model import Model

BEDROCK_ON_DEMAND = ON_DEMAND


class Candidate(NamedTuple):
    model: Model
    source_region: str | None = None  # None: the gateway's own region
    version: str | None = None

    @property
    def backend(self) -> str:
        """How it is invoked: the model's backend kind (``fmgateway.values.backends.KINDS``)."""
        return self.model.backend.kind

    @property
    def alias(self) -> str:
        return self.model.alias

    @property
    def invoke_id(self) -> str:
        """The id sent to Bedrock."""
        return self.model.invoke_id

    @property
    def breaker_key(self) -> str:
        """One breaker per candidate: today the invoke id (per source region once regions fail over)."""
        return self.model.invoke_id

    @property
    def health_key(self) -> str:
        return self.breaker_key

    def describe(self) -> dict[str, Any]:
        """Everything the candidate is (its model's catalog entry included), for ``from_json``."""
        return {
            "alias": self.alias,
            "invokeId": self.invoke_id,
            "breakerKey": self.breaker_key,
            "backend": self.backend,
            "sourceRegion": self.source_region,
            "version": self.version,
            "model": self.model.to_config(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Candidate:
        return cls(Model.from_config(data["alias"], data["model"]), data.get("sourceRegion"), data.get("version"))
