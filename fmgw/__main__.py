"""``fmgw`` (installed by ``make install``) or ``python -m fmgw``: the command tree."""

from __future__ import annotations

import typer

from fmgw.customize.commands import app as customize
from fmgw.datasets.commands import app as datasets
from fmgw.jobs.commands import app as jobs
from fmgw.models.commands import app as models
from fmgw.route.commands import app as route

app = typer.Typer(
    name="fmgw",
    help="FM Gateway client and operator commands.",
    no_args_is_help=True,
    # a traceback's local variables would print the API key
    pretty_exceptions_show_locals=False,
)
app.add_typer(jobs)
app.add_typer(route)
app.add_typer(models)
app.add_typer(datasets)
app.add_typer(customize)

if __name__ == "__main__":
    app()
