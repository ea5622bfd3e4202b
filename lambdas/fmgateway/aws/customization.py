"""The customization workflow's adapters and wiring (``fmgateway.lifecycle.customization.ports``): Bedrock's model
customization jobs through boto3's ``bedrock`` client (errors as ``ControlPlaneError`` with Bedrock's code), S3
buckets (``log_objects.S3Objects``), and ``ports(env)``: every port the tasks use, each client built on first use,
once per process and environment.

Endpoints follow boto3's own variables, read from ``env`` (so a harness can give the task an environment of its own):
``AWS_ENDPOINT_URL_BEDROCK`` (local mode: the simulator, which serves customization jobs and capacity),
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, ``AWS_ENDPOINT_URL_S3`` (else ``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import botocore.exceptions

from fmgateway.aws import appconfig
from fmgateway.aws.capacity import BedrockCapacity
from fmgateway.aws.log_objects import S3Objects
from fmgateway.config.gateway_config import ConfigSource, GatewayConfig
from fmgateway.lifecycle.customization.ports import ControlPlaneError, Settings
from fmgateway.lifecycle.customization.tasks import Ports
from fmgateway.values.backends import SAGEMAKER
from fmgateway.values.candidates import Candidate
from fmgateway.values.ports import ModelInvoker

JOB_FIELDS = ("jobArn", "jobName", "status", "failureMessage", "outputModelArn", "outputModelName", "customizationType")
EVALUATION_TIMEOUTS = {"timeouts": {"connectSeconds": 2, "readSeconds": 60}}  # an evaluation waits for whole answers


def _control_plane_error(exc: botocore.exceptions.ClientError) -> ControlPlaneError:
    error = exc.response.get("Error", {})
    return ControlPlaneError(str(error.get("Code", "Unknown")), str(error.get("Message", "")))


class BedrockCustomization:
    """``CustomizationControl`` over a boto3 ``bedrock`` client."""

    def __init__(self, client: Any):
        self.client = client

    def create_job(self, request: dict[str, Any]) -> str:
        try:
            return self.client.create_model_customization_job(**request)["jobArn"]
        except botocore.exceptions.ClientError as exc:
            raise _control_plane_error(exc) from None

    def job(self, arn: str) -> dict[str, Any]:
        try:
            found = self.client.get_model_customization_job(jobIdentifier=arn)
        except botocore.exceptions.ClientError as exc:
            raise _control_plane_error(exc) from None
        plain = {key: found[key] for key in JOB_FIELDS if key in found}
        details = found.get("statusDetails") or {}
        plain["statusDetails"] = {phase: (value or {}).get("status") for phase, value in details.items()}
        return plain

    def stop_job(self, arn: str) -> None:
        try:
            self.client.stop_model_customization_job(jobIdentifier=arn)
        except botocore.exceptions.ClientError as exc:
            raise _control_plane_error(exc) from None


class S3Buckets:
    def __init__(self, client: Callable[[], Any]):
        self._client = client

    def bucket(self, name: str) -> S3Objects:
        return S3Objects(self._client(), name)


class _Lazy:
    """Clients built on first use, one per (service, region), shared by the task's threads."""

    def __init__(self, env: Mapping[str, str]):
        self.env = dict(env)
        self.lock = threading.Lock()
        self.built: dict[tuple[str, str], Any] = {}

    def endpoint(self, service: str) -> str | None:
        own = f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"
        return self.env.get(own) or self.env.get("AWS_ENDPOINT_URL") or None

    def get(self, key: tuple[str, str], build: Callable[[], Any]) -> Any:
        with self.lock:
            if key not in self.built:
                self.built[key] = build()
            return self.built[key]

    def client(self, service: str, region: str, config: Any = None) -> Any:
        def build() -> Any:
            import boto3
            from botocore.config import Config

            chosen = config or Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=5, read_timeout=60)
            return boto3.session.Session().client(service, region_name=region, endpoint_url=self.endpoint(service), config=chosen)

        return self.get((service, region), build) if config is None else build()

    def invoker_for(self, region: str) -> Callable[[Candidate], ModelInvoker]:
        def build() -> Callable[[Candidate], ModelInvoker]:
            from fmgateway.aws.bedrock import BedrockInvoker
            from fmgateway.aws.sagemaker import SageMakerEndpoints
            from fmgateway.core.invokers import Invokers

            bedrock = BedrockInvoker(lambda config: self.client("bedrock-runtime", region, config), EVALUATION_TIMEOUTS)
            endpoints = SageMakerEndpoints(lambda config: self.client("sagemaker-runtime", region, config))
            endpoints.configure(EVALUATION_TIMEOUTS)
            return Invokers(bedrock, {SAGEMAKER: endpoints}).for_candidate

        return self.get(("invokers", region), build)


class _Config:
    """The gateway configuration's source, found on first use (a task that fails before needing it still reports)."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.source: ConfigSource | None = None

    def get(self) -> GatewayConfig:
        if self.source is None:
            self.source = appconfig.source_from_env(self.env)
        return self.source.get()


_ports: dict[tuple[tuple[str, str], ...], Ports] = {}
_ports_lock = threading.Lock()


def ports(env: Mapping[str, str]) -> Ports:
    """The tasks' ports for this environment (built once; clients on first use)."""
    key = tuple(sorted((k, v) for k, v in env.items() if k.startswith(("FMGW_", "AWS_"))))
    with _ports_lock:
        if key not in _ports:
            lazy = _Lazy(env)
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
            _ports[key] = Ports(
                settings=lambda: Settings.from_env(lazy.env),
                config=_Config(lazy.env),
                buckets=S3Buckets(lambda: lazy.client("s3", region)),
                control=lambda region: BedrockCustomization(lazy.client("bedrock", region)),
                capacity=lambda region: BedrockCapacity(lazy.client("bedrock", region)),
                invoker_for=lazy.invoker_for,
            )
        return _ports[key]


def reset() -> None:
    """Forget every wiring (tests change the environment between cases)."""
    with _ports_lock:
        _ports.clear()
