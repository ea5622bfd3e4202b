"""S3 as the invocation logs' store (``fmgateway.lifecycle.invocation_logs.LogObjects``) and as a dataset's
destination: keys under a prefix in key order, an object's bytes, an upload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket[/prefix]``; ValueError for anything else."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ValueError(f"{uri!r}: expected s3://bucket[/prefix]")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


class S3Objects:
    """One bucket through a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str):
        self.client, self.bucket = client, bucket

    def keys(self, prefix: str) -> Iterator[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield entry["Key"]

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
