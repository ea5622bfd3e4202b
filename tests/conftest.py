"""Shared fixtures. Tests never touch AWS: moto for AWS services, Stubber or the simulator for Bedrock."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE = ROOT / "config" / "gateway.json"

# Before any boto3 client exists: fake credentials, a region, no tracing, a metrics namespace.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "FMGatewayTest",
        "POWERTOOLS_SERVICE_NAME": "fm-gateway",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def base_config_doc() -> dict:
    return json.loads(CONFIG_FILE.read_text())


@pytest.fixture
def config_doc(base_config_doc) -> dict:
    """A private, mutable copy of config/gateway.json."""
    return copy.deepcopy(base_config_doc)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
