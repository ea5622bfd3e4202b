"""Where the customization workflow runs: its state machine (``--state-machine``, else
``FMGW_CUSTOMIZATION_STATE_MACHINE``, else the one local mode records in its state file), its bucket, and the boto3
clients that reach them.

Local mode's machine lives in its embedded moto server and its Bedrock control plane is the simulator: both addresses
come from local mode's state file (``fmgw.datasets.sources.local_state_file``, the same file ``fmgw datasets`` reads),
and no real credentials are ever sent to them. Any other machine is AWS's, reached with boto3's own credentials and
endpoints in the machine's region.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from fmgw.datasets.sources import local_state_file

STATE_MACHINE_ENV = "FMGW_CUSTOMIZATION_STATE_MACHINE"
BUCKET_ENV = "FMGW_CUSTOMIZATION_BUCKET"
# the local state file's key (local/environment.py writes it): {"stateMachineArn", "bucket", "topicArn"}
LOCAL_KEY = "customization"
_LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class WhereError(ValueError):
    """No state machine, or no bucket where one is needed (the message says what to pass)."""


def local_state() -> dict[str, Any] | None:
    """What a running local mode wrote about itself, or None."""
    path = local_state_file()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def region_of(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[3]:
        raise WhereError(f"{arn!r} is not a regional ARN")
    return parts[3]


@dataclass(frozen=True)
class Where:
    state_machine_arn: str
    bucket: str | None
    local: dict[str, Any] | None  # local mode's state when the machine is local mode's

    @property
    def region(self) -> str:
        return region_of(self.state_machine_arn)

    def execution_arn(self, run: str) -> str:
        """A run's ARN from its execution name (an ARN is returned as it is)."""
        if run.startswith("arn:"):
            return run
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + run

    def _local_url(self, key: str) -> str | None:
        """motoUrl or simulatorUrl of local mode, when the machine is local mode's."""
        return (self.local or {}).get(key) or None

    def _client(self, service: str, endpoint: str | None, region: str) -> Any:
        import boto3

        if self.local is not None and endpoint:  # moto and the simulator take any credentials: never send real ones
            return boto3.client(service, endpoint_url=endpoint, region_name=region, **_LOCAL_CREDENTIALS)
        return boto3.client(service, region_name=region)

    def sfn(self) -> Any:
        return self._client("stepfunctions", self._local_url("motoUrl"), self.region)

    def s3(self) -> Any:
        return self._client("s3", self._local_url("motoUrl"), self.region)

    def bedrock(self, region: str | None = None) -> Any:
        """The Bedrock control plane where a run's job and capacity live (local mode: the simulator)."""
        return self._client("bedrock", self._local_url("simulatorUrl"), region or self.region)

    def need_bucket(self) -> str:
        if not self.bucket:
            raise WhereError(
                f"no customization bucket to upload to: pass --bucket (the stack output CustomizationBucketName) or set "
                f"{BUCKET_ENV}, or give s3:// URIs in the spec"
            )
        return self.bucket


def resolve(state_machine: str | None, bucket: str | None = None, environ: dict[str, str] | None = None) -> Where:
    """The flag, else the environment variable, else local mode's machine; WhereError when there is none."""
    env = os.environ if environ is None else environ
    state = local_state()
    recorded = (state or {}).get(LOCAL_KEY) or {}
    arn = state_machine or env.get(STATE_MACHINE_ENV) or recorded.get("stateMachineArn")
    if not arn:
        if state is not None:
            raise WhereError(
                f"local mode is running ({local_state_file()}) but without the customization workflow (it needs its "
                f"embedded moto server: FMGW_MOTO_URL unset); or pass --state-machine ARN / set {STATE_MACHINE_ENV}"
            )
        raise WhereError(
            f"no customization state machine: pass --state-machine ARN (the stack output CustomizationStateMachineArn), "
            f"set {STATE_MACHINE_ENV}, or start local mode (make local)"
        )
    if ":stateMachine:" not in arn:
        raise WhereError(f"{arn!r} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)")
    region_of(arn)
    local = state if state is not None and arn == recorded.get("stateMachineArn") else None
    chosen_bucket = bucket or env.get(BUCKET_ENV) or (recorded.get("bucket") if local is not None else None)
    return Where(arn, chosen_bucket, local)
