"""The Bedrock model-access checklist for a deployment (``fmgw models access``).

For every model the configuration can invoke (retired ones are remapped and never called) it names the id the gateway
calls (the inference profile, or the model itself in-region) and the regions where Bedrock model access must be
granted: a cross-region profile may route a request to any destination region of its geography, and a model without
access there fails with AccessDeniedException (a 502 naming the model, then the next candidate). The same data the
stack's IAM grants come from (``infra/constructs/inference_access.py``), read through ``infra.settings``, which
imports no CDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.settings import GEO_SCOPES, invocable_models


def checklist(config: Mapping[str, Any], region: str) -> list[tuple[str, str, str, list[str]]]:
    """(alias, Bedrock model id, the id the gateway invokes, regions needing model access) per invocable model."""
    rows = []
    for alias, model in invocable_models(config).items():
        model_id, scope = model["modelId"], model["profileScope"]
        if scope in GEO_SCOPES:
            rows.append((alias, model_id, f"{scope}.{model_id}", list(config["geographies"][scope]["destinationRegions"])))
        elif scope == "global":
            rows.append((alias, model_id, f"global.{model_id}", ["every commercial region (global profile)"]))
        else:
            rows.append((alias, model_id, model_id, [region]))
    return rows
