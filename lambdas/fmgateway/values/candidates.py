"""What the candidate loop tries, one value per way of answering (DESIGN.md "Candidates").

A ``Candidate`` is a catalog model plus where and how it is invoked. Today every candidate is a Bedrock
on-demand call through the model's inference profile; later dimensions (backend, source region, version)
are fields here, and the keys derived from them are the only names the breaker and health data use.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.values.model import Model

BEDROCK_ON_DEMAND = "bedrock-on-demand"


class Candidate(NamedTuple):
    model: Model
    backend: str = BEDROCK_ON_DEMAND
    source_region: str | None = None  # None: the gateway's own region
    version: str | None = None

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
        return {"alias": self.alias, "invokeId": self.invoke_id, "breakerKey": self.breaker_key, "backend": self.backend}
