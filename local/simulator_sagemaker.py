"""SageMaker Runtime on the simulator's port, for an unmodified boto3 ``sagemaker-runtime`` client: ``InvokeEndpoint``
(``POST /endpoints/{EndpointName}/invocations``) and ``InvokeEndpointWithResponseStream``
(``POST /endpoints/{EndpointName}/invocations-response-stream``), the inference component in the
``X-Amzn-SageMaker-Inference-Component`` header (botocore's ``sagemaker-runtime`` 2017-05-13 service model).

Endpoints come from the ``sagemakerEndpoints`` settings key (``PUT /_sim/sagemaker-endpoints`` merges more at run time):
``{"<name>": {"container": "tgi-messages" | "lmi-chat", "inferenceComponents": ["lora-a", ...]}}``; the container's
schema is ``local.simulator_containers``'. An unknown endpoint is a ``ValidationError`` (400, "Endpoint <name> of account
123456789012 not found."); an endpoint with inference components must be called with one of them (else
``ValidationError``, ErrorCode ``INFERENCE_COMPONENT_NAME_MISSING``), and one without takes none. A body the container
refuses is a ``ModelError`` (424) carrying the container's status and body, as SageMaker wraps container errors.

The simulator's model id of a call is ``sagemaker/<endpoint>`` or ``sagemaker/<endpoint>/<component>``: ``replies``,
``latency``, ``faults`` and ``/_sim/stats`` patterns match it. Injected faults become SageMaker's errors:
ThrottlingException (400), ServiceUnavailable (503), InternalFailure (500), ModelError (424) for a model timeout or
error, ModelNotReadyException (429), ValidationError (400) for validation and not-found; ``failAfterEvents: N`` ends a
stream after N container messages with a ``ModelStreamError`` (ErrorCode ``StreamBroken``) exception event, or an
``InternalStreamFailure`` when ``streamErrorType`` is another type.

Streams are AWS event streams of ``PayloadPart`` events whose payload is the container's raw bytes, cut every
``sagemakerPartBytes`` (default 7) bytes of the whole answer, so parts split JSON objects, SSE lines and even UTF-8
characters: a client must reassemble them. Every call is recorded for ``GET /_sim/requests`` (endpoint, inference
component, container, whether the operation streamed and whether the body asked for a stream)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from local import simulator_containers as containers
from local.simulator_capacity import ACCOUNT
from local.simulator_errors import SimError
from local.simulator_eventstream import encode_event
from local.simulator_state import CallPlan, SimulatorState
from local.simulator_text import count_tokens, reply_text

OPERATIONS = {"invocations": "InvokeEndpoint", "invocations-response-stream": "InvokeEndpointWithResponseStream"}
COMPONENT_HEADER = "X-Amzn-SageMaker-Inference-Component"
VARIANT = "AllTraffic"
COMPONENT_MISSING = (
    "Inference Component Name header is required for endpoints to which you plan to deploy inference components. "
    "Please include Inference Component Name header or consider using SageMaker models."
)
# the simulator's (Bedrock) error codes -> SageMaker Runtime's code and HTTP status
ERRORS = {
    "ValidationException": ("ValidationError", 400),
    "ResourceNotFoundException": ("ValidationError", 400),
    "AccessDeniedException": ("AccessDeniedException", 400),
    "ThrottlingException": ("ThrottlingException", 400),
    "ServiceQuotaExceededException": ("ThrottlingException", 400),
    "ServiceUnavailableException": ("ServiceUnavailable", 503),
    "InternalServerException": ("InternalFailure", 500),
    "ModelTimeoutException": ("ModelError", 424),
    "ModelErrorException": ("ModelError", 424),
    "ModelNotReadyException": ("ModelNotReadyException", 429),
}


class Streamed(NamedTuple):
    """An InvokeEndpointWithResponseStream answer: its HTTP headers and its encoded event-stream messages (the call's
    outcome is counted when the messages run out)."""

    headers: dict[str, str]
    messages: Iterator[bytes]
    model_id: str


def _error(code: str, message: str, status: int, **fields: Any) -> SimError:
    return SimError(code, message, status, body={"ErrorCode": fields.pop("error_code", code), "Message": message, **fields})


def _model_error(endpoint: str, region: str, status: int, original: str, server: bool = False) -> SimError:
    kind = "server" if server else "client"
    log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
    message = (
        f'Received {kind} error ({status}) from primary with message "{original}". See '
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={log_group} "
        f"in account {ACCOUNT} for more information."
    )
    return _error(
        "ModelError", message, 424, error_code=f"{kind.upper()}_ERROR_FROM_MODEL", OriginalStatusCode=status,
        OriginalMessage=original, LogStreamArn=f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{log_group}",
    )  # fmt: skip


def sagemaker_error(exc: SimError, endpoint: str, region: str) -> SimError:
    """A simulator error as SageMaker Runtime answers it."""
    if exc.body.get("ErrorCode"):  # already SageMaker's
        return exc
    code, status = ERRORS.get(exc.code, ("InternalFailure", 500))
    if exc.code == "ResourceNotFoundException":
        return _error(code, f"Endpoint {endpoint} of account {ACCOUNT} not found.", status)
    if exc.code == "ModelTimeoutException":
        original = "Your invocation timed out while waiting for a response from container primary."
        return _model_error(endpoint, region, 0, original, server=True)
    if code == "ModelError":
        return _model_error(endpoint, region, 500, exc.message, server=True)
    return _error(code, exc.message, status)


def invoke(
    state: SimulatorState, endpoint: str, path_kind: str, headers: Any, raw: bytes, region: str
) -> tuple[bytes, dict[str, str]] | Streamed:
    """One InvokeEndpoint call: (body, headers), or the stream of InvokeEndpointWithResponseStream."""
    operation = OPERATIONS[path_kind]
    component = headers.get(COMPONENT_HEADER) or None
    model_id = f"sagemaker/{endpoint}" + (f"/{component}" if component else "")
    config = state.setting("sagemakerEndpoints").get(endpoint)
    container: str = config["container"] if config else ""
    entry = {
        "modelId": model_id,
        "operation": operation,
        "endpoint": endpoint,
        "inferenceComponent": component,
        "container": container or None,
        "stream": path_kind != "invocations",
        "bodyStream": None,
    }
    state.record(model_id, operation=operation)
    try:
        if config is None:
            raise _error("ValidationError", f"Endpoint {endpoint} of account {ACCOUNT} not found.", 400)
        if config["inferenceComponents"] and component is None:
            raise _error("ValidationError", COMPONENT_MISSING, 400, error_code="INFERENCE_COMPONENT_NAME_MISSING")
        if component is not None and component not in config["inferenceComponents"]:
            raise _error("ValidationError", f"Inference component {component} not found for endpoint {endpoint}.", 400)
        plan = state.plan(model_id, region, check_id=False)
        try:
            body = json.loads(raw or b"null")
            request = containers.parse(container, body)
        except ValueError:
            raise containers.refuse(container, "the request body is not valid JSON") from None
        entry["bodyStream"] = request.stream
        state.apply_faults(plan)
    except containers.ContainerError as exc:
        error = _model_error(endpoint, region, exc.status, json.dumps(exc.body))
        state.record(model_id, error=error.code)
        raise error from None
    except SimError as exc:
        error = sagemaker_error(exc, endpoint, region)
        state.record(model_id, error=error.code)
        raise error from None
    finally:
        state.features.record_entry(entry)
    return _answer(state, model_id, container, path_kind, request, plan)


def _answer(
    state: SimulatorState, model_id: str, container: str, path_kind: str, request: containers.ChatRequest, plan: CallPlan
) -> tuple[bytes, dict[str, str]] | Streamed:
    reply = state.reply_for(model_id, request.prompt) or reply_text(model_id, request.prompt)
    text, reason = containers.cut(container, reply, request)
    counts = containers.usage(request, text)
    latency = plan.latency
    if request.stream:
        messages = containers.stream(container, model_id, text, reason, counts, request.include_usage)
    else:
        messages = [(containers.answer(container, model_id, text, reason, counts), text)]
    content_type = containers.content_type(container, request.stream)
    if path_kind == "invocations":  # the whole answer (a streamed body's events, all of them, when it asked for a stream)
        state.sleep_ms(latency["fixedMs"] + latency["perTokenMs"] * counts["completion_tokens"])
        state.record(model_id, success=True)
        return b"".join(data for data, _ in messages), {
            "Content-Type": content_type,
            "x-Amzn-Invoked-Production-Variant": VARIANT,
        }
    delays = [latency["perTokenMs"] * count_tokens(piece) for _, piece in messages]
    delays[0] += latency["fixedMs"]
    headers = {
        "Content-Type": "application/vnd.amazon.eventstream",
        "X-Amzn-SageMaker-Content-Type": content_type,
        "x-Amzn-Invoked-Production-Variant": VARIANT,
    }
    chunks = [(data, delay) for (data, _), delay in zip(messages, delays, strict=True)]
    part_bytes = int(state.setting("sagemakerPartBytes"))
    return Streamed(headers, payload_parts(state, model_id, chunks, plan.faults, part_bytes), model_id)


def payload_parts(
    state: SimulatorState, model_id: str, chunks: list[tuple[bytes, float]], faults: dict, size: int
) -> Iterator[bytes]:
    """``PayloadPart`` events of at most ``size`` bytes cut from the whole byte stream (a part may end one container
    message and begin the next; the last bytes of a message wait for the next one); the injected stream error after
    ``failAfterEvents`` container messages. Counts the call's success or error."""
    fail_after = faults["failAfterEvents"]
    pending = b""
    for index, (data, delay_ms) in enumerate(chunks):
        if fail_after is not None and index == int(fail_after):
            if pending:
                yield _part(pending)
            if faults["streamErrorType"] == "modelStreamErrorException":
                kind, body = (
                    "ModelStreamError",
                    {"Message": f"Injected stream error after {index} messages (simulated).", "ErrorCode": "StreamBroken"},
                )
            else:
                kind, body = "InternalStreamFailure", {"Message": f"Injected stream failure after {index} messages (simulated)."}
            headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
            yield encode_event(headers, json.dumps(body).encode())
            state.record(model_id, error=kind)
            return
        state.sleep_ms(delay_ms)
        pending += data
        while len(pending) >= size:
            yield _part(pending[:size])
            pending = pending[size:]
    if pending:
        yield _part(pending)
    state.record(model_id, success=True)


def _part(data: bytes) -> bytes:
    headers = {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"}
    return encode_event(headers, data)
