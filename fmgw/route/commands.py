"""``fmgw route score``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from fmgw.paths import REPO_CONFIG

app = typer.Typer(name="route", help="The router, offline.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help="Gateway configuration; default: $FMGW_CONFIG_FILE, else config/gateway.json.",
        show_default=False,
    ),
]


@app.command()
def score(config: ConfigOption = None) -> None:
    """Score JSON-lines prompts from standard input: the tier and score model "auto" would give each, in order.

    Input lines: {"prompt": ...} or {"messages": [...], "system": [...]}. No model is called.

    A line that cannot be scored gets {"error": ...} and the exit status is 1.
    """
    from fmgateway.aws.artifacts import read_s3
    from fmgateway.config.gateway_config import load_file
    from fmgateway.routing import difficulty
    from fmgw.route.score import run

    difficulty.use_artifact_reader(read_s3)  # contentRouting.artifact: s3://bucket/key, as fmgateway.runtime wires it
    path = config or (Path(os.environ["FMGW_CONFIG_FILE"]) if os.environ.get("FMGW_CONFIG_FILE") else REPO_CONFIG)
    raise typer.Exit(run(load_file(path), sys.stdin, sys.stdout))
