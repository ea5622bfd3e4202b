"""Wiring: builds the gateway from environment variables, once per process, on first use.

Environment
- ``FMGW_CONFIG_FILE`` or ``FMGW_APPCONFIG_APPLICATION`` / ``_ENVIRONMENT`` / ``_PROFILE``: configuration.
- ``FMGW_BREAKER_TABLE``, ``FMGW_CACHE_TABLE``, ``FMGW_HEALTH_TABLE``: DynamoDB tables (in-memory state when unset,
  for tests; without a health table each sandbox's breaker sees only its own calls).
- ``FMGW_BEDROCK_REGION``: Bedrock region (default: the Lambda's). Endpoints follow boto3's own
  ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` / ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` / ``AWS_ENDPOINT_URL_DYNAMODB``
  variables, which is how local mode points them at the simulator and the embedded moto server.
- ``FMGW_BACKEND_ACCESS``: what the deployment's IAM lets it invoke beyond Bedrock on demand (``{"region",
  "account", "endpointPrefix"}``, set by CDK): a catalog entry outside it is refused when the configuration loads.
"""

from __future__ import annotations

import os
import threading

from fmgateway.aws import appconfig
from fmgateway.aws.artifacts import read_s3
from fmgateway.aws.bedrock import BedrockInvoker
from fmgateway.aws.coldstart import paused_gc
from fmgateway.aws.health_metrics import EmfHealthEvents
from fmgateway.aws.health_store import DynamoHealthStore
from fmgateway.aws.sagemaker import SageMakerEndpoints
from fmgateway.aws.stores import DynamoBreakerStore, DynamoResponseStore, MemoryBreakerStore, MemoryResponseStore
from fmgateway.config.gateway_config import ConfigSource
from fmgateway.core.cache import ResponseCache
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.health.monitor import HealthMonitor
from fmgateway.routing import difficulty
from fmgateway.values.backends import SAGEMAKER

_lock = threading.RLock()  # building the gateway builds the shared config source under the same lock
_built: dict[str, object] = {}


def _session():
    import boto3

    return boto3.session.Session()


def build_gateway(env: dict[str, str] | None = None, profile: str = "sync") -> Gateway:
    # The configuration is read on the first request, not here: in Lambda that is an AppConfig call,
    # which belongs to the request that needs it rather than to every cold start.
    source = config_source() if env is None else appconfig.source_from_env(env)
    difficulty.use_artifact_reader(read_s3)  # contentRouting.artifact: s3://bucket/key
    env = dict(os.environ if env is None else env)
    session = _session()
    region = env.get("FMGW_BEDROCK_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    invoker = BedrockInvoker(lambda config: session.client("bedrock-runtime", region_name=region, config=config))
    # the backends that are not Bedrock (issue 23); the client is built on a SageMaker entry's first call
    endpoints = {SAGEMAKER: SageMakerEndpoints(lambda config: session.client("sagemaker-runtime", config=config))}

    breaker_table, cache_table = env.get("FMGW_BREAKER_TABLE"), env.get("FMGW_CACHE_TABLE")
    health_table = env.get("FMGW_HEALTH_TABLE")
    dynamodb = None
    if breaker_table or cache_table or health_table:
        from botocore.config import Config

        dynamodb = session.client(
            "dynamodb",
            config=Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=2),
        )
    breaker_store = DynamoBreakerStore(dynamodb, breaker_table) if breaker_table else MemoryBreakerStore()
    response_store = DynamoResponseStore(dynamodb, cache_table) if cache_table else MemoryResponseStore()
    health = HealthMonitor(
        DynamoHealthStore(dynamodb, health_table) if health_table else None, background=True, events=EmfHealthEvents()
    )
    breaker = CircuitBreaker(breaker_store, background_refresh=True, health=health)
    return Gateway(source, invoker, breaker, ResponseCache(response_store), profile=profile, endpoints=endpoints)


def _once(name: str, build):
    if name not in _built:
        with _lock, paused_gc():  # clients are built on the first request: same cold-start care as imports
            if name not in _built:
                _built[name] = build()
    return _built[name]


def config_source() -> ConfigSource:
    return _once("config", appconfig.source_from_env)


def gateway(profile: str = "sync") -> Gateway:
    """The process's gateway; the jobs worker uses ``profile="jobs"`` for its long timeouts."""
    return _once(f"gateway:{profile}", lambda: build_gateway(profile=profile))


def jobs():
    """The jobs service (submit/get/cancel for the API, process for the worker), on first use."""
    from fmgateway.aws.jobs_store import build_jobs

    def build():
        return build_jobs(
            os.environ, lambda: gateway("jobs"), lambda: config_source().get().section("jobs"), lambda: config_source().get()
        )

    return _once("jobs", build)


def reset() -> None:
    """Forget everything wired (tests change the environment between cases)."""
    _built.clear()
