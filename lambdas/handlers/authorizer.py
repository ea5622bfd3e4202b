"""The Lambda REQUEST authorizer: API key from ``x-api-key`` or ``Authorization: Bearer`` (rules in fmgateway.aws.access).

Thin on purpose: it runs before every keyed request, so it imports no Powertools and builds its boto3 client on the
first key lookup; the lookups themselves are cached per sandbox (``KeyDirectory``).
"""

from __future__ import annotations

import logging
import os
from functools import cache

from fmgateway.aws.access import KeyDirectory, Unauthorized, api_gateway_loader, authorize

logger = logging.getLogger("fmgateway.authorizer")
logger.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))


@cache
def _client():
    import boto3

    return boto3.client("apigateway")


DIRECTORY = KeyDirectory(
    api_gateway_loader(_client),
    ttl=float(os.environ.get("FMGW_KEY_CACHE_SECONDS", "60")),
    miss_refresh=float(os.environ.get("FMGW_KEY_MISS_REFRESH_SECONDS", "10")),
)


def handler(event: dict, context) -> dict:
    try:
        answer = authorize(event, DIRECTORY)
    except Unauthorized as err:
        logger.info("401: %s", err.reason)
        raise Exception("Unauthorized") from None  # the exact message API Gateway turns into its 401 (UNAUTHORIZED)
    if answer["policyDocument"]["Statement"][0]["Effect"] == "Deny":
        logger.info("403: unknown or disabled key")
    return answer
