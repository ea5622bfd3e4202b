"""The ``Deployer`` (``fmgateway.lifecycle.deployer``) over AWS AppConfig: the configuration in force is the latest
hosted configuration version; a change is a new hosted version created with ``LatestVersionNumber`` (AppConfig refuses
it with a ConflictException when someone created another version meanwhile), then a deployment with the
environment's strategy, polled until it completes or rolls back. A deployment already in progress is a conflict too:
reported, never overwritten (AppConfig runs one deployment per environment at a time)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import botocore.exceptions

from fmgateway.lifecycle.deployer import Conflict, Deployment, DeploymentFailed, checked

CONTENT_TYPE = "application/json"
FINAL = {"COMPLETE", "ROLLED_BACK", "REVERTED"}


class AppConfigTarget(NamedTuple):
    application: str  # ids, as the stack outputs them
    environment: str
    profile: str
    strategy: str


class AppConfigDeployer:
    def __init__(
        self,
        client: Any,
        target: AppConfigTarget,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client, self.target = client, target
        self.poll_seconds, self.timeout_seconds, self._sleep = poll_seconds, timeout_seconds, sleep

    def current(self) -> tuple[dict[str, Any], str]:
        target = self.target
        versions = self.client.list_hosted_configuration_versions(
            ApplicationId=target.application, ConfigurationProfileId=target.profile, MaxResults=1
        )["Items"]
        if not versions:
            raise DeploymentFailed("the configuration profile has no hosted version yet: deploy the stack first")
        number = versions[0]["VersionNumber"]
        version = self.client.get_hosted_configuration_version(
            ApplicationId=target.application, ConfigurationProfileId=target.profile, VersionNumber=number
        )
        return json.loads(version["Content"].read()), str(number)

    def deploy(self, doc: dict[str, Any], based_on: str, description: str) -> Deployment:
        target = self.target
        content = json.dumps(checked(doc), indent=2).encode()
        try:
            created = self.client.create_hosted_configuration_version(
                ApplicationId=target.application,
                ConfigurationProfileId=target.profile,
                Content=content,
                ContentType=CONTENT_TYPE,
                Description=description[:1024],
                LatestVersionNumber=int(based_on),
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "ConflictException":
                raise Conflict(f"another configuration version was created after version {based_on}: read it again") from None
            raise
        version = str(created["VersionNumber"])
        try:
            started = self.client.start_deployment(
                ApplicationId=target.application,
                EnvironmentId=target.environment,
                DeploymentStrategyId=target.strategy,
                ConfigurationProfileId=target.profile,
                ConfigurationVersion=version,
                Description=description[:1024],
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "ConflictException":
                raise Conflict(
                    f"a deployment is in progress in environment {target.environment}: version {version} was created "
                    "but not deployed; deploy it once that one ends"
                ) from None
            raise
        return self._wait(started["DeploymentNumber"], version)

    def _wait(self, number: int, version: str) -> Deployment:
        waited = 0.0
        while True:
            deployment = self.client.get_deployment(
                ApplicationId=self.target.application, EnvironmentId=self.target.environment, DeploymentNumber=number
            )
            state = deployment["State"]
            if state in FINAL:
                if state != "COMPLETE":
                    raise DeploymentFailed(f"deployment {number} of version {version} ended {state} (an alarm rolled it back)")
                return Deployment(version, state, f"deployment {number}")
            if waited >= self.timeout_seconds:
                raise DeploymentFailed(f"deployment {number} of version {version} still {state} after {waited:.0f} s")
            self._sleep(self.poll_seconds)
            waited += self.poll_seconds
