"""``fmgw datasets build`` and ``fmgw datasets check``: thin commands over ``fmgateway.lifecycle.datasets``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(name="datasets", help="Training datasets from Bedrock invocation logs.", no_args_is_help=True)


class Format(StrEnum):
    fine_tuning = "fine-tuning"
    continued_pretraining = "continued-pretraining"
    conversation = "conversation"


FormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        help="fine-tuning (the base model's own records: prompt/completion, Claude 3 Haiku's system + messages, or "
        "bedrock-conversation-2024), continued-pretraining ({input}), conversation (bedrock-conversation-2024 for "
        "distillation; single-turn where the student takes only that).",
    ),
]
BaseModelOption = Annotated[str, typer.Option("--base-model", help="The base model to customize, e.g. amazon.nova-lite-v1:0.")]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="S3 endpoint (default: AWS's, or local mode's for its bucket).", show_default=False),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def build(
    logs: Annotated[str, typer.Option("--logs", help="s3://bucket/prefix (local mode's too) or a folder with the logs' layout.")],
    dataset_format: FormatOption,
    base_model: BaseModelOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl, validation.jsonl and summary.json.")],
    since: Annotated[str | None, typer.Option(help="Only calls at or after this ISO time (UTC unless it says).")] = None,
    until: Annotated[str | None, typer.Option(help="Only calls before this ISO time.")] = None,
    where: Annotated[
        list[str] | None, typer.Option("--where", help="KEY=VALUE on requestMetadata (repeatable: all must match).")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Bedrock model id (or part) or gateway alias (repeatable).")
    ] = None,
    operation: Annotated[
        list[str] | None, typer.Option("--operation", help="Converse, ConverseStream, InvokeModel (repeatable).")
    ] = None,
    stop_reason: Annotated[list[str] | None, typer.Option("--stop-reason", help="e.g. end_turn (repeatable).")] = None,
    min_answer_chars: Annotated[int, typer.Option(min=0, help="Leave out answers shorter than this.")] = 0,
    include_classifier: Annotated[bool, typer.Option(help="Keep the auto tier's classifier calls.")] = False,
    dedupe: Annotated[bool, typer.Option(help="Keep one record per prompt (system and turns).")] = True,
    redact: Annotated[bool, typer.Option(help="Replace e-mail addresses, phone and card numbers.")] = False,
    prompts_only: Annotated[bool, typer.Option(help="conversation: prompts without answers (the teacher answers).")] = False,
    validation: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of records for validation.jsonl.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the train/validation split (stable across runs).")] = 7,
    upload: Annotated[str | None, typer.Option(help="Also upload the files to this s3:// prefix.")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Write a training dataset from invocation logs: the final answer of each gateway request, filtered,
    de-duplicated, in the base model's format, split, and held to Bedrock's documented limits."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from fmgateway.lifecycle import dataset_rules, datasets, invocation_logs
    from fmgw.datasets import sources

    try:
        filters = datasets.Filters(
            since=datasets.parse_time(since) if since else None,
            until=datasets.parse_time(until) if until else None,
            where=datasets.parse_where(where or []),
            models=tuple(model or ()),
            operations=tuple(operation or ()),
            stop_reasons=tuple(stop_reason or ()),
            min_answer_chars=min_answer_chars,
            include_classifier=include_classifier,
        )
        options = datasets.Options(dataset_format.value, base_model, validation, seed, dedupe, redact, prompts_only)
        dataset_rules.limits_for(dataset_rules.base_model(base_model), dataset_format.value)
        objects, prefix = sources.logs_source(logs, endpoint_url)
    except (ValueError, dataset_rules.UnknownBaseModel) as exc:
        raise _fail(str(exc)) from None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as progress:
        task = progress.add_task("reading logs", total=None)
        count = 0

        def seen(key: str) -> None:
            nonlocal count
            count += 1
            progress.update(task, description=f"reading log object {count}: {key.rsplit('/', 1)[-1]}")

        try:
            dataset = datasets.build(invocation_logs.read_records(objects, prefix, seen), filters, options)
        except datasets.DatasetError as exc:
            raise _fail(f"the dataset breaks a documented limit: {exc}", 1) from None
        except Exception as exc:  # botocore's errors: a bucket that does not exist, no credentials, no access
            raise _fail(f"cannot read {logs}: {exc}", 1) from None
    out.mkdir(parents=True, exist_ok=True)
    files = {"train.jsonl": dataset.train}
    if validation > 0:
        files["validation.jsonl"] = dataset.validation
    for name, lines in files.items():
        (out / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    summary = dataset.summary.to_json()
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary, out, list(files))
    if upload:
        try:
            target, prefix = sources.destination(upload, endpoint_url)
            for name in [*files, "summary.json"]:
                target.write(f"{prefix}/{name}" if prefix else name, (out / name).read_bytes())
        except Exception as exc:
            raise _fail(f"upload to {upload} failed: {exc}", 1) from None
        typer.echo(f"uploaded to {upload.rstrip('/')}/")


def _print_summary(summary: dict, out: Path, files: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dataset in {out}", show_header=False)
    for label, key in (("records read", "recordsRead"), ("requests", "requests"), ("kept", "kept")):
        table.add_row(label, str(summary[key]))
    table.add_row("training / validation", f"{summary['train']} / {summary['validation']}")
    table.add_row("attempts folded into their request", str(summary["attemptsFolded"]))
    for reason, count in summary["dropped"].items():
        table.add_row(f"dropped: {reason}", str(count))
    for kind, count in summary["redactions"].items():
        table.add_row(f"redacted: {kind}", str(count))
    console = Console()
    console.print(table)
    # plain lines, never wrapped: a refusal's file:line must stay one line for grep and editors
    for refusal in summary["refusals"]:
        typer.echo(f"refused {refusal}")
    for warning in summary["warnings"]:
        typer.echo(f"warning: {warning}")
    typer.echo(f"wrote {', '.join(str(out / name) for name in files)}")


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Dataset files (JSON lines).")],
    dataset_format: FormatOption,
    base_model: BaseModelOption,
) -> None:
    """Check dataset files against the format and Bedrock's documented limits for the base model: every record
    that breaks a rule, with its file and line (exit 1 when there is one)."""
    from fmgateway.lifecycle import dataset_rules, datasets

    try:
        refusals = [
            refusal
            for path in files
            for refusal in datasets.check_dataset(
                str(path), path.read_text(encoding="utf-8").splitlines(), dataset_format.value, base_model
            )
        ]
    except dataset_rules.UnknownBaseModel as exc:
        raise _fail(str(exc)) from None
    for refusal in refusals:
        typer.echo(str(refusal))
    if refusals:
        raise typer.Exit(1)
    typer.echo(f"{len(files)} file(s) fit {dataset_format.value} for {base_model}")
