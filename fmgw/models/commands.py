"""``fmgw models access`` (the lifecycle commands will join it here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from infra.settings import DEFAULTS, ROOT, ConfigError, check_config, validate_config

app = typer.Typer(name="models", help="The models a deployment uses.", no_args_is_help=True)

RegionOption = Annotated[str, typer.Option("--region", help="The region the stack deploys to.")]
ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help="Gateway configuration (the configFile the deploy uses).",
        show_default=DEFAULTS["configFile"],
    ),
]


@app.command()
def access(region: RegionOption = DEFAULTS["region"], config: ConfigOption = ROOT / DEFAULTS["configFile"]) -> None:
    """The Bedrock model-access checklist: every model the configuration can invoke, the id the gateway invokes
    and every region where model access must be granted."""
    from fmgw.models.access import checklist

    try:
        doc = validate_config(json.loads(config.read_text()), source=str(config))
        check_config(doc, region)
    except (ConfigError, json.JSONDecodeError) as err:
        typer.echo(f"{config}: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Bedrock model access to grant for a deployment in {region} with {config.name}:")
    for alias, model_id, invoked, regions in checklist(doc, region):
        typer.echo(f"  [ ] {alias:20} {model_id:48} invoked as {invoked}\n        in: {', '.join(regions)}")
