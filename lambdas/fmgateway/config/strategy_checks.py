"""Cross-field checks of ``tierStrategies`` (the strategies themselves: ``fmgateway.routing.strategies``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def config_problems(doc: Mapping[str, Any]) -> list[str]:
    """Cross-field checks of ``tierStrategies`` that the schema cannot express (unknown tiers and aliases, a weighted
    tier with no weight, a quality floor that no candidate meets); each names the field."""
    problems: list[str] = []
    tiers = doc.get("tiers", {})
    for tier, settings in doc.get("tierStrategies", {}).items():
        where = f"config.tierStrategies.{tier}"
        if tier not in tiers:
            problems.append(f"{where}: unknown tier '{tier}' (tiers: {', '.join(tiers)})")
            continue
        chain = set(tiers[tier])
        name = settings.get("strategy")
        for field in ("weights", "quality"):
            for alias in settings.get(field, {}):
                if alias not in chain:
                    problems.append(f"{where}.{field}.{alias}: not a candidate of tier '{tier}' ({', '.join(tiers[tier])})")
        if name == "weighted" and not any(float(w) > 0 for w in settings.get("weights", {}).values()):
            problems.append(f"{where}.weights: strategy 'weighted' needs a weight above 0 for at least one candidate")
        if "minQuality" in settings:
            if name != "cost":
                problems.append(f"{where}.minQuality: only the 'cost' strategy has a quality floor")
            elif not any(float(settings.get("quality", {}).get(alias, 0)) >= settings["minQuality"] for alias in chain):
                problems.append(f"{where}.minQuality: no candidate of tier '{tier}' has quality >= {settings['minQuality']}")
        share = settings.get("explorationShare")
        if share is not None and name not in ("latency", "errors"):
            problems.append(f"{where}.explorationShare: only 'latency' and 'errors' explore")
    return problems
