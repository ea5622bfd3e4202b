"""``fmgw jobs submit|status|wait|cancel|run``.

``run`` is the one-shot: submit prompts or a JSONL file, show a progress bar, write results JSONL, exit 0 when
every job succeeded. The others act on one step or one job, for scripts. Exit codes (every command): 0 success,
1 a job failed or was cancelled or the gateway refused the request (4xx), 2 a usage error or an unreachable
gateway (or a 5xx), 3 polling timed out.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fmgw.jobs import client as jobs
from fmgw.jobs.client import JobsClient
from fmgw.target import KeyOption, UrlOption, resolve

app = typer.Typer(name="jobs", help="Async jobs: submit prompts, watch them, collect the results.", no_args_is_help=True)


class Tier(StrEnum):
    simple = "simple"
    medium = "medium"
    complex = "complex"


PromptOption = Annotated[list[str] | None, typer.Option("--prompt", help="A prompt; repeat for several.", show_default=False)]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        exists=True,
        dir_okay=False,
        help='JSONL: one {"prompt": ..., "metadata": ...} or POST /v1/chat body per line.',
        show_default=False,
    ),
]
TierOption = Annotated[Tier | None, typer.Option("--tier", help="Tier for items that name none.", show_default=False)]
ModelOption = Annotated[str | None, typer.Option("--model", help="Model for items that name none.", show_default=False)]
KeyPrefixOption = Annotated[str, typer.Option("--key-prefix", help="Change it to run the same prompts again as new jobs.")]
OutOption = Annotated[Path | None, typer.Option("--out", help="Results JSONL; default: standard output.", show_default=False)]
PollOption = Annotated[float, typer.Option("--poll-interval", min=0.05, help="Seconds between status checks.")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0, help="Seconds to wait before giving up (exit code 3).")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress display.")]
JobIdArgument = Annotated[str, typer.Argument(help="A job id, as submit prints it.", show_default=False)]

_stderr = Console(stderr=True)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@contextmanager
def _gateway(url: str | None, key: str | None) -> Iterator[JobsClient]:
    """A client for the resolved gateway; usage, HTTP and gateway errors become a message and an exit code."""
    target = resolve(url, key)
    try:
        with JobsClient(target) as gateway:
            yield gateway
    except jobs.UsageError as err:
        raise _fail(str(err), jobs.UNUSABLE) from None
    except jobs.GatewayError as err:
        raise _fail(str(err), err.exit_code) from None
    except httpx.HTTPError as err:
        raise _fail(f"cannot reach the gateway at {target.url}: {err}", jobs.UNUSABLE) from None


@contextmanager
def _output(out: Path | None) -> Iterator[TextIO]:
    if out is None:
        yield sys.stdout
        return
    with out.open("w") as stream:
        yield stream


def _bodies(prompt: list[str] | None, file: Path | None, tier: Tier | None, model: str | None) -> list[dict[str, Any]]:
    try:
        return jobs.bodies(jobs.read_items(file, prompt or []), tier.value if tier else None, model)
    except jobs.UsageError as err:
        raise _fail(str(err), jobs.UNUSABLE) from None


@app.command()
def submit(
    prompt: PromptOption = None,
    file: FileOption = None,
    tier: TierOption = None,
    model: ModelOption = None,
    key_prefix: KeyPrefixOption = "",
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Submit prompts as jobs and print their ids, one a line (the same ids again for the same input)."""
    bodies = _bodies(prompt, file, tier, model)
    with _gateway(url, key) as gateway:
        for body in bodies:
            typer.echo(gateway.submit(body, jobs.idempotency_key(body, key_prefix))["jobId"])


@app.command()
def status(job_id: JobIdArgument, url: UrlOption = None, key: KeyOption = None) -> None:
    """Print a job as GET /v1/jobs/{id} returns it (status, attempts, result or resultUrl, error, metadata)."""
    with _gateway(url, key) as gateway:
        typer.echo(json.dumps(gateway.status(job_id), indent=2))


@app.command()
def cancel(job_id: JobIdArgument, url: UrlOption = None, key: KeyOption = None) -> None:
    """Cancel a job that has not started yet (a started one cannot be: exit code 1)."""
    with _gateway(url, key) as gateway:
        typer.echo(json.dumps(gateway.cancel(job_id), indent=2))


@app.command()
def wait(
    job_id: JobIdArgument,
    out: OutOption = None,
    poll_interval: PollOption = 1.0,
    timeout: TimeoutOption = 900,
    quiet: QuietOption = False,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Wait until a job has finished, then print its result record (exit code 0 only if it succeeded)."""
    with _gateway(url, key) as gateway:
        columns = (SpinnerColumn(), TextColumn("{task.description}: {task.fields[status]}"), TimeElapsedColumn())
        with Progress(*columns, console=_stderr, disable=quiet, transient=True) as progress:
            task = progress.add_task(f"job {job_id}", total=None, status="")
            views, finished = _poll(
                gateway, [job_id], poll_interval, timeout, lambda states: _show_one(progress, task, states[job_id])
            )
        if not finished:
            raise _fail(f"timed out after {timeout:g} s: job {job_id} is {views[job_id]['status']}", jobs.TIMED_OUT)
        view = views[job_id]
        with _output(out) as stream:
            stream.write(json.dumps(jobs.record(view, gateway.result(view))) + "\n")
    if view["status"] != "SUCCEEDED":
        raise typer.Exit(jobs.FAILED)


def _show_one(progress: Progress, task: Any, view: dict[str, Any]) -> None:
    progress.update(task, status=view["status"])


@app.command()
def run(
    prompt: PromptOption = None,
    file: FileOption = None,
    tier: TierOption = None,
    model: ModelOption = None,
    out: OutOption = None,
    poll_interval: PollOption = 1.0,
    timeout: TimeoutOption = 900,
    key_prefix: KeyPrefixOption = "",
    quiet: QuietOption = False,
    url: UrlOption = None,
    key: KeyOption = None,
) -> None:
    """Submit prompts, wait for every job with a progress bar, write one result line per job (in input order).

    Running the same input again picks up the same jobs (idempotency keys) instead of running them twice.
    """
    bodies = _bodies(prompt, file, tier, model)
    with _gateway(url, key) as gateway:
        ids = [gateway.submit(body, jobs.idempotency_key(body, key_prefix))["jobId"] for body in bodies]
        columns = (
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} done, {task.fields[failed]} failed"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=_stderr, disable=quiet) as progress:
            task = progress.add_task("jobs", total=len(ids), failed=0)
            views, finished = _poll(gateway, ids, poll_interval, timeout, lambda states: _show_all(progress, task, states))
        if not finished:
            unfinished = sum(1 for view in views.values() if view["status"] not in jobs.TERMINAL)
            raise _fail(f"timed out after {timeout:g} s with {unfinished} jobs unfinished", jobs.TIMED_OUT)
        with _output(out) as stream:
            for job_id, body in zip(ids, bodies, strict=True):
                view = views[job_id]
                stream.write(json.dumps(jobs.record(view, gateway.result(view), body)) + "\n")
    unsuccessful = [job_id for job_id in ids if views[job_id]["status"] != "SUCCEEDED"]
    typer.echo(f"{len(ids) - len(unsuccessful)} succeeded, {len(unsuccessful)} failed", err=True)
    if unsuccessful:
        raise typer.Exit(jobs.FAILED)


def _show_all(progress: Progress, task: Any, states: dict[str, dict[str, Any]]) -> None:
    done = sum(1 for view in states.values() if view["status"] in jobs.TERMINAL)
    failed = sum(1 for view in states.values() if view["status"] in jobs.UNSUCCESSFUL)
    progress.update(task, completed=done, failed=failed)


def _poll(
    gateway: JobsClient,
    ids: list[str],
    interval: float,
    timeout: float,
    show: Callable[[dict[str, dict[str, Any]]], None],
) -> tuple[dict[str, dict[str, Any]], bool]:
    """Every job's latest view, and whether all have finished (False: ``timeout`` seconds passed first)."""
    deadline = time.monotonic() + timeout
    states: dict[str, dict[str, Any]] = {}
    while True:
        for job_id in ids:
            if states.get(job_id, {}).get("status") not in jobs.TERMINAL:
                states[job_id] = gateway.status(job_id)
        show(states)
        if all(view["status"] in jobs.TERMINAL for view in states.values()):
            return states, True
        if time.monotonic() > deadline:
            return states, False
        time.sleep(interval)
