"""The whole gateway on one machine: an embedded moto server for AWS, the Bedrock simulator (or real
Bedrock with ``bedrock="aws"``), and the local API Gateway in front of the unmodified Lambda handler."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))

from local.api_gateway import LocalApiGateway  # noqa: E402
from local.bedrock_simulator import BedrockSimulator  # noqa: E402

DEFAULT_CONFIG = ROOT / "config" / "gateway.json"
BREAKER_TABLE, CACHE_TABLE = "fmgw-local-breaker", "fmgw-local-cache"


def default_keys(plans: dict) -> dict[str, str]:
    """One API key per usage plan; ``FMGW_LOCAL_API_KEY`` replaces the first plan's key."""
    keys = {f"fmgw-local-{plan}": plan for plan in plans}
    if custom := os.environ.get("FMGW_LOCAL_API_KEY"):
        first = next(iter(plans))
        keys = {custom: first, **{k: v for k, v in keys.items() if v != first}}
    return keys


class LocalGateway:
    def __init__(
        self,
        port: int = 8080,
        host: str = "127.0.0.1",
        bedrock: str = "sim",
        config_file: str | Path = DEFAULT_CONFIG,
        sim_settings: dict | None = None,
        log_level: str = "WARNING",
    ):
        if bedrock not in ("sim", "aws"):
            raise ValueError("bedrock must be 'sim' or 'aws'")
        self.port, self.host, self.bedrock, self.config_file = port, host, bedrock, Path(config_file)
        self.sim_settings, self.log_level = sim_settings, log_level
        self.config = json.loads(self.config_file.read_text())
        self.keys = default_keys(self.config["plans"])
        self.moto = self.simulator = self.api = None
        self.moto_url = self.simulator_url = self.url = ""

    def start(self) -> LocalGateway:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log

        # FMGW_MOTO_URL / FMGW_SIMULATOR_URL reuse servers already running (the benchmarks run them
        # in processes of their own, as DynamoDB and Bedrock are in AWS)
        self.moto_url = os.environ.get("FMGW_MOTO_URL", "")
        if not self.moto_url:
            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            self.moto_url = f"http://{host}:{port}"

        env = {
            "FMGW_CONFIG_FILE": str(self.config_file),
            "FMGW_BREAKER_TABLE": BREAKER_TABLE,
            "FMGW_CACHE_TABLE": CACHE_TABLE,
            "AWS_ENDPOINT_URL_DYNAMODB": self.moto_url,
            "POWERTOOLS_SERVICE_NAME": "fm-gateway",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "FMGatewayLocal",
            "POWERTOOLS_LOG_LEVEL": self.log_level,
        }
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if self.bedrock == "sim":
            self.simulator_url = os.environ.get("FMGW_SIMULATOR_URL", "")
            if not self.simulator_url:
                self.simulator = BedrockSimulator(settings=self.sim_settings)
                self.simulator_url = self.simulator.start()
            env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = self.simulator_url
            # moto and the simulator accept any signature; never send real credentials to them
            env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
            os.environ.pop("AWS_SESSION_TOKEN", None)
            os.environ.pop("AWS_PROFILE", None)
        os.environ.update(env)

        dynamodb = boto3.client("dynamodb", endpoint_url=self.moto_url, region_name=os.environ["AWS_DEFAULT_REGION"])
        existing = set(dynamodb.list_tables()["TableNames"])
        for table in {BREAKER_TABLE, CACHE_TABLE} - existing:
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )

        from fmgateway import runtime
        from handlers import api

        runtime.reset()
        runtime.gateway()  # fail fast on a bad config, before printing a URL
        self.api = LocalApiGateway(api.handler, self.config, self.keys)
        self.url = self.api.start(self.host, self.port)
        return self

    def stop(self) -> None:
        for part in (self.api, self.simulator, self.moto):
            if part is not None:
                part.stop()
        self.api = self.simulator = self.moto = None

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def api_key(self) -> str:
        return next(iter(self.keys))

    def banner(self) -> str:
        keys = ", ".join(f"{key} (plan {plan})" for key, plan in self.keys.items())
        bedrock = (
            f"simulator at {self.simulator_url}  (BEDROCK=aws for real Bedrock)"
            if self.simulator_url
            else f"real Amazon Bedrock in {os.environ.get('AWS_REGION') or os.environ['AWS_DEFAULT_REGION']}"
        )
        body = '{"messages":[{"role":"user","content":[{"text":"Hello, who are you?"}]}]}'
        return "\n".join(
            [
                "FM Gateway is running locally",
                f"  API       {self.url}",
                f"  API keys  {keys}",
                f"  Bedrock   {bedrock}",
                f"  AWS       moto at {self.moto_url}  (DynamoDB: {BREAKER_TABLE}, {CACHE_TABLE})",
                f"  Config    {self.config_file}",
                "Try:",
                f"  curl -s {self.url}/v1/chat -H 'x-api-key: {self.api_key}' -H 'content-type: application/json' -d '{body}'",
                "Ctrl-C stops everything.",
            ]
        )
