"""What a CDK context value may be, and the error a bad one raises: shared by ``infra.settings`` and the settings
modules it composes (``infra.invocation_logging_settings``). ``-c key=value`` always arrives as a string, cdk.json
values as JSON types: both are accepted."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """The gateway configuration or the CDK context cannot produce a valid stack."""


def as_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(f"context '{key}' must be true or false, got {value!r}")


def positive_days(value: Any, key: str) -> int:
    """A whole number of days, at least 1 (``90`` or ``"90"``)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"context '{key}' must be a whole number of days, at least 1, got {value!r}")
    return value
