"""The Bedrock control plane on the simulator's port, for an unmodified boto3 ``bedrock`` client: the capacity
operations (Provisioned Throughput, custom model deployments, imported models) answered from ``local.simulator_capacity``
and the model customization operations (jobs, custom models) from ``local.simulator_customization_api``, with the REST
paths, members and status codes of botocore's service model (``bedrock`` 2023-04-20); every other request forwarded
unchanged to ``controlPlaneFallback`` (local mode: its moto server, which keeps serving invocation logging...), or
without one answered 404 ``UnknownOperationException`` naming the operation.

A custom model named by a Provisioned Throughput or a deployment is looked up among the simulator's own custom models
first (it answers as the base model, and its replies are its scripted model's: ``local.simulator_state.reply_for``);
otherwise it must exist in the fallback when one is configured and ``capacity.checkCustomModels`` is true (else
ResourceNotFoundException, as Bedrock); the model it answers as is the base model of its ARN
(``custom-model/<base model>/<id>``) or the ``baseModelArn`` the fallback describes."""

from __future__ import annotations

import functools
import http.client
import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

from local import simulator_capacity as capacity_
from local import simulator_customization_api as customization_api
from local.simulator_capacity import DEPLOYMENT, IMPORTED, PROVISIONED, Resource
from local.simulator_errors import SimError
from local.simulator_settings import pattern_matches
from local.simulator_state import SimulatorState

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}
_FOUNDATION_ARN = re.compile(r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*::foundation-model/(.+)$")
_CUSTOM_ARN = re.compile(r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*:\d{12}:custom-model/(.+)$")


class Call(NamedTuple):
    state: SimulatorState
    region: str
    body: dict
    query: dict[str, str]
    identifier: str  # the path parameter (decoded), or ""


class Forwarded(NamedTuple):
    """The fallback's answer, relayed as it came."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def handle(
    state: SimulatorState, method: str, raw_path: str, headers: Any, raw: bytes, region: str
) -> tuple[int, dict] | Forwarded:
    """A bedrock control-plane request: (HTTP status, JSON body) of a capacity operation, or the fallback's answer."""
    path, _, query = raw_path.partition("?")
    parts = [unquote(part) for part in path.strip("/").split("/")]
    for verb, shape, operation, status in ROUTES:
        if verb == method and len(shape) == len(parts) and all(s is None or s == p for s, p in zip(shape, parts, strict=True)):
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise SimError("ValidationException", "Request body is not valid JSON.") from exc
            if not isinstance(body, dict):
                raise SimError("ValidationException", "Request body must be a JSON object.")
            fields = {key: values[0] for key, values in parse_qs(query).items()}
            identifier = next((part for s, part in zip(shape, parts, strict=True) if s is None), "")
            return status, operation(Call(state, region, body, fields, identifier))
    fallback = state.snapshot()["controlPlaneFallback"]
    if fallback:
        return forward(fallback, method, raw_path, headers, raw)
    name = operation_name(method, path) or f"{method} {path}"
    raise SimError(
        "UnknownOperationException", f"The simulator does not serve the bedrock operation {name} (no controlPlaneFallback).", 404
    )


def forward(base_url: str, method: str, raw_path: str, headers: Any, raw: bytes) -> Forwarded:
    """The request as it came (signature included) to the fallback; its answer as it came."""
    url = urlsplit(base_url)
    connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(url.hostname or "127.0.0.1", url.port, timeout=60)
    try:
        sent = {key: value for key, value in headers.items() if key.lower() not in _HOP_BY_HOP}
        connection.request(method, url.path.rstrip("/") + raw_path, body=raw or None, headers=sent)
        response = connection.getresponse()
        data = response.read()
    except OSError as exc:
        raise SimError("ServiceUnavailableException", f"The control-plane fallback {base_url} did not answer: {exc}") from exc
    finally:
        connection.close()
    kept = [(key, value) for key, value in response.getheaders() if key.lower() not in _HOP_BY_HOP]
    return Forwarded(response.status, kept, data)


@functools.cache
def _operations() -> list[tuple[str, re.Pattern, str]]:
    """(method, path pattern, operation name) of every bedrock operation in botocore's service model."""
    try:
        from botocore.loaders import Loader

        model = Loader().load_service_model("bedrock", "service-2")
    except Exception:
        return []
    routes = []
    for name, operation in model["operations"].items():
        uri = operation["http"]["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        routes.append((operation["http"]["method"], re.compile(f"^{pattern}/?$"), name))
    return sorted(routes, key=lambda route: route[1].pattern.count("[^/]+"))


def operation_name(method: str, path: str) -> str | None:
    return next((name for verb, pattern, name in _operations() if verb == method and pattern.match(path)), None)


# ---- the models a capacity resource serves


def served_model(call: Call, model_id: Any, member: str, custom_only: bool = False) -> tuple[str, str | None]:
    """(model ARN, model id it answers as) for a foundation model id or ARN, or a custom model ARN or name."""
    if not isinstance(model_id, str) or not model_id:
        raise SimError("ValidationException", f"{member} is required.")
    foundation = _FOUNDATION_ARN.match(model_id)
    if not custom_only and foundation:
        return model_id, foundation.group(1)
    if not custom_only and "." in model_id and not model_id.startswith("arn:"):
        return f"arn:aws:bedrock:{call.region}::foundation-model/{model_id}", model_id
    custom = _CUSTOM_ARN.match(model_id)
    if custom is None and (model_id.startswith("arn:") or custom_only):
        raise SimError("ValidationException", f"{member} {model_id} is not a custom model ARN.")
    if custom is not None and custom.group(1).startswith("imported/"):
        raise SimError("ValidationException", f"{member}: imported models take no Provisioned Throughput or deployment.")
    own = call.state.customization.find_model(model_id)
    if own is not None:  # one of the simulator's custom models (by ARN, or by name)
        return own.arn, own.job.base_model_id
    segments = custom.group(1).split("/") if custom else []
    base = segments[0] if len(segments) == 2 and "." in segments[0] else None
    settings = call.state.snapshot()
    fallback = settings["controlPlaneFallback"]
    if fallback and settings["capacity"]["checkCustomModels"]:
        described = _describe_custom_model(fallback, model_id, call.region)
        if described is None:
            raise SimError("ResourceNotFoundException", f"Could not find the custom model {model_id}.")
        model_id = described.get("modelArn") or model_id
        found = _FOUNDATION_ARN.match(described.get("baseModelArn") or "")
        base = base or (found.group(1) if found else None)
    elif custom is None:
        raise SimError("ResourceNotFoundException", f"Could not find the custom model {model_id} (no controlPlaneFallback).")
    return model_id, base


def _describe_custom_model(base_url: str, identifier: str, region: str) -> dict | None:
    """GetCustomModel on the fallback (moto keeps the custom models); None when it has no such model."""
    credential = f"AWS4-HMAC-SHA256 Credential=simulator/20260101/{region}/bedrock/aws4_request, SignedHeaders=host, Signature=0"
    answer = forward(base_url, "GET", f"/custom-models/{quote(identifier, safe='')}", {"Authorization": credential}, b"")
    if answer.status != 200:
        return None
    try:
        return json.loads(answer.body)
    except ValueError:
        return None


# ---- the operations


def _positive_units(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SimError("ValidationException", "modelUnits must be an integer >= 1.")
    return value


def create_provisioned(call: Call) -> dict:
    body = call.body
    units = _positive_units(body.get("modelUnits"))
    commitment = body.get("commitmentDuration")
    if commitment not in (None, "OneMonth", "SixMonths"):
        raise SimError("ValidationException", "commitmentDuration must be OneMonth or SixMonths.")
    capacity_.check_name(body.get("provisionedModelName"), "provisionedModelName")
    model_arn, answers_as = served_model(call, body.get("modelId"), "modelId")
    foundation = f"arn:aws:bedrock:{call.region}::foundation-model/{answers_as or 'unknown.unknown'}"
    params = {key: body.get(key) for key in ("modelUnits", "provisionedModelName", "modelId", "commitmentDuration")}
    extra = {"modelUnits": units, "commitmentDuration": commitment, "foundationModelArn": foundation}
    arn = call.state.capacity.create(
        PROVISIONED,
        call.region,
        body["provisionedModelName"],
        (model_arn, answers_as),
        params,
        body.get("clientRequestToken"),
        **extra,
    )
    return {"provisionedModelArn": arn}


def create_deployment(call: Call) -> dict:
    body = call.body
    capacity_.check_name(body.get("modelDeploymentName"), "modelDeploymentName")
    model_arn, answers_as = served_model(call, body.get("modelArn"), "modelArn", custom_only=True)
    allowed = call.state.snapshot()["capacity"]["deploymentBaseModels"]
    if answers_as and not any(pattern_matches(p, answers_as) for p in allowed):
        raise SimError("ValidationException", f"Custom model deployment is not supported for models based on {answers_as}.")
    params = {key: body.get(key) for key in ("modelDeploymentName", "modelArn", "description")}
    arn = call.state.capacity.create(
        DEPLOYMENT, call.region, body["modelDeploymentName"], (model_arn, answers_as), params, body.get("clientRequestToken"),
        description=body.get("description"),
    )  # fmt: skip
    return {"customModelDeploymentArn": arn}


def _listing(kind: str, key: str, name_of: Callable[[Resource], str]) -> Callable[[Call], dict]:
    """List<kind>: statusEquals, nameContains, modelArnEquals, sortOrder (newest first by default), maxResults and
    nextToken (an offset)."""

    def operation(call: Call) -> dict:
        query, registry = call.query, call.state.capacity
        items = [(r, registry.describe(r, summary=True)) for r in registry.listing(kind)]
        items = [
            (resource, summary)
            for resource, summary in items
            if query.get("statusEquals") in (None, summary.get("status"))
            and query.get("nameContains", "") in name_of(resource)
            and query.get("modelArnEquals") in (None, resource.model_arn)
        ]
        items.sort(key=lambda item: item[0].created, reverse=query.get("sortOrder", "Descending") == "Descending")
        try:
            start, size = int(query.get("nextToken") or 0), int(query.get("maxResults") or 1000)
        except ValueError:
            raise SimError("ValidationException", "nextToken and maxResults must be integers.") from None
        answer: dict[str, Any] = {key: [summary for _, summary in items[start : start + size]]}
        if start + size < len(items):
            answer["nextToken"] = str(start + size)
        return answer

    return operation


def _described(kind: str) -> Callable[[Call], dict]:
    return lambda call: call.state.capacity.describe(call.state.capacity.find(kind, call.identifier))


def _deleted(kind: str) -> Callable[[Call], dict]:
    def operation(call: Call) -> dict:
        call.state.capacity.delete(kind, call.identifier)
        return {}

    return operation


def update_provisioned(call: Call) -> dict:
    model = call.body.get("desiredModelId")
    served = served_model(call, model, "desiredModelId") if model is not None else None
    call.state.capacity.update(PROVISIONED, call.identifier, call.body.get("desiredProvisionedModelName"), served)
    return {}


def update_deployment(call: Call) -> dict:
    served = served_model(call, call.body.get("modelArn"), "modelArn", custom_only=True)
    return {"customModelDeploymentArn": call.state.capacity.update(DEPLOYMENT, call.identifier, served=served)}


def _name(resource: Resource) -> str:
    return resource.name


_PT, _DEPLOYMENTS = "provisioned-model-throughput", ("model-customization", "custom-model-deployments")
ROUTES: list[tuple[str, tuple[str | None, ...], Callable[[Call], dict], int]] = [
    ("POST", (_PT,), create_provisioned, 201),
    ("GET", ("provisioned-model-throughputs",), _listing(PROVISIONED, "provisionedModelSummaries", _name), 200),
    ("GET", (_PT, None), _described(PROVISIONED), 200),
    ("PATCH", (_PT, None), update_provisioned, 200),
    ("DELETE", (_PT, None), _deleted(PROVISIONED), 200),
    ("POST", _DEPLOYMENTS, create_deployment, 202),
    ("GET", _DEPLOYMENTS, _listing(DEPLOYMENT, "modelDeploymentSummaries", _name), 200),
    ("GET", (*_DEPLOYMENTS, None), _described(DEPLOYMENT), 200),
    ("PATCH", (*_DEPLOYMENTS, None), update_deployment, 202),
    ("DELETE", (*_DEPLOYMENTS, None), _deleted(DEPLOYMENT), 200),
    ("GET", ("imported-models",), _listing(IMPORTED, "modelSummaries", _name), 200),
    ("GET", ("imported-models", None), _described(IMPORTED), 200),
    ("DELETE", ("imported-models", None), _deleted(IMPORTED), 200),
    *customization_api.ROUTES,
]
