"""Which gateway a client command talks to: ``--url`` / ``--key``, else ``FMGW_URL`` / ``FMGW_API_KEY``, else local mode.

Local mode's address and key are defined here rather than imported: ``local.environment`` puts ``lambdas/`` on
``sys.path`` and imports the local API Gateway, moto and the simulator when imported, too much for a client
command. ``tests/unit/test_fmgw_cli.py`` checks that the two agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import typer

# `make local` (`python -m local`): its --port default (local/__main__.py, FMGW_PORT unset) on 127.0.0.1
LOCAL_URL = "http://127.0.0.1:8080"
# the key local mode creates for the first usage plan of config/gateway.json (local/environment.py default_keys:
# fmgw-local-<plan>-key), unless FMGW_LOCAL_API_KEY replaces it, in which case that value is the key
LOCAL_API_KEY = "fmgw-local-standard-key"

URL_ENV = "FMGW_URL"
KEY_ENV = "FMGW_API_KEY"
LOCAL_KEY_ENV = "FMGW_LOCAL_API_KEY"


@dataclass(frozen=True)
class Target:
    url: str
    key: str


def resolve(url: str | None, key: str | None, environ: Mapping[str, str] | None = None) -> Target:
    """The flag, else the environment variable, else local mode's address and key."""
    env = os.environ if environ is None else environ
    return Target(
        url=(url or env.get(URL_ENV) or LOCAL_URL).rstrip("/"),
        key=key or env.get(KEY_ENV) or env.get(LOCAL_KEY_ENV) or LOCAL_API_KEY,
    )


UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=f"Gateway URL; default: ${URL_ENV}, else local mode's {LOCAL_URL} (make local).",
        show_default=False,
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help=f"API key; default: ${KEY_ENV}, else local mode's key (${LOCAL_KEY_ENV}, else {LOCAL_API_KEY}).",
        show_default=False,
    ),
]
