"""Where the gateway under test is: set by clients/run.py (local mode over HTTP, and over HTTPS for bearer tokens)."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def url() -> str:
    return os.environ["FMGW_URL"]


@pytest.fixture(scope="session")
def key() -> str:
    return os.environ["FMGW_API_KEY"]


@pytest.fixture(scope="session")
def tls_url() -> str:
    return os.environ["FMGW_TLS_URL"]


@pytest.fixture(scope="session")
def ca_file() -> str:
    return os.environ["FMGW_TLS_CA_FILE"]


@pytest.fixture
def unique() -> str:
    """A prompt suffix no cache has seen."""
    return uuid.uuid4().hex[:12]
