"""CloudFormation custom resource ``Custom::BedrockInvocationLogging``: Bedrock model invocation logging for the account
and region (the rules in fmgateway.aws.invocation_logging). Invoked by CloudFormation only, on deploys."""

from __future__ import annotations

import logging
import os

from fmgateway.aws.invocation_logging import handle

logging.getLogger("fmgateway.invocation_logging").setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))


def _bedrock():
    """Built inside the request, so that a failure to build it is answered FAILED like any other."""
    import boto3
    from botocore.config import Config

    # Bounded calls: the function (120 s) always lives long enough to answer CloudFormation.
    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=20)
    return boto3.client("bedrock", config=config)


def handler(event: dict, context) -> dict:
    return handle(event, _bedrock)
