"""Context flags of Bedrock model invocation logging (README "Invocation logging"; the resources are
``infra/constructs/invocation_logging.py``):

- ``invocationLogging`` (false): turn on invocation logging for the account and region, into an S3 bucket of the stack;
- ``invocationLogsExpireDays`` (90): days a log object is kept (then it expires, old versions too);
- ``invocationLogsCloudWatch`` (false): also deliver the records to a KMS-encrypted CloudWatch Logs group;
- ``invocationLoggingReplace`` (false): replace a configuration already in place that delivers somewhere else (without
  it, the deploy fails and names that configuration).

The last three need ``invocationLogging=true``: set without it, they are refused rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.context_values import ConfigError, as_bool, positive_days

DEFAULTS: dict[str, Any] = {
    "invocationLogging": False,
    "invocationLoggingReplace": False,
    "invocationLogsCloudWatch": False,
    "invocationLogsExpireDays": 90,
}
CONTEXT_KEYS = tuple(DEFAULTS)
OPTIONS = ("invocationLoggingReplace", "invocationLogsCloudWatch", "invocationLogsExpireDays")


@dataclass(frozen=True)
class InvocationLoggingSettings:
    """How long the S3 log objects live, whether a CloudWatch Logs group gets the records too, and whether a
    configuration found in place may be replaced."""

    expire_days: int = DEFAULTS["invocationLogsExpireDays"]
    cloudwatch: bool = False
    replace: bool = False


def invocation_logging_settings(context: Mapping[str, Any]) -> InvocationLoggingSettings | None:
    """The settings from CDK context values, or None when ``invocationLogging`` is off (the default)."""

    def get(key: str) -> Any:
        value = context.get(key)
        return DEFAULTS[key] if value is None else value

    if not as_bool(get("invocationLogging"), "invocationLogging"):
        stray = [
            key
            for key in OPTIONS
            if context.get(key) is not None
            # an explicit false is harmless; a number of days is not
            and (key == "invocationLogsExpireDays" or as_bool(context[key], key))
        ]
        if stray:
            raise ConfigError(
                f"context {', '.join(repr(key) for key in stray)}: only applies with invocationLogging=true (invocation "
                "logging is off); add -c invocationLogging=true or drop the option"
            )
        return None
    return InvocationLoggingSettings(
        expire_days=positive_days(get("invocationLogsExpireDays"), "invocationLogsExpireDays"),
        cloudwatch=as_bool(get("invocationLogsCloudWatch"), "invocationLogsCloudWatch"),
        replace=as_bool(get("invocationLoggingReplace"), "invocationLoggingReplace"),
    )
