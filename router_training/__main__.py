"""``python -m router_training train|eval|calibrate``: see ``--help`` of each command."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from router_training import data, metrics

ROOT = data.ROOT
DEFAULT_CONFIG = ROOT / "config" / "gateway.json"
DEFAULT_ARTIFACT = ROOT / "lambdas" / "fmgateway" / "difficulty_model.json"
SHARE_POINTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _shares(config_file: Path) -> dict[str, float]:
    routing = json.loads(config_file.read_text()).get("contentRouting", {})
    if "shares" not in routing:
        raise SystemExit(f"{config_file}: contentRouting.shares is not set (e.g. {{'medium': 0.3, 'complex': 0.3}})")
    return {tier: float(routing["shares"][tier]) for tier in ("medium", "complex")}


def _write(path: Path, artifact: dict[str, Any]) -> None:
    path.write_text(json.dumps(artifact, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB), version {artifact['version']}", file=sys.stderr)


def _load(args) -> list[data.Example]:
    return data.load(args.data, args.extra)


def train(args) -> None:
    from router_training import train as training

    examples = _load(args)
    shares = _shares(args.config)
    artifact = training.build(examples, shares)
    _write(args.output, artifact)
    print(json.dumps({"thresholds": artifact["thresholds"], "shares": shares}))


def calibrate(args) -> None:
    from router_training import train as training

    examples = _load(args)
    artifact = json.loads(args.artifact.read_text())
    updated = training.with_thresholds(artifact, examples, _shares(args.config))
    _write(args.artifact, updated)
    print(json.dumps({"thresholds": updated["thresholds"], "shares": updated["shares"]}))


def heuristic_scores(examples: list[data.Example], config_file: Path) -> list[float]:
    """Today's heuristic as a score: its tier's rank (ties are routed in random order by the metrics)."""
    from fmgateway.routing.planner import classify, extract_features

    settings = json.loads(config_file.read_text()).get("contentRouting", {})
    rank = {"simple": 0.0, "medium": 1.0, "complex": 2.0}
    return [
        rank[classify(extract_features([{"role": "user", "content": [{"text": e.prompt}]}], None, 1024), settings)[0]]
        for e in examples
    ]


def evaluate(args) -> None:
    from router_training import train as training

    examples = _load(args)
    routers: dict[str, list[list[float]]] = {}
    print(f"cross-validating the learned score: 5 folds x {args.seeds} seed(s)...", file=sys.stderr)
    routers["learned (5-fold CV)"] = [
        training.cross_validated_scores(examples, seed=training.SEED + s) for s in range(args.seeds)
    ]
    routers["heuristic (today)"] = [heuristic_scores(examples, args.config)]
    routers["length only"] = [[float(len(e.prompt)) for e in examples]]
    generator = random.Random(training.SEED)
    routers["random"] = [[generator.random() for _ in examples] for _ in range(20)]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for benchmark in data.benchmarks(examples):
        rows = [i for i, e in enumerate(examples) if e.benchmark == benchmark]
        weak = [examples[i].weak_correct for i in rows]
        strong = [examples[i].strong_correct for i in rows]
        oracle = sum(max(w, s) for w, s in zip(weak, strong, strict=True)) / len(rows)
        print(
            f"\n## {benchmark}: {len(rows)} prompts, weak {sum(weak) / len(rows):.3f}, strong "
            f"{sum(strong) / len(rows):.3f}, oracle {oracle:.3f}"
        )
        print("accuracy at strong share  " + " ".join(f"{share:>5.0%}" for share in SHARE_POINTS) + "   APGR  CPT(50%)")
        for name, runs in routers.items():
            curves = [metrics.curve([run[i] for i in rows], weak, strong) for run in runs]
            accuracy = [sum(c.accuracy_at(share) for c in curves) / len(curves) for share in SHARE_POINTS]
            apgr = sum(c.apgr() for c in curves) / len(curves)
            cpt = sum(c.cpt() for c in curves) / len(curves)
            summary.setdefault(benchmark, {})[name] = {"apgr": round(apgr, 4), "cpt50": round(cpt, 4)}
            print(f"{name:<25} " + " ".join(f"{a:5.3f}" for a in accuracy) + f"  {apgr:5.3f}  {cpt:6.1%}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m router_training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, function, text in (
        ("train", train, "fit the score on the reference data (+ --extra CSVs) and write the artifact"),
        ("eval", evaluate, "5-fold CV curves, APGR and CPT(50%) per benchmark vs heuristic, length and random"),
        ("calibrate", calibrate, "recompute the artifact's tier thresholds for the configured shares"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.set_defaults(run=function)
        command.add_argument(
            "--data", type=Path, help=f"routing data folder (default: ${data.DATA_ENV} or ../shared/routing-data)"
        )
        command.add_argument("--extra", type=Path, action="append", default=[], help="more labelled CSV(.gz), same columns")
        command.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="gateway config with contentRouting.shares")
        if name == "train":
            command.add_argument("--output", type=Path, default=DEFAULT_ARTIFACT)
        if name == "calibrate":
            command.add_argument("--artifact", type=Path, default=DEFAULT_ARTIFACT)
        if name == "eval":
            command.add_argument("--seeds", type=int, default=3, help="repeat the 5-fold split with this many seeds")
            command.add_argument("--json", type=Path, help="also write the APGR/CPT summary here")
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
