"""Local mode over HTTPS (``FMGW_TLS=1 make local``): a certificate authority made at start with ``trustme``, a
server certificate for 127.0.0.1 and localhost, and the CA's PEM file written where clients can trust it.

Why: botocore sends ``AWS_BEARER_TOKEN_BEDROCK`` (Bedrock API keys) only over HTTPS ("Bearer authorization requires an
HTTPS endpoint"), so a Bearer client works against local mode as it does against API Gateway only with TLS. Point
the client at the CA (``AWS_CA_BUNDLE`` for boto3, ``SSL_CERT_FILE`` / ``verify=`` for httpx and openai).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import NamedTuple

TLS_ENV = "FMGW_TLS"
CA_FILE_ENV = "FMGW_TLS_CA_FILE"
HOSTS = ("127.0.0.1", "localhost", "::1")


def wanted(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(TLS_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{TLS_ENV}={value!r}: use 1 or 0")


class ServerTls(NamedTuple):
    context: ssl.SSLContext
    ca_file: Path  # the authority's certificate (PEM): what a client trusts


def make(ca_file: Path | None = None) -> ServerTls:
    """A fresh authority and server certificate (nothing reused between runs: no private key is left lying around
    to trust later); the CA written to ``ca_file`` (default ``$FMGW_TLS_CA_FILE``, else the temp dir)."""
    import trustme  # only with FMGW_TLS: local mode without it never imports cryptography's X.509 code

    authority = trustme.CA()
    server = authority.issue_cert(*HOSTS)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    server.configure_cert(context)
    path = ca_file or Path(os.environ.get(CA_FILE_ENV) or Path(tempfile.gettempdir()) / "fmgw-local-ca.pem")
    authority.cert_pem.write_to_path(str(path))
    return ServerTls(context, path)
