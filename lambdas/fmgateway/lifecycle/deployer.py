"""Changing the live configuration safely (issues 23 and 25): a ``Deployer`` reads the configuration in force with a
version token, and deploys a changed document only if nobody changed it since (a conflict is reported, never
overwritten). Adapters: a local file (what local mode reloads: ``FileDeployer`` here) and AWS AppConfig (a hosted
configuration version with the latest-version lock, then a deployment, polled: ``fmgateway.aws.appconfig_deployer``).

Every document is checked to load (``parse_config``) before it is deployed: a change that would be refused at load
never reaches the functions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from fmgateway.config.gateway_config import parse_config


class Deployment(NamedTuple):
    version: str  # the new version's token (a file's hash, an AppConfig version number)
    state: str  # COMPLETE, ROLLED_BACK, ...
    detail: str = ""


class Conflict(Exception):
    """Someone else changed the configuration, or a deployment is in progress: nothing was overwritten."""


class DeploymentFailed(Exception):
    """The deployment did not complete (rolled back by an alarm, or stopped)."""


class Deployer(Protocol):
    def current(self) -> tuple[dict[str, Any], str]:
        """The configuration in force and its version token."""
        ...

    def deploy(self, doc: dict[str, Any], based_on: str, description: str) -> Deployment:
        """Deploy ``doc`` if the configuration is still at ``based_on``; Conflict otherwise."""
        ...


def checked(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` if it loads (ConfigError names the first bad field)."""
    parse_config(doc)
    return doc


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class FileDeployer:
    """The configuration file local mode reads (it reloads a changed file within a second)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def current(self) -> tuple[dict[str, Any], str]:
        data = self.path.read_bytes()
        return json.loads(data), digest(data)

    def deploy(self, doc: dict[str, Any], based_on: str, description: str) -> Deployment:
        if digest(self.path.read_bytes()) != based_on:
            raise Conflict(f"{self.path} changed since it was read: read it again and redo the change")
        data = (json.dumps(checked(doc), indent=2) + "\n").encode()
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, self.path)  # atomic: local mode never reads half a file
        return Deployment(digest(data), "COMPLETE", description)
