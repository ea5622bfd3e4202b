"""``fmgw models access|list|compare``: the Bedrock model-access checklist, the catalog with live health, and models
side by side on an evaluation set (the logic of ``compare`` is ``fmgateway.lifecycle.comparison``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fmgw.target import KeyOption, UrlOption
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


def _target(url: str | None, key: str | None):
    from fmgw.target import resolve

    return resolve(url, key)


def _listed(entry: dict, capability: list[str], modality: list[str], max_input_price: float | None) -> bool:
    if "capabilities" not in entry:  # embedding models have their own block
        return not capability and not modality and max_input_price is None
    if not set(capability) <= set(entry["capabilities"]) or not set(modality) <= set(entry["inputModalities"]):
        return False
    return max_input_price is None or entry["pricePer1k"]["input"] <= max_input_price


@app.command("list")
def list_models(
    url: UrlOption = None,
    key: KeyOption = None,
    capability: Annotated[list[str] | None, typer.Option(help="e.g. toolUse, structuredOutput (repeatable: all).")] = None,
    modality: Annotated[list[str] | None, typer.Option(help="An input modality: text, image, document (repeatable).")] = None,
    max_input_price: Annotated[float | None, typer.Option(help="USD per 1,000 input tokens, at most.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The catalog entries as JSON, as GET /v1/models has them.")] = False,
) -> None:
    """The catalog with live breaker state and health (GET /v1/models), filtered."""
    import httpx

    from fmgw.models import gateway

    try:
        with gateway.client(_target(url, key)) as http:
            entries = gateway.catalog(http)
    except (httpx.HTTPError, gateway.GatewayError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    chosen = [entry for entry in entries if _listed(entry, capability or [], modality or [], max_input_price)]
    if as_json:
        typer.echo(json.dumps(chosen, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("alias", "Bedrock id", "family", "context", "input", "capabilities", "languages", "$/1k in", "$/1k out",
                  "lifecycle", "breaker", "calls", "errors", "p50 ms", "amortised $/req")  # fmt: skip
    for entry in chosen:
        health = entry.get("health") or {}
        lifecycle = entry.get("lifecycle", "")
        if entry.get("successor"):
            lifecycle += f" -> {entry['successor']}"
        languages = entry.get("languages") or []
        table.add_row(
            entry["id"],
            entry.get("modelId", ""),
            gateway.family(entry.get("modelId", "")),
            str(entry.get("contextWindow", "")),
            ",".join(entry.get("inputModalities", ["text"])),
            ",".join(entry.get("capabilities", ["embeddings"])),
            "any" if languages == ["*"] else ",".join(languages),
            f"{entry['pricePer1k']['input']:g}",
            f"{entry['pricePer1k'].get('output', 0):g}",
            lifecycle,
            str(entry.get("breaker", "")),
            str(health.get("calls", 0)),
            f"{health.get('errorRate', 0):.0%}" if health.get("calls") else "-",
            str(health.get("p50Ms") or "-"),
            "-" if entry.get("amortisedCostPerRequestUsd") is None else f"{entry['amortisedCostPerRequestUsd']:.6f}",
        )
    Console().print(table)


@app.command()
def compare(
    eval_set: Annotated[Path, typer.Option("--set", exists=True, dir_okay=False, help="The evaluation set (JSON lines).")],
    models: Annotated[str, typer.Option("--models", help="Comma-separated aliases, e.g. nova-lite,nova-pro.")],
    url: UrlOption = None,
    key: KeyOption = None,
    judge: Annotated[str | None, typer.Option(help="A model that grades answers (cases with scorer judge).")] = None,
    rubric: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="The judge's rubric (text).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Requests in flight at once.")] = 4,
    repeat: Annotated[int, typer.Option(min=1, max=100, help="Runs of every case per model.")] = 1,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="maxTokens of every request.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the figures: results.json or results.csv.")] = None,
    write_quality: Annotated[
        Path | None,
        typer.Option(help="Write the configuration with tierStrategies.<tier>.quality set from the scores, for review."),
    ] = None,
    config: ConfigOption = ROOT / DEFAULTS["configFile"],
) -> None:
    """Run an evaluation set against each model (pinned: no fallback, no cached answer) and print latency, time to
    first token, tokens per second, errors, cost and quality side by side."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from fmgateway.lifecycle import comparison, evaluation
    from fmgw.models import gateway

    names = [name.strip() for name in models.split(",") if name.strip()]
    if not names or len(set(names)) != len(names):
        raise _usage("--models: one or more distinct aliases, comma-separated")
    if rubric is not None and judge is None:
        raise _usage("--rubric needs --judge")
    if out is not None and out.suffix not in (".json", ".csv"):
        raise _usage("--out: a .json or .csv file")
    try:
        cases = evaluation.load_cases(eval_set.read_text().splitlines(), judged=judge is not None)
    except evaluation.CaseError as exc:
        raise _usage(f"{eval_set}: {exc}") from None
    rubric_text = rubric.read_text() if rubric else "Score 1 for a correct, complete answer; 0 for a wrong one."
    target = _target(url, key)
    with gateway.client(target, timeout=120) as http:
        try:
            entries = gateway.catalog(http)
        except Exception as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        known = {entry["id"] for entry in entries}
        hourly = {e["id"]: e["backend"]["hourlyUsd"] for e in entries if (e.get("backend") or {}).get("hourlyUsd") is not None}
        unknown = [name for name in [*names, *([judge] if judge else [])] if name not in known]
        if unknown:
            raise _usage(f"not in the gateway's catalog: {', '.join(unknown)}")
        total = len(names) * len(cases) * repeat
        with Progress(TextColumn("comparing"), BarColumn(), MofNCompleteColumn(), transient=True) as progress:
            task = progress.add_task("compare", total=total)
            reports = comparison.compare(
                names,
                cases,
                lambda model, case: gateway.streamed(http, model, case, max_tokens),
                judge=gateway.judge(http, judge) if judge else None,
                rubric=rubric_text,
                concurrency=concurrency,
                repeat=repeat,
                on_row=lambda _row: progress.advance(task),
                hourly_usd=hourly,
            )
    figures = [report.to_json() for report in reports]
    _print_figures(Console(), figures, judge)
    if out is not None:
        out.write_text(comparison.as_csv(reports) if out.suffix == ".csv" else json.dumps(figures, indent=2) + "\n")
        typer.echo(f"wrote {out}")
    if write_quality is not None:
        _write_quality(figures, config, write_quality)


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _print_figures(console, figures: list[dict], judge: str | None) -> None:
    from rich.table import Table

    def shown(value, fmt: str = "{:g}") -> str:
        return "-" if value is None else fmt.format(value)

    table = Table("model", "requests", "errors", "p50 ms", "p99 ms", "TTFT p50", "TTFT p99", "tokens/s", "$/request",
                  "$/1k requests", "amortised $/1k", "quality", "scored")  # fmt: skip
    for row in figures:
        table.add_row(
            row["model"], str(row["requests"]), str(row["errors"]), shown(row["p50Ms"]), shown(row["p99Ms"]),
            shown(row["ttftP50Ms"]), shown(row["ttftP99Ms"]), shown(row["outputTokensPerSecond"]),
            shown(row["costPerRequestUsd"], "{:.6f}"), shown(row["costPer1kRequestsUsd"], "{:.4f}"),
            shown(row["amortisedCostPer1kRequestsUsd"], "{:.4f}"),
            shown(row["quality"], "{:.3f}"), str(row["scored"]),
        )  # fmt: skip
    console.print(table)
    for row in figures:
        for sample in row["errorSamples"]:
            console.print(f"{row['model']}: error: {sample}", markup=False, highlight=False)
        if row["unjudged"]:
            console.print(f"{row['model']}: {row['unjudged']} judge case(s) not scored: name a judge with --judge")
        if row["unparseableVerdicts"]:
            console.print(f"{row['model']}: {row['unparseableVerdicts']} judge verdict(s) could not be parsed (not scored)")
    if judge:
        spent = sum(row["judgeCostUsd"] for row in figures)
        console.print(f"judge {judge}: ${spent:.6f} (not in the models' cost)", markup=False, highlight=False)


def _write_quality(figures: list[dict], config: Path, target: Path) -> None:
    from fmgateway.lifecycle.comparison import with_quality

    scores = {row["model"]: row["quality"] for row in figures if row["quality"] is not None}
    if not scores:
        typer.echo("no quality scores: nothing to write", err=True)
        raise typer.Exit(1)
    doc = json.loads(config.read_text())
    changed, notes = with_quality(doc, scores)
    try:
        validate_config(changed, source=str(target))
    except ConfigError as err:
        typer.echo(f"the changed configuration would not load: {err}", err=True)
        raise typer.Exit(1) from None
    target.write_text(json.dumps(changed, indent=2) + "\n")
    typer.echo(f"wrote {target} (review it, then apply it as config/gateway.json is applied; {config} is unchanged):")
    for note in notes:
        typer.echo(f"  {note}")


# ---- capacity (issue 23): fmgw/models/capacity.py ---------------------------------------------------------------------
from fmgw.models import capacity as _capacity  # noqa: E402  (after the app, which these commands join)

app.command("provision")(_capacity.provision)
app.command("release")(_capacity.release)
