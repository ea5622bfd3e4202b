"""Amazon Bedrock Runtime simulator for local mode and integration tests.

An HTTP server (standard library only, plus fmgateway's event-stream encoder) that speaks enough of the Bedrock Runtime
wire protocol (rest-json + AWS event-stream framing) for an *unmodified* boto3 client::

    boto3.client("bedrock-runtime", endpoint_url=sim.url, region_name="us-east-1",
                 aws_access_key_id="x", aws_secret_access_key="x")

On the same port it also serves the Bedrock control plane for capacity and model customization (a boto3 ``bedrock``
client) and SageMaker Runtime (a boto3 ``sagemaker-runtime`` client); see "Capacity", "Customization" and "SageMaker"
below.

What is simulated
-----------------
* ``converse``         -> ``POST /model/{modelId}/converse``         (Converse JSON)
* ``converse_stream``  -> ``POST /model/{modelId}/converse-stream``  (event stream: messageStart,
  contentBlockDelta..., contentBlockStop, messageStop, metadata)
* ``invoke_model``     -> ``POST /model/{modelId}/invoke``           (the native body of the model's family:
  Anthropic, Nova, Titan text, Llama, Mistral; Titan / Cohere embeddings: ``local.simulator_native``)
* ``invoke_model_with_response_stream`` -> ``POST /model/{modelId}/invoke-with-response-stream`` (``chunk`` events)

Answers are deterministic: ``"[simulated <modelId>] "`` followed by a sentence derived from a
SHA-256 of the model id and the last user message (12-40 words), cut to ``maxTokens`` /
``max_tokens`` (then ``stopReason`` is ``max_tokens``). Every response carries the header
``x-fmgw-simulator: true``. Signatures are not checked; the client region is read from the SigV4
credential scope of the ``Authorization`` header (or a ``bedrock-runtime.<region>.`` Host).

Errors use the real shapes: HTTP status + ``x-amzn-ErrorType`` header + ``{"message": ...}`` body,
so botocore raises ``ClientError`` with ``Error.Code`` e.g. ``ThrottlingException``. Inside a
stream an error is an event with ``:message-type: exception`` and ``:exception-type`` (e.g.
``modelStreamErrorException``), which botocore raises as ``EventStreamError`` while iterating.

Token rule
----------
Text is split on whitespace; each word costs ``ceil(len(word) / 4)`` tokens, at least 1.
Input tokens = all text of ``system`` + every message (non-text blocks are ignored); output tokens
= tokens of the reply. ``local.simulator_text.count_tokens()`` implements the rule.

Settings (later overrides earlier, dicts are deep-merged)
---------------------------------------------------------
1. built-in defaults, then ``local/simulator.json``
2. the JSON file named by env ``FMGW_SIM_CONFIG`` (or ``--config`` / ``config_path=``)
3. env ``FMGW_SIM_FAULTS``: inline JSON of the ``faults`` object
4. at run time: the ``/_sim/*`` control endpoints or the Python API

Example::

    {
      "seed": 42,                        # seeds random.Random used for fault rates
      "regionsDown": ["us-east-1"],      # every call signed for these regions -> 503
      "unknownModels": ["*titan*"],      # -> ResourceNotFoundException 404
      "modelIdPattern": "<regex>",       # ids not matching -> ValidationException 400
      "latency": {"*": {"fixedMs": 0, "perTokenMs": 0},
                  "*claude-opus*": {"fixedMs": 300, "perTokenMs": 15}},
      "replies": {"*nova-micro*": "complex",    # a fixed answer text for matching models, or per prompt
                  "*nova-lite*": {"What is 2+2?": "5", "*": "otherwise this"}},  # keyed by the last user message
      "faults": {
        "*": {"throttleRate": 0.0, "errorRate": 0.0, "timeoutRate": 0.0, "timeoutSeconds": 2.0,
              "down": false, "failAfterEvents": null, "errorCode": null,
              "streamErrorType": "modelStreamErrorException"},
        "us.anthropic.claude-haiku-4-5-20251001-v1:0": {"throttleRate": 0.2}
      },
      "capacity": {"provisioningSeconds": 2, "failProvisioning": false,     # or ["pt-*"]: names that end Failed
                   "checkCustomModels": true, "deploymentBaseModels": ["*amazon.nova*"]},
      "customization": {"jobSeconds": 3,                 # InProgress, then Completed or Failed
                        "failJobs": false,               # or ["doomed-*"]: job / custom model names that end Failed
                        "minimumRecords": 100,           # fewer distillation prompts fail the job
                        "outcomes": {"worse-*": "base"}, # custom model name -> "teacher" | "base" | "<model id>"
                        "s3EndpointUrl": null},          # where jobs read S3 (null: boto3's AWS_ENDPOINT_URL_S3 ...)
      "controlPlaneFallback": "http://127.0.0.1:5000",   # other bedrock control-plane calls go there (null: 404)
      "sagemakerEndpoints": {"support-tgi": {"container": "tgi-messages", "inferenceComponents": []},
                             "domain-lmi": {"container": "lmi-chat", "inferenceComponents": ["lora-a"]}},
      "sagemakerPartBytes": 7            # a SageMaker stream's PayloadParts carry at most this many bytes
    }

Keys of ``latency``/``faults`` are model patterns: ``"*"`` (default), a glob (``*?[``) matched
against the whole id, or a plain string matched as exact id or substring. For one model the entries
are layered ``"*"`` < matching patterns (shorter first) < exact id; ``null`` means "inherit".
Fault fields: ``throttleRate``/``errorRate``/``timeoutRate`` in 0..1 (one random draw per call;
errors are ServiceUnavailableException or InternalServerException; a timeout sleeps
``timeoutSeconds`` then answers ModelTimeoutException 408), ``down`` (always 503),
``errorCode`` (always that error), ``failAfterEvents: N`` (streams send N events then an exception
event of type ``streamErrorType``; no effect if the stream has at most N events).

Control endpoints: ``GET /_sim/health``, ``GET /_sim/config``, ``PUT /_sim/config`` (replace the
given top-level keys), ``POST /_sim/faults`` ``{"model": ..., <fault fields>}`` (merge),
``POST /_sim/latency`` ``{"model": ..., "fixedMs", "perTokenMs"}`` (merge), ``POST /_sim/reset``
(back to the loaded defaults, reseed, clear counters), ``GET /_sim/stats`` (per model: calls, successes, errors by
code; a stream whose caller closed the connection before its end counts as the error ``clientDisconnected``).
``GET /_sim/requests`` (the last 100 Converse requests: model, operation, requestMetadata, whether tools were given).
Tools, structured output, guardrails and cache points are answered by ``local/simulator_features.py``.
``GET /_sim/capacity`` (what the control plane created, with status; the SageMaker endpoints), ``POST
/_sim/imported-models`` and ``PUT /_sim/sagemaker-endpoints`` are described below; ``POST /_sim/reset`` also deletes
every capacity resource, job and custom model and restores the configured endpoints. ``GET /_sim/customization``
lists the customization jobs and custom models (below).

Capacity (``local/simulator_capacity.py``, ``local/simulator_control_plane.py``)
-----------------------------------------------------------------------------
A boto3 ``bedrock`` client with ``endpoint_url=sim.url`` (``sim.control_client()``) creates, gets, lists, updates and
deletes Provisioned Throughput (``/provisioned-model-throughput[s]``: ``modelUnits``, ``provisionedModelName``,
``modelId`` a foundation model id or ARN or a custom model ARN, ``commitmentDuration`` OneMonth|SixMonths,
``clientRequestToken`` idempotent) and on-demand custom model deployments (``/model-customization/custom-model-
deployments``: ``modelDeploymentName``, ``modelArn`` of a custom model whose base matches
``capacity.deploymentBaseModels``), and gets, lists and deletes imported models (``/imported-models``). ARNs:
``arn:aws:bedrock:<region>:123456789012:provisioned-model/<12 hex>`` (``custom-model-deployment/``, ``imported-model/``).
A Provisioned Throughput is ``Creating`` for ``capacity.provisioningSeconds`` (default 2; 0 = at once), then
``InService`` (``Failed`` when ``capacity.failProvisioning`` is true or a list of name patterns matching it); a deployment
``Creating`` then ``Active``. ``POST /_sim/imported-models {"name", "coldStartSeconds": 3, "idleSeconds": 300,
"modelArchitecture": "llama"}`` (``sim.add_imported_model``) registers an imported model (Custom Model Import needs
weights in S3) and returns its ARN. Every other bedrock control-plane request is forwarded unchanged to the
``controlPlaneFallback`` URL (local mode: moto); without one it is a 404 ``UnknownOperationException`` naming the
operation. With a fallback and ``capacity.checkCustomModels`` (default true) a custom model must exist there.

Invocations by those ARNs go through the usual ``/model/{modelId}/...`` paths, the ARN being the simulator's model id
(``replies``, ``latency``, ``faults``, stats): a resource in service answers as the model it serves (its InvokeModel body
is that model's family); one still Creating (or Failed) is a ValidationException; one never created or deleted a
ResourceNotFoundException (404); a custom model ARN called on demand a ValidationException ("The provided model doesn't
support on-demand throughput."); an imported model whose copy is idle (never called, or not within ``idleSeconds``)
answers ``ModelNotReadyException`` (429, "Model is not ready for inference. Wait and try your request again.") and is
ready ``coldStartSeconds`` after that call (0: always ready).

Customization (``local/simulator_customization*.py``, ``local/simulator_training_data.py``)
-----------------------------------------------------------------------------------------
The ``bedrock`` client's create|get|list|stop_model_customization_job and get|list|delete_custom_model (moto's jobs never
end, drop ``customizationConfig`` and refuse distillation from invocation logs). FINE_TUNING, CONTINUED_PRE_TRAINING and
DISTILLATION jobs really read their data from S3 with boto3 (``customization.s3EndpointUrl``; null: boto3's own
resolution): ``trainingDataConfig.s3Uri`` (a ``.jsonl`` object or a prefix: prompt/completion or
``bedrock-conversation-2024`` records, ``{"input"}`` for continued pre-training, conversation prompts for distillation),
or for DISTILLATION ``invocationLogsConfig`` (the invocation log records under ``invocationLogSource.s3Uri`` whose
``requestMetadata`` passes ``requestMetadataFilters``: ``equals``, ``notEquals``, ``andAll``, ``orAll``; with
``usePromptResponse`` only records with an answer). A line that is no such record, no data, or fewer distillation records
than ``customization.minimumRecords`` (default 100) make the job ``Failed`` with a ``failureMessage`` (the object and
line, or the counts); more than 15,000 are capped. A job is ``InProgress`` for ``customization.jobSeconds`` (default 3),
then ``Completed`` or ``Failed`` (also when ``customization.failJobs`` is true or a pattern matching its job or custom
model name); ``stop`` while in progress: ``Stopping`` (up to 1 s), then ``Stopped``, with no custom model. A duplicate job
name or custom model name is a ConflictException. A completed job's custom model
(``arn:aws:bedrock:<region>:123456789012:custom-model/<base model id>/<12 hex>``, ``Active``) takes Provisioned
Throughput and deployments; deleting it while they serve it is a ConflictException; called on demand it is a
ValidationException. Through that capacity it answers as scripted: a DISTILLATION model as its teacher, others as their
base model, a FINE_TUNING one a prompt of its training data with that record's completion; ``customization.outcomes``
(``{"<custom model name pattern>": "teacher" | "base" | "<model id>"}``) overrides that. ``GET /_sim/customization``
(``sim.customization()``) lists every job with ``trainingDataUsed`` (``source``, ``objects``, ``matched``, ``records``,
``capped``; for logs ``requestIds``: each record's ``fmgw-request-id`` or ``requestId``) and every custom model with the
model it ``answersAs`` and the capacity ``servedBy``; GetModelCustomizationJob's JSON carries ``trainingDataUsed`` too.

SageMaker (``local/simulator_sagemaker.py``, ``local/simulator_containers.py``)
-----------------------------------------------------------------------------
A boto3 ``sagemaker-runtime`` client with ``endpoint_url=sim.url`` (``sim.sagemaker_client()``) calls ``invoke_endpoint``
and ``invoke_endpoint_with_response_stream`` (``InferenceComponentName`` optional) on the endpoints of the
``sagemakerEndpoints`` setting, ``{"<name>": {"container": "tgi-messages" | "lmi-chat", "inferenceComponents": [...]}}``,
added at run time by ``PUT /_sim/sagemaker-endpoints`` (merge) or ``sim.add_sagemaker_endpoint``. ``tgi-messages`` is
TGI's OpenAI-compatible Messages API (streams as server-sent events ending ``data: [DONE]``), ``lmi-chat`` the LMI
container's chat completions schema (streams as JSON lines); usage is streamed only with
``stream_options.include_usage``, as both containers do. Streams are ``PayloadPart`` events of at most
``sagemakerPartBytes`` (default 7) bytes, cut anywhere. The model id of a call is ``sagemaker/<endpoint>`` or
``sagemaker/<endpoint>/<component>``; errors are SageMaker's (ValidationError, ModelError, ModelNotReadyException...,
``ModelStreamError`` inside a stream); every call is listed by ``GET /_sim/requests`` with its inference component.

Invocation logs: with ``invocation_logs=InvocationLogWriter(...)`` every call is also written as Bedrock writes its model
invocation logs to S3 (``local/simulator_invocation_logs.py``); ``FMGW_INVOCATION_LOGS=1 make local`` does it.

Modules: this one is the public API (``BedrockSimulator``) and the CLI; ``simulator_http`` (server, dispatch,
responses), ``simulator_converse`` and ``simulator_native`` (the operations), ``simulator_eventstream`` (stream
framing), ``simulator_state`` (run-time settings, fault injection, counters), ``simulator_settings`` (defaults,
loading, validation), ``simulator_text`` (token rule, replies), ``simulator_errors`` (Bedrock's error codes),
``simulator_capacity`` and ``simulator_control_plane`` (capacity), ``simulator_customization``,
``simulator_customization_api`` and ``simulator_training_data`` (customization jobs, custom models),
``simulator_sagemaker`` and ``simulator_containers`` (SageMaker Runtime).

CLI: ``python -m local.bedrock_simulator --port 8090 [--host H] [--config FILE] [--control-plane-fallback URL] [--verbose]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# `python -m local.bedrock_simulator` without lambdas/ on the path: the event-stream encoder is fmgateway's
if str(Path(__file__).resolve().parents[1] / "lambdas") not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))
from local.simulator_capacity import register_imported
from local.simulator_customization_api import overview as customization_overview
from local.simulator_http import SimulatorHandler, SimulatorServer
from local.simulator_invocation_logs import InvocationLogWriter
from local.simulator_settings import ENV_CONFIG, camel_case, check_endpoint, load_settings
from local.simulator_state import SimulatorState


class BedrockSimulator:
    """In-process Bedrock Runtime simulator; ``with BedrockSimulator() as sim: ... sim.url``."""

    def __init__(
        self,
        settings: dict | None = None,
        *,
        config_path: str | os.PathLike | None = None,
        use_env: bool = True,
        verbose: bool = False,
        invocation_logs: InvocationLogWriter | None = None,
    ):
        self._state = SimulatorState(load_settings(config_path, use_env=use_env, overrides=settings), verbose)
        self.invocation_logs = invocation_logs  # every call written as Bedrock's invocation logs, when given
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving in a daemon thread; returns the base URL (port 0 = pick a free port)."""
        if self._server is not None:
            return self.url or ""
        self._state.stopping.clear()
        server = SimulatorServer((host, port), SimulatorHandler)
        server.state = self._state
        server.invocation_logs = self.invocation_logs
        if self.invocation_logs is not None:
            self.invocation_logs.start()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="bedrock-simulator", daemon=True)
        self._thread.start()
        shown_host = host if host not in ("", "0.0.0.0") else "127.0.0.1"
        self.url = f"http://{shown_host}:{server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        """Stop serving; pending sleeps (latency, timeouts) are cut short."""
        if self._server is None:
            return
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.invocation_logs is not None:
            self.invocation_logs.stop()
        self._server = self._thread = None

    def __enter__(self) -> BedrockSimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_faults(self, model: str = "*", **fields: Any) -> dict:
        """Merge fault fields (camelCase or snake_case) for a model id/pattern; None clears a field."""
        return self._state.merge_entry("faults", model, fields)

    def set_latency(self, model: str = "*", **fields: Any) -> dict:
        """Merge latency fields (fixedMs/fixed_ms, perTokenMs/per_token_ms) for a model id/pattern."""
        return self._state.merge_entry("latency", model, fields)

    def configure(self, **settings: Any) -> dict:
        """Replace top-level settings keys (like ``PUT /_sim/config``), e.g. regionsDown=[...]."""
        return self._state.replace({camel_case(k): v for k, v in settings.items()})

    def config(self) -> dict:
        return self._state.snapshot()

    def reset(self) -> None:
        """Back to the settings loaded at construction; reseeds the RNG and clears counters."""
        self._state.reset()

    def stats(self) -> dict:
        return self._state.stats()

    def requests(self) -> list[dict]:
        """The last 100 requests received (like ``GET /_sim/requests``): Converse/InvokeModel (model, operation,
        requestMetadata...) and SageMaker calls (endpoint, inferenceComponent, container, stream)."""
        return self._state.features.requests()

    def capacity(self) -> dict:
        """What exists (like ``GET /_sim/capacity``): Provisioned Throughput, deployments, imported models, endpoints."""
        return {**self._state.capacity.overview(), "sagemakerEndpoints": self._state.setting("sagemakerEndpoints")}

    def customization(self) -> dict:
        """Jobs and custom models (like ``GET /_sim/customization``): status, training data used, what each answers as."""
        return customization_overview(self._state)

    def add_imported_model(
        self,
        name: str,
        cold_start_seconds: float = 3,
        idle_seconds: float = 300,
        architecture: str = "llama",
        region: str = "us-east-1",
    ) -> str:
        """Register an imported model (like ``POST /_sim/imported-models``); returns its ARN."""
        body = {
            "name": name,
            "coldStartSeconds": cold_start_seconds,
            "idleSeconds": idle_seconds,
            "modelArchitecture": architecture,
        }
        return register_imported(self._state.capacity, region, body)["modelArn"]

    def add_sagemaker_endpoint(self, name: str, container: str, components: Iterable[str] = ()) -> dict:
        """Add (or replace) a SageMaker endpoint (like ``PUT /_sim/sagemaker-endpoints``)."""
        endpoint = check_endpoint(name, {"container": container, "inferenceComponents": list(components)})
        endpoints = {**self._state.setting("sagemakerEndpoints"), name: endpoint}
        return self._state.replace({"sagemakerEndpoints": endpoints})["sagemakerEndpoints"]

    def client(self, region_name: str = "us-east-1", total_max_attempts: int = 1, **kwargs: Any) -> Any:
        """boto3 bedrock-runtime client for this simulator; by default no retries (boto3 imported lazily)."""
        return self._boto("bedrock-runtime", region_name, total_max_attempts, **kwargs)

    def control_client(self, region_name: str = "us-east-1", total_max_attempts: int = 1, **kwargs: Any) -> Any:
        """boto3 ``bedrock`` (control plane) client for this simulator."""
        return self._boto("bedrock", region_name, total_max_attempts, **kwargs)

    def sagemaker_client(self, region_name: str = "us-east-1", total_max_attempts: int = 1, **kwargs: Any) -> Any:
        """boto3 ``sagemaker-runtime`` client for this simulator."""
        return self._boto("sagemaker-runtime", region_name, total_max_attempts, **kwargs)

    def _boto(self, service: str, region_name: str, total_max_attempts: int, **kwargs: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region_name,
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": total_max_attempts, "mode": "standard"}),
            **kwargs,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.bedrock_simulator",
        description="Amazon Bedrock Runtime simulator (FM Gateway local mode).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--config", help=f"settings JSON file (applied after ${ENV_CONFIG})")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--control-plane-fallback", metavar="URL", help="forward other bedrock control-plane calls here")
    args = parser.parse_args(argv)
    stop = threading.Event()
    # Both, explicitly: a process started with SIGINT ignored (nohup, `&` in a script, some CI runners)
    # inherits SIG_IGN, and Python then raises no KeyboardInterrupt for Ctrl-C.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    overrides = {"controlPlaneFallback": args.control_plane_fallback} if args.control_plane_fallback else None
    sim = BedrockSimulator(overrides, config_path=args.config, verbose=args.verbose)
    url = sim.start(args.host, args.port)
    print(f"Bedrock simulator listening on {url}", flush=True)
    print(f"control: {url}/_sim/config | {url}/_sim/stats | {url}/_sim/capacity | {url}/_sim/customization", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        print("Bedrock simulator stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
