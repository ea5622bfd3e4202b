"""The Bedrock simulator's HTTP server: request dispatch (``/model/{modelId}/<operation>`` to
``local.simulator_converse`` or ``local.simulator_native``, capacity ARNs resolved by ``local.simulator_capacity``;
``/endpoints/{name}/invocations[-response-stream]`` to ``local.simulator_sagemaker``; ``/_sim/*`` to the control
endpoints; any other path to the Bedrock control plane, ``local.simulator_control_plane``), the client region read from
the SigV4 credential scope or the Host, and the responses: JSON bodies, Bedrock error responses, and event streams sent
chunked as they are produced."""

from __future__ import annotations

import json
import re
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from local import (
    simulator_capacity,
    simulator_control_plane,
    simulator_converse,
    simulator_customization_api,
    simulator_native,
    simulator_sagemaker,
)
from local.simulator_errors import SimError
from local.simulator_eventstream import EventStream, fails_after, stream_messages
from local.simulator_invocation_logs import InvocationLogWriter
from local.simulator_native import header_metadata
from local.simulator_settings import check_endpoint
from local.simulator_state import SimulatorState

SIMULATOR_HEADER = "x-fmgw-simulator"
CLIENT_DISCONNECTED = "clientDisconnected"  # stats: a stream whose caller closed the connection before its end
OPERATIONS = ("converse", "converse-stream", "invoke", "invoke-with-response-stream")

_CRED_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
_HOST_RE = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws")


def client_region(headers: Any) -> str | None:
    """The region the client signed for (SigV4 credential scope), else the one of a ``bedrock-runtime.<region>.`` Host."""
    match = _CRED_RE.search(headers.get("Authorization", "")) or _HOST_RE.search(headers.get("Host", ""))
    return match.group(1) if match else None


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    state: SimulatorState
    invocation_logs: InvocationLogWriter | None = None


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # avoid ~40 ms delayed-ACK stalls on small responses
    server_version = "FMGWBedrockSimulator/1.0"
    server: SimulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.verbose:
            super().log_message(format, *args)

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # a caller gone between requests (an unread stream it dropped)
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        self.request_id = str(uuid.uuid4())
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/_sim/"):
                self._control(method, path, raw)
                return
            parts = path.split("/")
            if method == "POST" and len(parts) == 4 and parts[1] == "model" and parts[3] in OPERATIONS:
                self._model_call(unquote(parts[2]), parts[3], raw)
            elif method == "POST" and len(parts) == 4 and parts[1] == "endpoints" and parts[3] in simulator_sagemaker.OPERATIONS:
                self._sagemaker_call(unquote(parts[2]), parts[3], raw)
            else:
                region = client_region(self.headers) or "us-east-1"
                answer = simulator_control_plane.handle(self.server.state, method, self.path, self.headers, raw, region)
                if isinstance(answer, simulator_control_plane.Forwarded):
                    self._send_raw(answer.status, answer.headers, answer.body)
                else:
                    self._send_json(*answer)
        except SimError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- responses
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(SIMULATOR_HEADER, "true")
        self.send_header("x-amzn-RequestId", self.request_id)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, exc: SimError) -> None:
        self._send_json(exc.status, exc.body, {"x-amzn-ErrorType": exc.code})

    def _send_raw(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        """A response as another server gave it (the control-plane fallback's)."""
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_chunked(self, model_id: str, headers: dict[str, str], messages: Any) -> bool:
        """An event stream, each message sent as it is produced; False when the caller hung up before its end."""
        self.send_response(200)
        for key, value in {**headers, "Transfer-Encoding": "chunked", SIMULATOR_HEADER: "true"}.items():
            self.send_header(key, value)
        self.send_header("x-amzn-RequestId", self.request_id)
        self.end_headers()
        try:
            for message in messages:
                self.wfile.write(f"{len(message):X}\r\n".encode() + message + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            # the caller closed the stream before its end: counted, so tests can see the upstream read stop
            self.server.state.record(model_id, error=CLIENT_DISCONNECTED)
            self.close_connection = True
            return False

    def _send_stream(self, model_id: str, stream: EventStream, started: float) -> None:
        headers = {"Content-Type": "application/vnd.amazon.eventstream", "X-Amzn-Bedrock-Content-Type": "application/json"}
        if not self._send_chunked(model_id, headers, stream_messages(self.server.state, model_id, stream, started)):
            return
        if fails_after(stream) is not None:
            self._log(error_code=stream.faults["streamErrorType"])
        else:
            tokens = stream.usage.get("inputTokens", 0), stream.usage.get("outputTokens", 0)
            self._log(call=(self._logged_input, stream.logged, *tokens))

    # ---- control endpoints
    def _control(self, method: str, path: str, raw: bytes) -> None:
        state = self.server.state
        try:
            body = json.loads(raw) if raw else {}
            if method == "GET" and path == "/_sim/health":
                return self._send_json(200, {"status": "ok", "simulator": True})
            if method == "GET" and path == "/_sim/config":
                return self._send_json(200, state.snapshot())
            if method == "GET" and path == "/_sim/stats":
                return self._send_json(200, state.stats())
            if method == "GET" and path == "/_sim/requests":
                return self._send_json(200, {"requests": state.features.requests()})
            if method == "GET" and path == "/_sim/capacity":
                return self._send_json(
                    200, {**state.capacity.overview(), "sagemakerEndpoints": state.setting("sagemakerEndpoints")}
                )
            if method == "GET" and path == "/_sim/customization":
                return self._send_json(200, simulator_customization_api.overview(state))
            if method == "POST" and path == "/_sim/imported-models":
                region = body.pop("region", None) or client_region(self.headers) or "us-east-1"
                return self._send_json(201, simulator_capacity.register_imported(state.capacity, region, body))
            if method == "PUT" and path == "/_sim/sagemaker-endpoints":
                added = {name: check_endpoint(name, endpoint) for name, endpoint in body.items()}
                endpoints = state.replace({"sagemakerEndpoints": {**state.setting("sagemakerEndpoints"), **added}})
                return self._send_json(200, {"sagemakerEndpoints": endpoints["sagemakerEndpoints"]})
            if method == "PUT" and path == "/_sim/config":
                return self._send_json(200, state.replace(body))
            if method == "POST" and path in ("/_sim/faults", "/_sim/latency"):
                fields = dict(body)
                model = fields.pop("model", "*")
                entry = state.merge_entry(path.rsplit("/", 1)[1], model, fields)
                return self._send_json(200, {"model": model, path.rsplit("/", 1)[1]: entry})
            if method == "POST" and path == "/_sim/reset":
                state.reset()
                return self._send_json(200, state.snapshot())
        except (ValueError, TypeError, AttributeError, re.error) as exc:
            raise SimError("ValidationException", f"Bad simulator control request: {exc}") from exc
        raise SimError("UnknownOperationException", f"No control endpoint {method} {path}", 404)

    # ---- model calls
    def _model_call(self, model_id: str, operation: str, raw: bytes) -> None:
        state = self.server.state
        started = time.monotonic()
        state.record(model_id, operation=operation)
        self._logged = (model_id, operation)
        self._logged_input: Any = None
        self._request_metadata: dict | None = None
        try:
            plan = state.plan(model_id, client_region(self.headers))
            answers_as = state.capacity.resolve(model_id)  # a Provisioned Throughput, deployment or imported model ARN
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                raise SimError("ValidationException", "Request body is not valid JSON.") from exc
            if not isinstance(body, dict):
                raise SimError("ValidationException", "Request body must be a JSON object.")
        except SimError as exc:
            state.record(model_id, error=exc.code)
            self._log(error_code=exc.code)
            raise
        self._logged_input = {key: value for key, value in body.items() if key != "requestMetadata"}
        metadata = body.get("requestMetadata")
        self._request_metadata = metadata if isinstance(metadata, dict) else None
        try:
            if operation.startswith("invoke"):
                answer = simulator_native.invoke(state, model_id, operation, body, self.headers, plan, started, answers_as)
            else:
                answer = simulator_converse.converse(state, model_id, operation, body, plan, started)
        except SimError as exc:
            self._log(error_code=exc.code)
            raise
        if isinstance(answer, EventStream):
            self._send_stream(model_id, answer, started)
            return
        self._send_json(200, *answer)
        answer_body, headers = answer
        if operation == "converse":
            tokens = answer_body["usage"]["inputTokens"], answer_body["usage"]["outputTokens"]
        else:  # InvokeModel: Bedrock's token headers
            tokens = tuple(int(headers.get(f"X-Amzn-Bedrock-{n}-Token-Count", 0)) for n in ("Input", "Output"))  # type: ignore[assignment]
        self._log(call=(self._logged_input, answer_body, *tokens))

    def _sagemaker_call(self, endpoint: str, path_kind: str, raw: bytes) -> None:
        region = client_region(self.headers) or "us-east-1"
        answer = simulator_sagemaker.invoke(self.server.state, endpoint, path_kind, self.headers, raw, region)
        if isinstance(answer, simulator_sagemaker.Streamed):
            self._send_chunked(answer.model_id, answer.headers, answer.messages)
        else:
            data, headers = answer
            self.send_response(200)
            for key, value in {**headers, "Content-Length": str(len(data)), SIMULATOR_HEADER: "true"}.items():
                self.send_header(key, value)
            self.send_header("x-amzn-RequestId", self.request_id)
            self.end_headers()
            self.wfile.write(data)

    def _log(self, call: tuple | None = None, error_code: str | None = None) -> None:
        """The call in the invocation log, when the simulator writes one (``FMGW_INVOCATION_LOGS=1``)."""
        writer = self.server.invocation_logs
        if writer is None:
            return
        model_id, operation = self._logged
        try:
            metadata = header_metadata(self.headers) if operation.startswith("invoke") else self._request_metadata
        except SimError:  # a malformed header: the call was refused for it, and Bedrock logs no metadata then
            metadata = None
        region = client_region(self.headers) or "us-east-1"
        writer.record(operation, model_id, self.request_id, region, metadata, call, error_code)
