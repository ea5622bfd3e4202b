"""Labelled prompts for training the difficulty score: the shared reference data plus optional user CSVs.

Every file has the columns ``id, benchmark, prompt, weak_correct, strong_correct`` (``.csv`` or ``.csv.gz``,
UTF-8, header row). ``benchmark`` groups prompts for equal weighting and per-group figures, so a platform
team can add its own traffic (judge labels for its small and large tier) as one more group.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "FMGW_ROUTING_DATA"
COLUMNS = ("id", "benchmark", "prompt", "weak_correct", "strong_correct")


class Example(NamedTuple):
    id: str
    benchmark: str
    prompt: str
    weak_correct: int
    strong_correct: int


def default_data_dir() -> Path:
    """``$FMGW_ROUTING_DATA``, else ``../shared/routing-data`` beside the repository (how CI clones it)."""
    return Path(os.environ.get(DATA_ENV) or ROOT.parent / "shared" / "routing-data")


def read_csv(path: Path) -> list[Example]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}: missing columns {', '.join(sorted(missing))}")
        return [
            Example(row["id"], row["benchmark"], row["prompt"], int(row["weak_correct"]), int(row["strong_correct"]))
            for row in reader
        ]


def load(data_dir: Path | None = None, extra: list[Path] | None = None) -> list[Example]:
    """The reference training data (every ``*.csv.gz`` in ``data_dir``) followed by any extra files."""
    directory = data_dir or default_data_dir()
    files = sorted(directory.glob("*.csv.gz"))
    if not files:
        raise SystemExit(f"no *.csv.gz routing data in {directory}; pass --data DIR or set {DATA_ENV}")
    examples: list[Example] = []
    for path in [*files, *(extra or ())]:
        examples.extend(read_csv(path))
    return examples


def benchmarks(examples: list[Example]) -> list[str]:
    return sorted({example.benchmark for example in examples})


def benchmark_weights(examples: list[Example]) -> list[float]:
    """Each benchmark weighs the same in total (MMLU has eleven times more prompts than GSM8K)."""
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.benchmark] = counts.get(example.benchmark, 0) + 1
    groups = len(counts)
    return [len(examples) / (groups * counts[example.benchmark]) for example in examples]
