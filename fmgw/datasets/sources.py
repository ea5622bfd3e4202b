"""Where ``fmgw datasets`` reads and writes: a local folder, or an ``s3://`` URI (local mode's bucket included).

boto3 honours ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` itself. Local mode's bucket lives in its embedded moto
server, on a port chosen at start: ``make local`` writes the port to ``local_state_file()`` (local/environment.py's
``STATE_FILE``; tests/unit/test_fmgw_datasets.py checks that the two agree), so ``s3://fmgw-local-invocation-logs/...``
works with no setting while local mode runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fmgateway.aws.log_objects import S3Objects, split_uri
from fmgateway.lifecycle.invocation_logs import FolderObjects, LogObjects, folder_source

LOCAL_LOGS_BUCKET = "fmgw-local-invocation-logs"
STATE_FILE_ENV = "FMGW_LOCAL_STATE_FILE"


def local_state_file() -> Path:
    return Path(os.environ.get(STATE_FILE_ENV) or Path(tempfile.gettempdir()) / "fmgw-local.json")


class SourceError(ValueError):
    """A source or destination that cannot be used (the message says why and what to do)."""


def s3_client(bucket: str, endpoint_url: str | None) -> Any:
    import boto3

    if endpoint_url is None and bucket == LOCAL_LOGS_BUCKET and not os.environ.get("AWS_ENDPOINT_URL_S3"):
        state_file = local_state_file()
        if not state_file.exists():
            raise SourceError(f"s3://{bucket} is local mode's bucket: start it with FMGW_INVOCATION_LOGS=1 make local")
        endpoint_url = json.loads(state_file.read_text())["motoUrl"]
    if endpoint_url is not None:  # moto takes any credentials; never send real ones to it
        return boto3.client(
            "s3", endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
        )
    return boto3.client("s3")


def logs_source(source: str, endpoint_url: str | None = None) -> tuple[LogObjects, str]:
    """(objects, prefix) of ``--logs``: an ``s3://bucket/prefix`` or a local folder with the logs' layout."""
    if source.startswith("s3://"):
        try:
            bucket, prefix = split_uri(source)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        return S3Objects(s3_client(bucket, endpoint_url), bucket), prefix
    if not Path(source).is_dir():
        raise SourceError(f"{source}: neither an s3:// URI nor a folder")
    return folder_source(source)


def destination(uri: str, endpoint_url: str | None = None) -> tuple[S3Objects | FolderObjects, str]:
    """(objects, prefix) an upload writes to: ``s3://bucket/prefix``."""
    try:
        bucket, prefix = split_uri(uri)
    except ValueError as exc:
        raise SourceError(f"--upload: {exc}") from None
    return S3Objects(s3_client(bucket, endpoint_url), bucket), prefix.rstrip("/")
