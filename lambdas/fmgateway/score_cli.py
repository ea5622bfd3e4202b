"""``python -m fmgateway.routing.planner score [--config FILE]``: the ``auto`` decision for JSON-lines prompts, offline.

Each input line is ``{"prompt": "..."}`` or ``{"messages": [...], "system": [...]}`` (Converse content blocks,
or plain strings); each output line, in input order, is ``{"score": <float>, "tier": "...", ...}``. The
decision runs through ``routing.extract_features`` and ``routing.content_decision``, exactly what a request
with ``model: "auto"`` runs, and never calls a model. A line that cannot be read gets ``{"error": "..."}`` and the
exit status is 1. With ``contentRouting.mode`` other than ``learned`` the tier is the heuristic's (a classifier
model is never called here) and ``score`` is still the learned one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from fmgateway.config.gateway_config import GatewayConfig, load_file
from fmgateway.routing import difficulty
from fmgateway.routing import planner as routing

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "gateway.json"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmgateway.routing.planner", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="score JSON-lines prompts from standard input")
    score.add_argument("--config", type=Path, help="gateway config (default: $FMGW_CONFIG_FILE, else config/gateway.json)")
    args = parser.parse_args(argv)
    path = args.config or (Path(os.environ["FMGW_CONFIG_FILE"]) if os.environ.get("FMGW_CONFIG_FILE") else REPO_CONFIG)
    return run(load_file(path), sys.stdin, sys.stdout)
