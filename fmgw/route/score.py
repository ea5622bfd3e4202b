"""The ``auto`` decision for JSON-lines prompts, offline (``fmgw route score``).

Each input line is ``{"prompt": "..."}`` or ``{"messages": [...], "system": [...]}`` (Converse content blocks, or plain
strings); each output line, in input order, is ``{"score": <float>, "tier": "...", ...}``. The decision runs through
``fmgateway.routing.planner``'s ``extract_features`` and ``content_decision``, exactly what a request with
``model: "auto"`` runs, and never calls a model. A line that cannot be read gets ``{"error": "..."}`` (and the
command's exit status is 1). With ``contentRouting.mode`` other than ``learned`` the tier is the heuristic's (a
classifier model is never called here) and ``score`` is still the learned one.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from fmgateway.config.gateway_config import GatewayConfig
from fmgateway.routing import difficulty
from fmgateway.routing import planner as routing


def _blocks(content: Any) -> list[dict]:
    return [{"text": content}] if isinstance(content, str) else list(content)


def request_parts(line: dict[str, Any]) -> tuple[list[dict], list[dict] | None]:
    """Converse ``messages`` and ``system`` from one input line."""
    if "prompt" in line:
        if not isinstance(line["prompt"], str):
            raise ValueError("prompt must be a string")
        return [{"role": "user", "content": [{"text": line["prompt"]}]}], None
    if "messages" not in line:
        raise ValueError('each line needs "prompt" or "messages"')
    messages = [{"role": m.get("role", "user"), "content": _blocks(m["content"])} for m in line["messages"]]
    system = line.get("system")
    return messages, (None if system is None else _blocks(system))


def score_line(config: GatewayConfig, line: dict[str, Any]) -> dict[str, Any]:
    messages, system = request_parts(line)
    features = routing.extract_features(messages, system, config.default_max_tokens)
    settings = config.content_routing
    decision = routing.content_decision(features, settings)
    score = difficulty.model_for(settings).score(features.text)  # full precision; the gateway block rounds it
    return {**decision.describe(), "score": score}


def run(config: GatewayConfig, lines: TextIO, out: TextIO) -> int:
    """Score every line of ``lines`` onto ``out``; 1 if any line could not be scored, else 0."""
    status = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            result = score_line(config, json.loads(raw))
        except (ValueError, KeyError, TypeError) as err:
            result, status = {"error": f"{type(err).__name__}: {err}"}, 1
        out.write(json.dumps(result) + "\n")
    return status
