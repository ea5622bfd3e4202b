"""``fmgw customize start|status|list|stop``: runs of the model customization workflow
(``statemachines/model-customization.asl.json``), in AWS or in local mode; the logic is in this package's modules."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="customize",
    help="Customize a model (fine-tuning, continued pre-training, distillation), evaluate it against a tier's model and "
    "decide by measurement.",
    no_args_is_help=True,
)

StateMachine = Annotated[
    str | None,
    typer.Option(
        "--state-machine",
        help="The workflow's state machine ARN (stack output CustomizationStateMachineArn); default: "
        "$FMGW_CUSTOMIZATION_STATE_MACHINE, else local mode's.",
        show_default=False,
    ),
]
RunArgument = Annotated[str, typer.Argument(help="The run: its name (the execution name) or execution ARN.")]
PollSeconds = Annotated[float, typer.Option("--poll-seconds", min=0.2, help="How often to look while following.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _where(state_machine: str | None, bucket: str | None = None):
    from fmgw.customize.where import WhereError, resolve

    try:
        return resolve(state_machine, bucket)
    except WhereError as exc:
        raise _fail(str(exc)) from None


def _console():
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # a pipe or a log: whole lines rather than an 80-column cut
        console.width = 200
    return console


def _report(where, run) -> dict[str, Any] | None:
    """The report a finished run wrote (its notes, the proposed entry), when it can be read; else None."""
    uri = (run.output or {}).get("reportUri")
    if run.status != "SUCCEEDED" or not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[5:].partition("/")
    try:
        return json.loads(where.s3().get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception:  # no s3:GetObject, or gone: the execution's output still says what matters
        return None


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _observe(sfn: Any, arn: str):
    from fmgw.customize.runs import observe

    try:
        return observe(sfn, arn)
    except Exception as exc:
        if _code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
            raise _fail(f"no run {arn.rsplit(':', 1)[-1]!r} ({arn})", 1) from None
        raise


def _follow(where, arn: str, console, poll_seconds: float):
    """Print a line whenever the state or the job's status changes (a spinner with the elapsed time between them, on a
    terminal); returns the finished run. Ctrl-C leaves the run running."""
    from fmgw.customize.report import duration
    from fmgw.customize.runs import observe

    sfn = where.sfn()
    last = None
    try:
        with console.status("starting") as spinner:
            while True:
                run = observe(sfn, arn)
                line = run.progress()
                if line != last:
                    console.print(f"[{duration(run.elapsed())}] {line}")
                    last = line
                if run.finished:
                    return run
                spinner.update(f"{line} · {duration(run.elapsed())}")
                time.sleep(poll_seconds)
    except KeyboardInterrupt:
        name = arn.rsplit(":", 1)[-1]
        console.print(f"\nstill running: fmgw customize status {name} --follow (or: fmgw customize stop {name})")
        raise typer.Exit(130) from None


@app.command()
def start(
    spec_file: Annotated[Path, typer.Argument(help="The run's spec (JSON; README 'Customization' lists the fields).")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run to its end and print the report.")] = True,
    name: Annotated[
        str | None, typer.Option("--name", help="The run's name (default: the spec's, else <file>-<UTC time>).")
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket",
            help="Where local files of the spec are uploaded (stack output CustomizationBucketName); default: "
            "$FMGW_CUSTOMIZATION_BUCKET, else local mode's.",
            show_default=False,
        ),
    ] = None,
    state_machine: StateMachine = None,
    poll_seconds: PollSeconds = 2.0,
) -> None:
    """Start a run from a spec file: local datasets and evaluation sets are uploaded first; then (--wait) follow it
    and print the report. Exit code 0 when the run decides (promote or reject), 1 when it fails, 2 for a bad spec."""
    from fmgw.customize import spec as specs
    from fmgw.customize.where import WhereError

    where = _where(state_machine, bucket)
    console = _console()
    try:
        spec = specs.load(spec_file)
        if name:
            spec["name"] = name
        spec.setdefault("name", specs.default_name(spec_file))
        specs.check(spec)
        files = specs.local_files(spec, spec_file.resolve().parent)
    except specs.SpecError as exc:
        raise _fail(f"{spec_file}: {exc}") from None
    logs = spec["trainingData"].get("invocationLogs")
    if logs and where.local is not None and not where.local.get("invocationLogs"):
        raise _fail(
            "this run distills from invocation logs, but local mode writes none: restart it with "
            "FMGW_INVOCATION_LOGS=1 make local, send the traffic to learn from, then start the run"
        )
    if files:
        try:
            target = where.need_bucket()
        except WhereError as exc:
            raise _fail(str(exc)) from None
        s3 = where.s3()
        uploads = specs.upload(spec, files, target, lambda b, k, data: s3.put_object(Bucket=b, Key=k, Body=data))
        for path, uri in uploads:
            console.print(f"uploaded {path} to {uri}")
    sfn = where.sfn()
    try:
        started = sfn.start_execution(
            stateMachineArn=where.state_machine_arn, name=spec["name"], input=json.dumps({"spec": spec})
        )
    except Exception as exc:
        if _code(exc) == "ExecutionAlreadyExists":
            raise _fail(f"a run named {spec['name']!r} exists already: give another --name") from None
        if _code(exc) == "StateMachineDoesNotExist":
            raise _fail(f"no state machine {where.state_machine_arn}") from None
        raise
    arn = started["executionArn"]
    where_text = "local mode" if where.local is not None else where.region
    console.print(f"started {spec['name']} ({spec['type']} of {spec['baseModel']}, {where_text}): {arn}")
    if not wait:
        console.print(f"follow it: fmgw customize status {spec['name']} --follow")
        return
    from fmgw.customize.report import render

    finished = _follow(where, arn, console, poll_seconds)
    raise typer.Exit(render(finished, console, _report(where, finished)))


@app.command()
def status(
    run: RunArgument,
    follow: Annotated[bool, typer.Option("--follow", help="Follow it to its end.")] = False,
    state_machine: StateMachine = None,
    poll_seconds: PollSeconds = 2.0,
) -> None:
    """Where a run is (state, job status, elapsed time), or its report or error once finished."""
    from fmgw.customize.report import render

    where = _where(state_machine)
    console = _console()
    arn = where.execution_arn(run)
    found = _observe(where.sfn(), arn)
    if follow and not found.finished:
        found = _follow(where, arn, console, poll_seconds)
    raise typer.Exit(render(found, console, _report(where, found)))


@app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many of the latest runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run.")] = False,
    state_machine: StateMachine = None,
) -> None:
    """The latest runs: name, status, started, duration, and the decision (or error) of a finished one."""
    from fmgw.customize.report import run_summary, runs_table
    from fmgw.customize.runs import listed

    where = _where(state_machine)
    runs = listed(where.sfn(), where.state_machine_arn, limit)
    if as_json:
        typer.echo(json.dumps([run_summary(run) for run in runs], indent=2))
        return
    console = _console()
    if not runs:
        console.print("no runs yet: fmgw customize start SPEC_FILE")
        return
    console.print(runs_table(runs))


@app.command()
def stop(run: RunArgument, state_machine: StateMachine = None) -> None:
    """Stop a run and clean up what it created, as the workflow's own cleanup does after a failure (Step Functions
    runs no state of a stopped execution): the customization job stopped while it runs, the evaluation capacity
    deleted, a completed custom model kept (the command that deletes it is printed). On a run already stopped or timed
    out, only the cleanup. Exit code 1 when something could not be cleaned up."""
    from fmgw.customize.cleanup import by_name, clean, last_state
    from fmgw.customize.report import duration

    where = _where(state_machine)
    console = _console()
    sfn = where.sfn()
    arn = where.execution_arn(run)
    current = _observe(sfn, arn)
    if current.status == "RUNNING":
        sfn.stop_execution(executionArn=arn, error="StoppedByUser", cause="fmgw customize stop")
        console.print(f"stopped {current.name} in {current.progress()} after {duration(current.elapsed())}")
    elif current.status in ("SUCCEEDED", "FAILED"):
        console.print(f"{current.name} already {current.status}: the workflow cleaned up after itself; nothing to stop")
        return
    else:
        console.print(f"{current.name} already {current.status}: cleaning up what it left")
    state, in_flight = last_state(sfn, arn)
    try:
        for line in by_name(state, arn, where.bedrock, where.region):
            console.print(f"  found {line}")
    except Exception as exc:  # the history's ARNs are still cleaned up
        console.print(f"  could not look the job and capacity up by name: {exc}")
    result = clean(state, where.bedrock, where.region)
    for label, key in (("cleaned up", "cleaned"), ("NOT cleaned up", "notCleaned"), ("kept", "kept")):
        for item in result.get(key) or []:
            console.print(f"  {label}: {item}")
    if not (result.get("cleaned") or result.get("notCleaned")):
        console.print("  nothing to clean up: no job or evaluation capacity had been created")
    if in_flight:
        console.print(
            f"  a task was running when the run stopped ({current.state}): what it creates after now is in no history; "
            f"run `fmgw customize stop {current.name}` again in a minute to clean that up by name"
        )
    if result.get("notCleaned"):
        raise typer.Exit(1)
