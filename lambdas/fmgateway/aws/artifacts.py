"""Artifacts named by URI in the configuration (the learned router's ``contentRouting.artifact``), read from S3."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_client: Any = None


def read_s3(uri: str) -> bytes:
    """The object at ``s3://bucket/key``; a ``ValueError`` for any other URI."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"artifact must be s3://bucket/key, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def _s3() -> Any:
    global _client
    with _lock:
        if _client is None:
            import boto3  # deferred: only configurations that name an S3 artifact pay for the client
            from botocore.config import Config

            # Short timeouts: a slow S3 read delays one request per max age, never more than ~3 s.
            config = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=2)
            _client = boto3.client("s3", config=config)
        return _client


def reset() -> None:
    """Forget the S3 client (tests switch endpoints between cases)."""
    global _client
    with _lock:
        _client = None
