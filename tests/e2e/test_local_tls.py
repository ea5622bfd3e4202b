"""``FMGW_TLS=1 make local`` (issue 20): local mode over HTTPS, so that boto3 with ``AWS_BEARER_TOKEN_BEDROCK`` (which
botocore sends only over HTTPS) works as it does against API Gateway, with no event hook and no AWS credentials."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap

import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import ROOT, start_gateway, stop_gateway


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory):
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    gateway = start_gateway(CONFIG_FILE, {"FMGW_TLS": "1", "FMGW_TLS_CA_FILE": str(ca_file)})
    port = gateway.url.rsplit(":", 1)[1]
    yield gateway, f"https://127.0.0.1:{port}", ca_file
    stop_gateway(gateway)


def test_the_banner_says_https_and_where_the_ca_is(tls_gateway):
    gateway, url, ca_file = tls_gateway
    assert url in gateway.banner
    assert ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_plain_http_is_not_served_and_an_untrusted_client_is_refused(tls_gateway):
    _, url, _ = tls_gateway
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://") + "/v1/health", timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url + "/v1/health", timeout=5)  # the system's trust store does not know local mode's CA


def test_a_client_that_trusts_the_ca_is_served(tls_gateway):
    gateway, url, ca_file = tls_gateway
    context = ssl.create_default_context(cafile=str(ca_file))
    response = httpx.post(
        url + "/v1/chat",
        headers={"x-api-key": gateway.keys[0]},
        json={"messages": [{"role": "user", "content": [{"text": "hello over TLS"}]}]},
        verify=context,
        timeout=30,
    )
    assert response.status_code == 200, response.text


BEARER_CLIENT = textwrap.dedent(
    """
    import sys, boto3
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=sys.argv[1])
    answer = client.converse(modelId="claude-haiku-4-5", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    print(answer["output"]["message"]["content"][0]["text"][:40])
    """
)


def test_boto3_with_a_bedrock_api_key_and_no_hook_or_credentials(tls_gateway, tmp_path):
    """A fresh interpreter: only AWS_BEARER_TOKEN_BEDROCK and the CA bundle; no AWS credentials anywhere."""
    gateway, url, ca_file = tls_gateway
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        AWS_BEARER_TOKEN_BEDROCK=gateway.keys[0],
        AWS_CA_BUNDLE=str(ca_file),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )
    done = subprocess.run(
        [sys.executable, "-c", BEARER_CLIENT, url], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_without_tls_botocore_refuses_to_send_the_bearer_token(tls_gateway, tmp_path):
    """Why the option exists: the same client against an http:// endpoint fails before any request."""
    gateway, url, _ = tls_gateway
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_BEARER_TOKEN_BEDROCK=gateway.keys[0], AWS_CONFIG_FILE=str(tmp_path / "none"))
    done = subprocess.run(
        [sys.executable, "-c", BEARER_CLIENT, url.replace("https://", "http://")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "HTTPS" in done.stderr
