"""The Bedrock model-access checklist for a deployment: ``python -m infra.model_access [region] [config file]``.

For every model the configuration can invoke (retired ones are remapped and never called) it prints the id the gateway
calls (the inference profile, or the model itself in-region) and the regions where Bedrock model access must be
granted: a cross-region profile may route a request to any destination region of its geography, and a model without
access there fails with AccessDeniedException (a 502 naming the model, then the next candidate). The same data the
stack's IAM grants come from (``infra/constructs/inference_access.py``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.settings import DEFAULTS, GEO_SCOPES, ROOT, check_config, invocable_models, validate_config


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


def main(argv: list[str]) -> int:
    region = argv[0] if argv else DEFAULTS["region"]
    path = Path(argv[1]) if len(argv) > 1 else ROOT / DEFAULTS["configFile"]
    config = validate_config(json.loads(path.read_text()), source=str(path))
    check_config(config, region)
    print(f"Bedrock model access to grant for a deployment in {region} with {path.name}:")
    for alias, model_id, invoked, regions in checklist(config, region):
        print(f"  [ ] {alias:20} {model_id:48} invoked as {invoked}\n        in: {', '.join(regions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
