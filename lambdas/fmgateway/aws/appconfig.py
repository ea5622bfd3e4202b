"""The gateway configuration from AWS AppConfig, read through Powertools parameters (cached in memory, so changes go
live within ``APPCONFIG_MAX_AGE`` seconds with no per-request AppConfig call)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from fmgateway.config.gateway_config import APPCONFIG_MAX_AGE, ConfigSource, FileConfigSource, GatewayConfig, parse_config
from fmgateway.values.backends import Allowed
from fmgateway.values.errors import ConfigError, Unavailable


class AppConfigSource:
    """AppConfig through Powertools parameters; an invalid new version keeps the last good one."""

    def __init__(
        self, application: str, environment: str, profile: str, max_age: int = APPCONFIG_MAX_AGE, allowed: Allowed = Allowed()
    ):
        self.application, self.environment, self.profile, self.max_age = application, environment, profile, max_age
        self.allowed = allowed
        self._raw: Any = None
        self._config: GatewayConfig | None = None

    def get(self) -> GatewayConfig:
        from aws_lambda_powertools.utilities import parameters  # deferred: not needed until the first request

        try:
            raw = parameters.get_app_config(
                name=self.profile,
                environment=self.environment,
                application=self.application,
                transform="json",
                max_age=self.max_age,
            )
        except Exception as exc:  # AppConfig unreachable or throttled, or a document that is not JSON
            from aws_lambda_powertools import Logger

            if self._config is not None:  # a stale configuration answers better than none
                Logger(child=True).warning("AppConfig read failed; keeping the last good configuration", exc_info=exc)
                return self._config
            raise Unavailable("the gateway configuration could not be read; retry shortly", retry_after=5) from exc
        if raw is self._raw and self._config is not None:
            return self._config
        try:
            config = parse_config(raw, self.allowed)
        except ConfigError:
            if self._config is None:
                raise
            from aws_lambda_powertools import Logger

            Logger(child=True).exception("ignoring invalid configuration from AppConfig; keeping last good one")
            self._raw = raw
            return self._config
        self._raw, self._config = raw, config
        return config


BACKEND_ACCESS_ENV = "FMGW_BACKEND_ACCESS"


def allowed_backends(variables: Mapping[str, str]) -> Allowed:
    """What the deployment's IAM lets it invoke, as CDK passes it (``{"region", "account", "endpointPrefix"}``)."""
    raw = variables.get(BACKEND_ACCESS_ENV)
    if not raw:
        return Allowed()
    try:
        access = json.loads(raw)
        return Allowed(access.get("region"), access.get("account"), access.get("endpointPrefix"))
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{BACKEND_ACCESS_ENV}: a JSON object of region, account and endpointPrefix ({exc})") from None


def source_from_env(env: Mapping[str, str] | None = None) -> ConfigSource:
    variables: Mapping[str, str] = os.environ if env is None else env
    allowed = allowed_backends(variables)
    if path := variables.get("FMGW_CONFIG_FILE"):
        return FileConfigSource(path, allowed=allowed)
    try:
        application, environment, profile = (
            variables[name] for name in ("FMGW_APPCONFIG_APPLICATION", "FMGW_APPCONFIG_ENVIRONMENT", "FMGW_APPCONFIG_PROFILE")
        )
        return AppConfigSource(application, environment, profile, allowed=allowed)
    except KeyError as missing:
        raise ConfigError(f"set FMGW_CONFIG_FILE or {missing.args[0]} to locate the gateway configuration") from None
