"""What the deployment may invoke beyond Bedrock on demand (issue 23), fixed at synth: Bedrock custom capacity by ARN
(Provisioned Throughput, custom model deployments, imported models) of the stack's own account and region, and SageMaker
endpoints and inference components whose names start with ``sagemakerEndpointPrefix`` (context, default ``fmgw-``).

The catalog's ARNs and endpoints are known only when a team provisions them, so IAM grants the patterns, and the same
patterns reach the functions (``FMGW_BACKEND_ACCESS``) so that ``parse_config`` refuses an entry outside them at load,
as this module does at synth: a rollout never turns into access-denied failures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fmgateway.values.backends import Allowed, Backend
from infra.context_values import ConfigError

PREFIX_CONTEXT = "sagemakerEndpointPrefix"
DEFAULT_PREFIX = "fmgw-"
_PREFIX = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,40}$")


def endpoint_prefix(context: Mapping[str, Any]) -> str:
    prefix = str(context.get(PREFIX_CONTEXT) or DEFAULT_PREFIX)
    if not _PREFIX.match(prefix):
        raise ConfigError(f"context '{PREFIX_CONTEXT}' must be letters, digits and '-' (a SageMaker name prefix), got {prefix!r}")
    return prefix


def backend_problems(config: Mapping[str, Any], region: str, prefix: str, account: str | None = None) -> list[str]:
    """Catalog entries whose backend the deployment could not invoke (the account when it is known at synth)."""
    allowed = Allowed(region, account, prefix)
    problems = []
    for alias, entry in config["models"].items():
        backend = Backend.from_config(entry.get("backend"))
        where = f"models.{alias}.backend"
        refusal = allowed.refusal(backend, where)
        if refusal is None and backend.inference_component and not backend.inference_component.startswith(prefix):
            refusal = f"{where}.inferenceComponent: {backend.inference_component} does not start with {prefix!r}"
        if refusal:
            problems.append(refusal)
    return problems
