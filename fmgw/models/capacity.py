"""``fmgw models provision`` and ``fmgw models release``: thin commands over ``fmgateway.lifecycle.provisioning`` and a
``Deployer`` (``--deploy-to``: the configuration file local mode reads, or AppConfig)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from fmgw.paths import REPO_CONFIG

ConfigPath = Annotated[
    Path, typer.Option("--config", exists=True, dir_okay=False, help="The configuration file (--deploy-to file).")
]
DeployTo = Annotated[
    str,
    typer.Option(
        "--deploy-to",
        help="file (the --config file, which local mode reloads) or "
        "appconfig:<application>/<environment>/<profile>/<strategy> (ids).",
    ),
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url", help="Bedrock control plane endpoint (default: AWS's, or local mode's simulator).", show_default=False
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _deployer(deploy_to: str, config: Path) -> Any:
    if deploy_to == "file":
        from fmgateway.lifecycle.deployer import FileDeployer

        return FileDeployer(config)
    if deploy_to.startswith("appconfig:"):
        parts = deploy_to.removeprefix("appconfig:").split("/")
        if len(parts) != 4 or not all(parts):
            raise _fail("--deploy-to appconfig:<application>/<environment>/<profile>/<strategy>", 2)
        import boto3

        from fmgateway.aws.appconfig_deployer import AppConfigDeployer, AppConfigTarget

        return AppConfigDeployer(boto3.client("appconfig"), AppConfigTarget(*parts))
    raise _fail("--deploy-to: file or appconfig:<application>/<environment>/<profile>/<strategy>", 2)


def _control(endpoint_url: str | None) -> Any:
    """The Bedrock control plane: AWS's (the environment's credentials), or local mode's simulator while it runs."""
    import boto3

    from fmgateway.aws.capacity import BedrockCapacity
    from fmgw.datasets.sources import local_state_file

    if endpoint_url is None and not os.environ.get("AWS_ENDPOINT_URL_BEDROCK") and local_state_file().exists():
        endpoint_url = json.loads(local_state_file().read_text()).get("simulatorUrl") or None
    if endpoint_url:  # the simulator takes any credentials; never send real ones to it
        client = boto3.client(
            "bedrock",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    else:
        client = boto3.client("bedrock")
    return BedrockCapacity(client)


def provision(
    alias: Annotated[str, typer.Argument(help="The catalog entry to serve from the new capacity.")],
    units: Annotated[int, typer.Option(min=1, help="Model units (Provisioned Throughput).")] = 1,
    commitment: Annotated[str, typer.Option(help="none, 1m or 6m.")] = "none",
    on_demand: Annotated[bool, typer.Option("--on-demand", help="An on-demand custom model deployment instead.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Buy without asking.")] = False,
    switch: Annotated[bool, typer.Option("--switch", help="Once in service, switch the entry to it (--deploy-to).")] = False,
    name: Annotated[str | None, typer.Option(help="The capacity's name (default fmgw-<alias>).")] = None,
    config: ConfigPath = REPO_CONFIG,
    deploy_to: DeployTo = "file",
    endpoint_url: EndpointUrl = None,
) -> None:
    """Buy Provisioned Throughput (or an on-demand custom model deployment) for a catalog entry: its hourly and monthly
    cost, a question before buying, a wait until it is in service; --switch then moves the entry onto it."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from fmgateway.lifecycle import provisioning
    from fmgateway.lifecycle.deployer import Conflict, DeploymentFailed

    deployer = _deployer(deploy_to, config)
    try:
        doc, version = deployer.current()
        purchase = provisioning.plan(doc, alias, units, commitment, on_demand)
    except provisioning.ProvisioningError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(f"{purchase.describe()}: ${purchase.hourly_usd:,.2f} an hour, about ${purchase.monthly_usd:,.2f} a month")
    if not yes and not typer.confirm("Buy it?", default=False):
        raise _fail("nothing bought", 1)
    control = _control(endpoint_url)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as progress:
        task = progress.add_task("creating", total=None)
        try:
            arn = provisioning.buy(
                control,
                purchase,
                name or f"fmgw-{alias}",
                lambda status, _: progress.update(task, description=status),
                poll_seconds=1,
            )
        except provisioning.ProvisioningError as exc:
            raise _fail(str(exc)) from None
        except Exception as exc:  # the control plane refused: nothing was bought
            raise _fail(f"the control plane refused: {exc}") from None
    typer.echo(f"in service: {arn}")
    if not switch:
        typer.echo(f"not switched: the configuration is unchanged (--switch, or: fmgw models provision {alias} --switch)")
        return
    try:
        done = deployer.deploy(provisioning.switched(doc, purchase, arn), version, f"fmgw models provision {alias}: {arn}")
    except (Conflict, DeploymentFailed, ValueError) as exc:
        raise _fail(f"bought {arn} but did not switch {alias}: {exc}") from None
    typer.echo(f"switched {alias} to {arn} (configuration version {done.version}, {done.state})")


def release(
    alias: Annotated[str, typer.Argument(help="The catalog entry whose capacity to release.")],
    yes: Annotated[bool, typer.Option("--yes", help="Release without asking.")] = False,
    config: ConfigPath = REPO_CONFIG,
    deploy_to: DeployTo = "file",
    endpoint_url: EndpointUrl = None,
) -> None:
    """Move the entry back to its previous backend first (Bedrock on demand when none), then delete the capacity."""
    from fmgateway.lifecycle import provisioning
    from fmgateway.lifecycle.deployer import Conflict, DeploymentFailed

    deployer = _deployer(deploy_to, config)
    doc, version = deployer.current()
    try:
        changed, leaving = provisioning.restored(doc, alias)
    except provisioning.ProvisioningError as exc:
        raise _fail(str(exc), 2) from None
    if not yes and not typer.confirm(f"Move {alias} off {leaving['arn']} and delete it?", default=False):
        raise _fail("nothing released", 1)
    try:
        done = deployer.deploy(changed, version, f"fmgw models release {alias}: {leaving['arn']}")
    except (Conflict, DeploymentFailed, ValueError) as exc:
        raise _fail(f"{alias} still uses {leaving['arn']} (nothing deleted): {exc}") from None
    typer.echo(f"{alias} moved off {leaving['arn']} (configuration version {done.version})")
    try:
        _control(endpoint_url).delete(leaving["type"], leaving["arn"])
    except Exception as exc:
        raise _fail(f"{alias} moved, but {leaving['arn']} was not deleted: {exc}") from None
    typer.echo(f"deleted {leaving['arn']}")
