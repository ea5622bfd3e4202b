"""The whole gateway on one machine: an embedded moto server for AWS, the Bedrock simulator (or real
Bedrock with ``bedrock="aws"``), and the local API Gateway in front of the unmodified Lambda handler."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))

from local.api_gateway import LocalApiGateway, Route, default_routes  # noqa: E402
from local.aws_resources import create_api_keys, create_customization, create_resources  # noqa: E402
from local.bedrock_simulator import BedrockSimulator  # noqa: E402
from local.event_sources import SqsEventSource, print_notices  # noqa: E402
from local.orchestration import MOTO_SFN_CONFIG  # noqa: E402

DEFAULT_CONFIG = ROOT / "config" / "gateway.json"
INVOCATION_LOGS_ENV = "FMGW_INVOCATION_LOGS"
INVOCATION_LOGS_BUCKET = "fmgw-local-invocation-logs"  # fmgw/datasets/sources.py knows it as local mode's bucket
# where `make local` says where its parts listen, so that `fmgw datasets build --logs s3://fmgw-local-...` finds moto
# (FMGW_LOCAL_STATE_FILE moves it: the e2e tests' gateways keep off a running `make local`'s file)
STATE_FILE = Path(os.environ.get("FMGW_LOCAL_STATE_FILE") or Path(tempfile.gettempdir()) / "fmgw-local.json")


def _print_notices(event: dict, context) -> dict:
    """The local subscriber of the jobs topic: prints each notification."""
    for record in event["Records"]:
        print_notices({"Body": record["body"]})
    return {"batchItemFailures": []}


def _print_customization_notices(event: dict, context) -> dict:
    """The local subscriber of the customization topic: each run's decision or failure notice, as SNS delivers it."""
    for record in event["Records"]:
        envelope = json.loads(record["body"])
        message = "\n  ".join(str(envelope.get("Message", "")).splitlines())
        print(f"[customization] {envelope.get('Subject') or ''}\n  {message}", flush=True)
    return {"batchItemFailures": []}


class _SweeperContext:
    """What Lambda hands a function; Powertools' logger reads it (None made every sweep fail)."""

    function_name = "fmgw-local-sweeper"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:fmgw-local-sweeper"

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _scheduled_event() -> dict:
    """An EventBridge scheduled event, as the deployed schedule sends."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


MIN_KEY_LENGTH = 20  # API Gateway refuses shorter API key values (so does moto's)


def default_keys(plans: dict) -> dict[str, str]:
    """One API key per usage plan, ``fmgw-local-<plan>-key`` (padded to API Gateway's 20 characters);
    ``FMGW_LOCAL_API_KEY`` replaces the first plan's key."""
    keys = {f"fmgw-local-{plan}-key".ljust(MIN_KEY_LENGTH, "0"): plan for plan in plans}
    if custom := os.environ.get("FMGW_LOCAL_API_KEY"):
        if len(custom) < MIN_KEY_LENGTH:
            raise ValueError(f"FMGW_LOCAL_API_KEY must be at least {MIN_KEY_LENGTH} characters, as API Gateway requires")
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
        self.key_ids: dict[str, str] = {}  # key value -> API Gateway key id (the jobs tenant), with the authorizer
        self.moto = self.simulator = self.api = self.streaming = None
        self.moto_url = self.simulator_url = self.url = ""
        self.pollers: list[SqsEventSource] = []
        self.resources: dict[str, str] = {}
        self._stopping = threading.Event()
        self.orchestrated = False
        self.customization: dict[str, str] = {}  # the customization workflow (state machine, bucket, topic), in moto
        self.invocation_logs = None  # the simulator's log writer, with FMGW_INVOCATION_LOGS=1
        self.control_plane_fallback: str | None = None  # where the simulator forwards other bedrock control-plane calls

    def start(self) -> LocalGateway:
        from local.moto_server import LocalMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log

        # FMGW_MOTO_URL / FMGW_SIMULATOR_URL reuse servers already running (the benchmarks run them
        # in processes of their own, as DynamoDB and Bedrock are in AWS)
        self.moto_url = os.environ.get("FMGW_MOTO_URL", "")
        if not self.moto_url:
            self.moto = LocalMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.moto.start()
            host, port = self.moto.get_host_and_port()
            self.moto_url = f"http://{host}:{port}"

        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        env = {
            "FMGW_CONFIG_FILE": str(self.config_file),
            "AWS_ENDPOINT_URL": self.moto_url,  # every AWS service but Bedrock goes to moto
            "POWERTOOLS_SERVICE_NAME": "fm-gateway",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "FMGatewayLocal",
            "POWERTOOLS_LOG_LEVEL": self.log_level,
        }
        if self.bedrock == "sim":
            env.update(self.start_simulator())
            # moto and the simulator accept any signature; never send real credentials to them
            env.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
            os.environ.pop("AWS_SESSION_TOKEN", None)
            os.environ.pop("AWS_PROFILE", None)
        else:
            # real Bedrock: its own endpoint, the user's credentials (moto accepts any)
            env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = f"https://bedrock-runtime.{os.environ['AWS_DEFAULT_REGION']}.amazonaws.com"
        env["FMGW_OPENAPI_FILE"] = str(self._api_description())
        os.environ.update(env)
        max_receives = self.config.get("jobs", {}).get("maxReceives", 3)
        self.resources = create_resources(self.moto_url, os.environ["AWS_DEFAULT_REGION"], max_receives)
        os.environ.update(self.resources)

        from fmgateway import runtime
        from handlers import api, jobs_api, jobs_dlq, jobs_sweeper, jobs_worker

        runtime.reset()
        runtime.gateway()  # fail fast on a bad config, before printing a URL
        runtime.config_source().get()
        from local.web_adapter import StreamingFunction

        self.streaming = StreamingFunction().start()
        routes = default_routes(self.config, api.handler, jobs_api.handler, streaming=self.streaming)
        if self.moto is not None:  # the interpreter runs inside this process's moto server
            routes.append(Route("/v1/chat/orchestrated", {"POST": "chat-request"}, self._orchestrated_route()))
            if self.simulator_url:  # its jobs and capacity are the simulator's; Bedrock could not read moto's S3
                self.customization = create_customization(self.moto_url, os.environ["AWS_DEFAULT_REGION"])
        self.pollers = [
            # retry_delay=None, as Lambda's event source: a failed job comes back when the visibility timeout
            # the worker set runs out (30 s, 60 s, 120 s ... as in AWS; FMGW_JOBS_RETRY_BASE_SECONDS for tests)
            SqsEventSource(
                self.resources["FMGW_JOBS_QUEUE_URL"], jobs_worker.handler, self.moto_url, retry_delay=None, batch_size=3
            ),
            SqsEventSource(self.resources["FMGW_JOBS_DLQ_URL"], jobs_dlq.handler, self.moto_url, retry_delay=1),
            SqsEventSource(self.resources["FMGW_NOTICES_URL"], _print_notices, self.moto_url),
        ]
        if self.customization:
            self.pollers.append(SqsEventSource(self.customization["noticesUrl"], _print_customization_notices, self.moto_url))
        for poller in self.pollers:
            poller.start()
        self.sweeper = threading.Thread(target=self._sweep, args=(jobs_sweeper.handler,), name="sweeper", daemon=True)
        self.sweeper.start()
        self.api = LocalApiGateway(routes, self.config, self.keys, **self._key_check())
        self.url = self.api.start(self.host, self.port)
        return self

    def start_simulator(self) -> dict[str, str]:
        """Start the Bedrock simulator (or reuse ``FMGW_SIMULATOR_URL``'s); the endpoints it serves, for boto3.

        Started here, it serves Bedrock Runtime, the capacity and customization part of the bedrock control plane
        (Provisioned Throughput, custom model deployments, imported models, model customization jobs, custom models)
        and SageMaker Runtime, and forwards the rest of the bedrock control plane (logging configuration ...) to this
        moto; a reused one forwards wherever its own ``controlPlaneFallback`` says, if anywhere."""
        self.simulator_url = os.environ.get("FMGW_SIMULATOR_URL", "")
        if not self.simulator_url:
            settings = {"controlPlaneFallback": self.moto_url, **(self.sim_settings or {})}
            self.simulator = BedrockSimulator(settings=settings, invocation_logs=self._invocation_logs())
            self.simulator_url = self.simulator.start()
        self.control_plane_fallback = self._simulator_fallback()
        return {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.simulator_url,
            "AWS_ENDPOINT_URL_BEDROCK": self.simulator_url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.simulator_url,
        }

    def _simulator_fallback(self) -> str | None:
        """The simulator's ``controlPlaneFallback`` (a reused ``FMGW_SIMULATOR_URL`` one has its own, or none)."""
        if self.simulator is not None:
            return self.simulator.config().get("controlPlaneFallback")
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.simulator_url}/_sim/config", timeout=5) as answer:
                return json.loads(answer.read()).get("controlPlaneFallback")
        except (OSError, ValueError):
            return None

    def _invocation_logs(self):
        """With ``FMGW_INVOCATION_LOGS=1``: the simulator writes Bedrock's invocation logs to a bucket in moto."""
        if os.environ.get(INVOCATION_LOGS_ENV, "") not in ("1", "true"):
            return None
        import boto3

        from local.simulator_invocation_logs import InvocationLogWriter

        s3 = boto3.client(
            "s3", endpoint_url=self.moto_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
        )
        s3.create_bucket(Bucket=INVOCATION_LOGS_BUCKET)
        flush = float(os.environ.get("FMGW_INVOCATION_LOGS_FLUSH_SECONDS") or 1.0)

        def put(key: str, data: bytes) -> None:
            s3.put_object(Bucket=INVOCATION_LOGS_BUCKET, Key=key, Body=data)

        self.invocation_logs = InvocationLogWriter(put, INVOCATION_LOGS_BUCKET, flush_seconds=flush)
        return self.invocation_logs

    def _api_description(self) -> Path:
        """GET /v1/openapi.json: generated from schemas/ and the configuration, as the synth does for the bundle."""

        from infra import openapi

        target = Path(tempfile.mkdtemp(prefix="fmgw-openapi-")) / "openapi.json"
        return openapi.write(self.config, target, title="FM Gateway (local)", orchestrated=self.moto is not None)

    def _key_check(self) -> dict:
        """As the stack's ``apiKeySource`` context: the real key authorizer (default; the usage plans and keys live in
        moto's API Gateway, where the authorizer reads them) or, with ``FMGW_API_KEY_SOURCE=header``, the plain
        x-api-key check."""
        if os.environ.get("FMGW_API_KEY_SOURCE", "authorizer") == "header":
            return {}
        from handlers import authorizer

        api_id, self.key_ids = create_api_keys(
            self.config["plans"], self.keys, self.moto_url, os.environ["AWS_DEFAULT_REGION"], stage="local"
        )
        return {"authorizer": authorizer.handler, "api_id": api_id}

    def _orchestrated_route(self):
        """POST /v1/chat/orchestrated: the routing state machine in moto's interpreter, templates rendered."""
        import boto3
        from moto.core.config import default_user_config

        from handlers import routing_tasks
        from local.orchestration import ROUTING_TASKS_FUNCTION, OrchestratedRoute, create_state_machine, install_lambda_dispatch

        for service, settings in MOTO_SFN_CONFIG.items():
            default_user_config.setdefault(service, {}).update(settings)  # type: ignore[attr-defined]
        os.environ["MOTO_PORT"] = self.moto_url.rsplit(":", 1)[1]  # where the interpreter's own clients go
        install_lambda_dispatch({ROUTING_TASKS_FUNCTION: routing_tasks.handler})
        sfn = boto3.client("stepfunctions", endpoint_url=self.moto_url, region_name=os.environ["AWS_DEFAULT_REGION"])
        arn = f"arn:aws:lambda:{os.environ['AWS_DEFAULT_REGION']}:123456789012:function:{ROUTING_TASKS_FUNCTION}"
        state_machine = create_state_machine(sfn, self.resources["FMGW_BREAKER_TABLE"], arn)
        self.orchestrated = True
        return OrchestratedRoute(sfn, state_machine)

    def _sweep(self, handler) -> None:
        """The scheduled sweeper, every minute as in AWS (``FMGW_SWEEP_SECONDS`` for tests)."""
        interval = float(os.environ.get("FMGW_SWEEP_SECONDS") or 60)
        while not self._stopping.wait(interval):
            try:
                handler(_scheduled_event(), _SweeperContext())
            except Exception as exc:
                print(f"[local] sweeper: {exc}", flush=True)

    def stop(self) -> None:
        """Stop every part at once (each may wait up to 5 s for its threads: under load, one after the other added up
        past a caller's patience), then the embedded moto server they all talk to."""
        self._stopping.set()
        parts = [part for part in (self.api, self.streaming, *self.pollers, self.simulator) if part is not None]
        stoppers = [threading.Thread(target=part.stop, name="local-stop", daemon=True) for part in parts]
        for stopper in stoppers:
            stopper.start()
        deadline = time.monotonic() + 10
        for stopper in stoppers:
            stopper.join(max(0.0, deadline - time.monotonic()))
        if self.moto is not None:
            # moto's stop joins its server thread without a timeout; a request still in flight there (a part that did
            # not stop in time) must not keep Ctrl-C waiting: the process exits after this anyway
            stopper = threading.Thread(target=self.moto.stop, name="local-stop-moto", daemon=True)
            stopper.start()
            stopper.join(5)
        self.api = self.streaming = self.simulator = self.moto = None
        self.pollers = []

    def write_state(self, path: Path) -> None:
        """Where this local mode's parts listen, for client commands (``fmgw datasets`` reading local mode's S3,
        ``fmgw customize`` finding the customization workflow)."""
        state: dict[str, object] = {"url": self.url, "motoUrl": self.moto_url, "simulatorUrl": self.simulator_url}
        if self.invocation_logs is not None:
            state["invocationLogs"] = self.invocation_logs.uri
        if self.customization:  # fmgw customize finds the workflow here
            state["customization"] = {key: self.customization[key] for key in ("stateMachineArn", "bucket", "topicArn")}
        path.write_text(json.dumps(state))

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
        if self.simulator_url:
            fallback = "moto" if self.control_plane_fallback == self.moto_url else self.control_plane_fallback
            rest = (
                f"other bedrock control-plane calls go on to {fallback}"
                if fallback
                else "other bedrock control-plane calls are unanswered (the simulator has no controlPlaneFallback)"
            )
            capacity = [
                f"  Capacity  the simulator's bedrock control plane: Provisioned Throughput, custom model deployments, "
                f"imported models ({self.simulator_url}/_sim/capacity), customization jobs and custom models "
                f"({self.simulator_url}/_sim/customization); {rest}",
                "  SageMaker runtime (InvokeEndpoint, its stream) on the simulator: endpoints from sagemakerEndpoints or "
                "PUT /_sim/sagemaker-endpoints; the SageMaker control plane stays on moto",
            ]
        else:
            capacity = []
        body = '{"messages":[{"role":"user","content":[{"text":"Hello, who are you?"}]}]}'
        return "\n".join(
            [
                "FM Gateway is running locally",
                f"  API       {self.url}",
                f"  API keys  {keys}",
                f"  Bedrock   {bedrock}",
                *capacity,
                f"  AWS       moto at {self.moto_url}  (DynamoDB, SQS + DLQ, S3, SNS; job worker polling)",
                (
                    f"  Logs      Bedrock invocation logs at {self.invocation_logs.uri}  (fmgw datasets build --logs ...)"
                    if self.invocation_logs is not None
                    else f"  Logs      no invocation logs ({INVOCATION_LOGS_ENV}=1 writes them)"
                ),
                (
                    f"  Customize fmgw customize start SPEC.json (state machine {self.customization['stateMachineArn']}, "
                    f"bucket s3://{self.customization['bucket']}, simulated jobs)"
                    if self.customization
                    else "  Customize no customization workflow (it runs with the simulator and the embedded moto)"
                ),
                f"  Config    {self.config_file}",
                "  Routes    /v1/chat, /v1/chat/completions, "
                + ", ".join(self.config["routes"])
                + (", /v1/chat/orchestrated (Step Functions: moto's interpreter)" if self.orchestrated else "")
                + ", /v1/jobs",
                "  Streams   /v1/chat/completions (stream: true), /v1/chat/stream, "
                + ", ".join(f"{path}/stream" for path in self.config["routes"])
                + " (server-sent events)",
                "  Native    /model/{modelId}/converse, /converse-stream, /invoke, /invoke-with-response-stream (boto3 "
                f"bedrock-runtime with endpoint_url={self.url}), /v1/embeddings",
                "Try:",
                f"  curl -s {self.url}/v1/chat -H 'x-api-key: {self.api_key}' -H 'content-type: application/json' -d '{body}'",
                "Ctrl-C stops everything.",
            ]
        )
