"""The CloudFormation custom resource behind ``-c invocationLogging=true``: Bedrock model invocation logging, one setting
per account and region (``infra/constructs/invocation_logging.py`` builds the resource, README "Invocation logging").

Properties: ``LoggingConfig`` (the ``PutModelInvocationLoggingConfiguration`` request's ``loggingConfig``: this
stack's bucket, optionally its log group and delivery role, the delivery flags) and ``Replace`` ("true"/"false").

- **Create** reads the configuration in place. None, or one that already delivers to this stack's bucket: it puts
  its own. One that delivers elsewhere: FAILED, naming it, unless ``Replace`` is "true"; then it is recorded and
  replaced.
- **Update** puts the new configuration, after the same check (this stack's bucket: the new or the old one).
- **Delete** puts back the configuration recorded on create, or deletes the setting when there was none; only while
  the configuration in place is still this stack's (one that someone replaced since is left alone). If Bedrock refuses
  the recorded one (its bucket or role is gone), the setting is deleted and the reason logged: the stack's bucket is
  not left as the destination of an account-wide setting.

Where the previous configuration is kept: in the PhysicalResourceId, which CloudFormation hands back on every update
and delete (``Data`` is never handed back, and a copy in S3 or SSM would need grants beyond the three logging
actions). It is compressed JSON in base64url; a physical id holds at most 1 KB, so a configuration that does not fit
is refused on create rather than lost on delete. Update keeps the id (a new one would make CloudFormation delete the
"old" resource, that is, restore the previous setting). A create that fails answers ``UNCHANGED``, so the delete
CloudFormation sends while rolling back changes nothing.

The answer is a JSON document PUT to the event's pre-signed ``ResponseURL`` with ``urllib``, not a library:
``cfnresponse`` exists only for functions whose code is inline in the template, crhelper would be the only third-party
package in the bundle (boto3 comes with the runtime, Powertools with its layer, neither answers custom resources), and
the protocol is one PUT with an empty Content-Type (the URL's signature covers none). Every error, including a client
that cannot be built, is answered FAILED with its reason: CloudFormation is never left waiting for the timeout.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger("fmgateway.invocation_logging")

PREFIX = "fmgw-invocation-logging"
UNCHANGED = f"{PREFIX}:unchanged"  # create failed: nothing was changed, delete has nothing to undo
NOTHING_BEFORE = f"{PREFIX}:none"  # nothing was configured before: delete removes the setting
PREVIOUS = f"{PREFIX}:previous:"  # + the recorded configuration: delete puts it back
MAX_PHYSICAL_ID = 1024  # bytes (CloudFormation's limit)
MAX_REASON = 2000  # characters: the whole answer must stay under 4,096 bytes
SEND_ATTEMPTS = 3
SEND_TIMEOUT_SECONDS = 10

Sender = Callable[[str, Mapping[str, Any]], None]


class ResourceFailure(Exception):
    """Answered FAILED with this message as the Reason CloudFormation shows in the stack events."""


# ---- configurations ------------------------------------------------------------------------------------------------


def has_destination(config: Mapping[str, Any] | None) -> bool:
    return bool(config) and bool(config.get("s3Config") or config.get("cloudWatchConfig"))  # type: ignore[union-attr]


def s3_bucket(config: Mapping[str, Any] | None) -> str | None:
    return ((config or {}).get("s3Config") or {}).get("bucketName")


def describe(config: Mapping[str, Any]) -> str:
    """Where a configuration delivers, for messages: ``s3://bucket/prefix`` and/or the CloudWatch Logs group."""
    parts = []
    s3 = config.get("s3Config") or {}
    if s3:
        parts.append(f"s3://{s3.get('bucketName', '?')}/{s3.get('keyPrefix', '')}")
    cloudwatch = config.get("cloudWatchConfig") or {}
    if cloudwatch:
        parts.append(f"CloudWatch Logs group {cloudwatch.get('logGroupName', '?')} (role {cloudwatch.get('roleArn', '?')})")
    return " and ".join(parts) or "no destination"


def encode_previous(config: Mapping[str, Any] | None) -> str:
    """The physical id that records ``config`` (or that nothing was configured) for delete."""
    if not has_destination(config):
        return NOTHING_BEFORE
    packed = zlib.compress(json.dumps(config, sort_keys=True, separators=(",", ":")).encode(), 9)
    physical_id = PREVIOUS + base64.urlsafe_b64encode(packed).decode().rstrip("=")
    if len(physical_id.encode()) > MAX_PHYSICAL_ID:
        raise ResourceFailure(
            f"the invocation logging configuration in place ({describe(config or {})}) is too large to be recorded for its "
            f"restore when the stack is deleted ({len(physical_id)} bytes of the {MAX_PHYSICAL_ID} a CloudFormation "
            "physical id holds): remove it first (aws bedrock delete-model-invocation-logging-configuration) and deploy again"
        )
    return physical_id


def decode_previous(physical_id: str) -> dict[str, Any] | None:
    """The configuration recorded in ``physical_id``; None when nothing was configured before."""
    if not physical_id.startswith(PREVIOUS):
        return None
    payload = physical_id[len(PREVIOUS) :]
    return json.loads(zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _flags(value: Any) -> Any:
    """CloudFormation hands every property value to the function as a string: "true"/"false" back to booleans."""
    if isinstance(value, Mapping):
        return {key: _flags(item) for key, item in value.items()}
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return value


def known_members(client: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without the top-level fields this botocore does not know (Lambda's runtime may ship an older one than
    the one the stack was written against: a delivery flag it cannot send is left out, and logged)."""
    try:
        members = set(client.meta.service_model.shape_for("LoggingConfig").members)
    except Exception:  # a client without a model (a test double) sends everything
        return dict(config)
    unknown = sorted(set(config) - members)
    if unknown:
        logger.warning("left out of the logging configuration (unknown to this botocore): %s", ", ".join(unknown))
    return {key: value for key, value in config.items() if key in members}


# ---- the resource ---------------------------------------------------------------------------------------------------


class InvocationLoggingResource:
    """Create, update and delete of the setting through a boto3 ``bedrock`` client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def region(self) -> str:
        return str(getattr(getattr(self.client, "meta", None), "region_name", None) or "this region")

    def current(self) -> dict[str, Any] | None:
        config = self.client.get_model_invocation_logging_configuration().get("loggingConfig")
        return config if has_destination(config) else None

    def put(self, config: Mapping[str, Any]) -> None:
        self.client.put_model_invocation_logging_configuration(loggingConfig=known_members(self.client, config))

    def _refuse_foreign(self, current: Mapping[str, Any] | None, ours: set[str], replace: bool) -> bool:
        """True when ``current`` delivers somewhere else and ``replace`` allows replacing it; ResourceFailure without."""
        if current is None or s3_bucket(current) in ours:
            return False
        if not replace:
            raise ResourceFailure(
                f"Bedrock model invocation logging is already configured for this account in {self.region}: it delivers to "
                f"{describe(current)}. The setting is one per account and region; deploy with "
                "-c invocationLoggingReplace=true to replace it (the stack puts it back when it is deleted), or remove it "
                f"first (aws bedrock delete-model-invocation-logging-configuration --region {self.region})"
            )
        return True

    def create(self, properties: Mapping[str, Any]) -> str:
        config, replace = _desired(properties)
        current = self.current()
        foreign = self._refuse_foreign(current, {s3_bucket(config)} - {None}, replace)  # type: ignore[arg-type]
        # Already ours (a retried create): there was nothing of anyone else's before.
        physical_id = encode_previous(current if foreign else None)
        if foreign:
            logger.warning("replacing the invocation logging configuration in place: %s", describe(current or {}))
        self.put(config)
        return physical_id

    def update(self, physical_id: str, properties: Mapping[str, Any], old_properties: Mapping[str, Any]) -> str:
        config, replace = _desired(properties)
        old_config, _ = _desired(old_properties)
        ours = {s3_bucket(config), s3_bucket(old_config)} - {None}
        if self._refuse_foreign(self.current(), ours, replace):  # type: ignore[arg-type]
            logger.warning("replacing an invocation logging configuration set outside this stack")
        self.put(config)
        return physical_id

    def delete(self, physical_id: str, properties: Mapping[str, Any]) -> None:
        if not physical_id.startswith(PREFIX) or physical_id == UNCHANGED:
            logger.info("nothing to undo: the setting was never made by this resource")
            return
        config, _ = _desired(properties)
        current = self.current()
        if current is None or s3_bucket(current) != s3_bucket(config):
            logger.warning("left alone: the configuration in place is not this stack's (%s)", describe(current or {}))
            return
        previous = decode_previous(physical_id)
        if previous is None:
            self.client.delete_model_invocation_logging_configuration()
            return
        try:
            self.put(previous)
        except Exception as err:  # the recorded destination is gone or refused: do not leave ours behind
            logger.error("could not put the previous configuration (%s) back: %s; deleting the setting", describe(previous), err)
            self.client.delete_model_invocation_logging_configuration()


def _desired(properties: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    config = _flags(dict(properties.get("LoggingConfig") or {}))
    if not s3_bucket(config):
        raise ResourceFailure("the resource's LoggingConfig has no s3Config.bucketName")
    return config, str(properties.get("Replace", "false")).lower() == "true"


# ---- CloudFormation ------------------------------------------------------------------------------------------------


def send_response(url: str, body: Mapping[str, Any]) -> None:
    """PUT ``body`` to the pre-signed ``url`` (with an empty Content-Type, which the signature expects); a few tries."""
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise ValueError("ResponseURL is not an http(s) URL")
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(data))})
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:
                response.read()
                return
        except (urllib.error.URLError, OSError):
            if attempt == SEND_ATTEMPTS:
                raise
            time.sleep(attempt)


def answer(event: Mapping[str, Any], status: str, physical_id: str, reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Status": status,
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "NoEcho": False,
        "Data": {},
    }
    if reason:
        body["Reason"] = reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "..."
    return body


def handle(event: Mapping[str, Any], client_factory: Callable[[], Any], send: Sender = send_response) -> dict[str, Any]:
    """Run one custom-resource request and answer it; returns the answer sent. Never raises."""
    request_type = event.get("RequestType")
    physical_id = event.get("PhysicalResourceId") or UNCHANGED
    logger.info("custom resource request: %s of %s", request_type, event.get("LogicalResourceId"))
    try:
        resource = InvocationLoggingResource(client_factory())
        properties = event.get("ResourceProperties") or {}
        if request_type == "Create":
            physical_id = UNCHANGED  # until the setting is made
            physical_id = resource.create(properties)
        elif request_type == "Update":
            physical_id = resource.update(physical_id, properties, event.get("OldResourceProperties") or {})
        elif request_type == "Delete":
            resource.delete(physical_id, properties)
        else:
            raise ResourceFailure(f"unknown RequestType {request_type!r}")
        body = answer(event, "SUCCESS", physical_id)
    except ResourceFailure as err:
        logger.error("refused: %s", err)
        body = answer(event, "FAILED", physical_id, str(err))
    except Exception as err:  # every error is CloudFormation's to show, never a hang
        logger.exception("failed")
        body = answer(event, "FAILED", physical_id, f"{type(err).__name__}: {err}")
    try:
        send(str(event.get("ResponseURL", "")), body)
    except Exception:  # nothing else can reach CloudFormation: it fails the resource at its timeout
        logger.exception("could not answer CloudFormation (status %s)", body["Status"])
    return body
