"""The simulator's Bedrock capacity: Provisioned Throughput, on-demand custom model deployments and imported models
(Custom Model Import), kept in memory as the control plane creates them (``local.simulator_control_plane`` is the HTTP
side) and found again by the invocations that name their ARNs (``Capacity.resolve``).

Ids are 12 lowercase hexadecimal characters: ``arn:aws:bedrock:<region>:123456789012:provisioned-model/<id>``,
``...:custom-model-deployment/<id>``, ``...:imported-model/<id>`` (the region the client signed for). A Provisioned
Throughput is ``Creating`` for ``capacity.provisioningSeconds``, then ``InService`` (``Updating`` for as long again after
an update of its model), or ``Failed`` when ``capacity.failProvisioning`` is true or a pattern matching its name; a
deployment is ``Creating`` then ``Active`` (or ``Failed``) the same way. Imported models are registered at once (no
weights to load); each has one model copy, idle until called: a call to an idle copy (never called, or no call for
``idleSeconds``) starts loading it and answers ``ModelNotReadyException``, as do calls during the ``coldStartSeconds``
it loads; ``coldStartSeconds: 0`` means always ready."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.simulator_errors import SimError
from local.simulator_settings import pattern_matches

ACCOUNT = "123456789012"
PROVISIONED, DEPLOYMENT, IMPORTED = "provisioned-model", "custom-model-deployment", "imported-model"
NAME = re.compile(r"^([0-9a-zA-Z][_-]?){1,63}$")
CAPACITY_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*:\d*:(provisioned-model|custom-model-deployment|imported-model|custom-model)/.+$"
)
# Bedrock's own words (re:Post knowledge center "bedrock-imported-models-modelnotreadyexception"; a custom model called
# on demand: seen in ValidationException messages of InvokeModel)
NOT_READY = "Model is not ready for inference. Wait and try your request again."
NO_ON_DEMAND = "The provided model doesn't support on-demand throughput."
ARCHITECTURES = {"llama": "meta.llama-imported", "mistral": "mistral.imported", "mixtral": "mistral.imported"}


def timestamp(epoch: float) -> str:
    """An ISO 8601 timestamp, as Bedrock's control plane writes them."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Resource:
    """One Provisioned Throughput, custom model deployment or imported model."""

    kind: str
    arn: str
    name: str
    model_arn: str  # what it serves: a foundation-model or custom-model ARN (an imported model: its own ARN)
    answers_as: str | None  # the model id whose InvokeModel body it takes (None: unknown, Converse only)
    created: float  # time.time()
    ready_at: float  # time.monotonic() when Creating ends
    fails: bool
    params: dict  # the create request (an idempotent retry must repeat it)
    extra: dict = field(default_factory=dict)  # modelUnits, commitmentDuration, description, coldStartSeconds...
    modified: float = 0.0
    desired: tuple[str, str | None] | None = None  # an update in progress: (model ARN, answers as)
    updating_until: float = 0.0
    copy_ready_at: float | None = None  # an imported model's copy: loaded (or loading) until then
    last_call: float | None = None

    def status(self, now: float) -> str:
        if now < self.ready_at:
            return "Creating"
        if self.fails:
            return "Failed"
        if self.kind == PROVISIONED:
            return "Updating" if now < self.updating_until else "InService"
        return "Active"

    def settle(self, now: float) -> None:
        """An update whose time has come takes effect."""
        if self.desired is not None and now >= self.updating_until:
            self.model_arn, self.answers_as = self.desired
            self.desired = None


class Capacity:
    """Every capacity resource of one simulator, safe to share between its request threads."""

    def __init__(self, setting: Callable[[str], Any]):
        self.setting = setting  # reads one settings key of the simulator (``capacity``)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.resources: dict[str, Resource] = {}  # by ARN, in creation order
            self.tokens: dict[tuple[str, str], str] = {}  # (kind, clientRequestToken) -> ARN

    # ---- the control plane
    def create(
        self,
        kind: str,
        region: str,
        name: str,
        served: tuple[str, str | None],
        params: dict,
        token: str | None = None,
        **extra: Any,
    ) -> str:
        """A new resource's ARN (or, for a repeated ``clientRequestToken``, the first one's)."""
        check_name(name, "name")
        settings = self.setting("capacity")
        delay = 0.0 if kind == IMPORTED else float(settings["provisioningSeconds"])
        fail = settings["failProvisioning"]
        fails = kind != IMPORTED and (fail is True or (isinstance(fail, list) and any(pattern_matches(p, name) for p in fail)))
        with self.lock:
            if token and (kind, token) in self.tokens:
                arn = self.tokens[(kind, token)]
                if self.resources[arn].params != params:
                    raise SimError("ValidationException", f"The clientRequestToken {token} was used with other parameters.")
                return arn
            if any(r.kind == kind and r.name == name for r in self.resources.values()):
                raise SimError("ValidationException", f"A {kind} named {name} already exists (simulated).")
            arn = f"arn:aws:bedrock:{region}:{ACCOUNT}:{kind}/{uuid.uuid4().hex[:12]}"
            model_arn, answers_as = (arn, served[1]) if kind == IMPORTED else served
            now = time.time()
            resource = Resource(kind, arn, name, model_arn, answers_as, now, time.monotonic() + delay, fails, params, extra, now)
            self.resources[arn] = resource
            if token:
                self.tokens[(kind, token)] = arn
            return arn

    def find(self, kind: str, identifier: str) -> Resource:
        """By ARN or name; ResourceNotFoundException (404) when there is none (never created, or deleted)."""
        with self.lock:
            return self._find(kind, identifier)

    def _find(self, kind: str, identifier: str) -> Resource:
        for resource in self.resources.values():
            if resource.kind == kind and identifier in (resource.arn, resource.name):
                resource.settle(time.monotonic())
                return resource
        raise SimError("ResourceNotFoundException", f"The {kind} {identifier} was not found.")

    def listing(self, kind: str) -> list[Resource]:
        now = time.monotonic()
        with self.lock:
            found = [r for r in self.resources.values() if r.kind == kind]
            for resource in found:
                resource.settle(now)
            return found

    def update(self, kind: str, identifier: str, name: str | None = None, served: tuple[str, str | None] | None = None) -> str:
        """Rename at once; a new model takes ``capacity.provisioningSeconds`` (``Updating`` meanwhile); returns the ARN."""
        delay = float(self.setting("capacity")["provisioningSeconds"])
        with self.lock:
            resource = self._find(kind, identifier)
            if resource.status(time.monotonic()) not in ("InService", "Active"):
                raise SimError("ValidationException", f"The {kind} {identifier} cannot be updated now (simulated).")
            if name is not None:
                check_name(name, "desiredProvisionedModelName")
                resource.name = name
            if served is not None:
                resource.desired = served
                resource.updating_until = time.monotonic() + delay
                resource.settle(time.monotonic())
            resource.modified = time.time()
            return resource.arn

    def delete(self, kind: str, identifier: str) -> None:
        with self.lock:
            resource = self._find(kind, identifier)
            del self.resources[resource.arn]
            self.tokens = {key: arn for key, arn in self.tokens.items() if arn != resource.arn}

    # ---- invocations
    def resolve(self, model_id: str) -> str:
        """The model id whose InvokeModel body an invocation by ``model_id`` takes: ``model_id`` itself unless it is a
        capacity ARN, then the model the resource serves; raises what Bedrock answers for one it cannot serve."""
        match = CAPACITY_ARN.match(model_id)
        if match is None:
            return model_id
        kind = match.group(1)
        if kind == "custom-model":
            raise SimError("ValidationException", NO_ON_DEMAND)
        now = time.monotonic()
        with self.lock:
            resource = next((r for r in self.resources.values() if r.arn == model_id), None)
            if resource is None:
                raise SimError("ResourceNotFoundException", f"The model {model_id} was not found.")
            resource.settle(now)
            status = resource.status(now)
            if kind == PROVISIONED and status not in ("InService", "Updating"):
                raise SimError("ValidationException", f"The provisioned model {model_id} is not in service (status {status}).")
            if kind == DEPLOYMENT and status != "Active":
                raise SimError("ValidationException", f"The custom model deployment {model_id} is not active (status {status}).")
            if kind == IMPORTED:
                self._wake(resource, now)
            return resource.answers_as or model_id

    def serving(self, model_id: str) -> str | None:
        """The model a Provisioned Throughput or deployment ARN serves now (a foundation or custom model ARN), else None."""
        if not model_id.startswith("arn:"):
            return None
        with self.lock:
            resource = self.resources.get(model_id)
            if resource is None or resource.kind == IMPORTED:
                return None
            resource.settle(time.monotonic())
            return resource.model_arn

    def serves(self, model_arn: str) -> list[str]:
        """The Provisioned Throughputs and deployments serving ``model_arn`` now or after their update."""
        with self.lock:
            return [
                r.arn
                for r in self.resources.values()
                if r.kind != IMPORTED and model_arn in (r.model_arn, r.desired[0] if r.desired else None)
            ]

    @staticmethod
    def _wake(resource: Resource, now: float) -> None:
        """An imported model's copy: serve when warm; else start loading it (or let it load) and answer not ready."""
        cold_start, idle = resource.extra["coldStartSeconds"], resource.extra["idleSeconds"]
        if cold_start <= 0:
            resource.last_call = now
            return
        if resource.copy_ready_at is not None and now < resource.copy_ready_at:
            raise SimError("ModelNotReadyException", NOT_READY)
        warm = resource.copy_ready_at is not None and now - max(resource.copy_ready_at, resource.last_call or 0.0) <= idle
        if not warm:
            resource.copy_ready_at, resource.last_call = now + cold_start, None
            raise SimError("ModelNotReadyException", NOT_READY)
        resource.last_call = now

    # ---- descriptions (the API's shapes, and GET /_sim/capacity)
    def describe(self, resource: Resource, summary: bool = False) -> dict:
        now = time.monotonic()
        status = resource.status(now)
        desired_arn = resource.desired[0] if resource.desired else resource.model_arn
        if resource.kind == PROVISIONED:
            units = resource.extra["modelUnits"]
            body: dict[str, Any] = {
                "provisionedModelName": resource.name,
                "provisionedModelArn": resource.arn,
                "modelArn": resource.model_arn,
                "desiredModelArn": desired_arn,
                "foundationModelArn": resource.extra["foundationModelArn"],
                "modelUnits": units,
                "desiredModelUnits": units,
                "status": status,
                "creationTime": timestamp(resource.created),
                "lastModifiedTime": timestamp(resource.modified),
            }
            if resource.extra.get("commitmentDuration"):
                months = 1 if resource.extra["commitmentDuration"] == "OneMonth" else 6
                body["commitmentDuration"] = resource.extra["commitmentDuration"]
                body["commitmentExpirationTime"] = timestamp(resource.created + months * 30 * 86400)
            if status == "Failed":
                body["failureMessage"] = "Provisioning failed (simulated: capacity.failProvisioning)."
            return body
        if resource.kind == DEPLOYMENT:
            body = {
                "customModelDeploymentArn": resource.arn,
                "customModelDeploymentName" if summary else "modelDeploymentName": resource.name,
                "modelArn": resource.model_arn,
                "createdAt": timestamp(resource.created),
                "status": status,
                "lastUpdatedAt": timestamp(resource.modified),
            }
            if resource.extra.get("description") and not summary:
                body["description"] = resource.extra["description"]
            if resource.updating_until and not summary:
                state = "Updating" if now < resource.updating_until else "UpdateCompleted"
                body["updateDetails"] = {"modelArn": desired_arn, "updateStatus": state}
            if status == "Failed":
                body["failureMessage"] = "Deployment failed (simulated: capacity.failProvisioning)."
            return body
        body = {
            "modelArn": resource.arn,
            "modelName": resource.name,
            "creationTime": timestamp(resource.created),
            "modelArchitecture": resource.extra["modelArchitecture"],
            "instructSupported": True,
        }
        if not summary:
            body |= {
                "jobName": f"{resource.name}-import",
                "jobArn": resource.arn.replace(":imported-model/", ":model-import-job/"),
                "modelDataSource": {"s3DataSource": {"s3Uri": f"s3://fmgw-simulated-imports/{resource.name}/"}},
                "customModelUnits": {"customModelUnitsPerModelCopy": 1, "customModelUnitsVersion": "1.0"},
            }
        return body

    def overview(self) -> dict:
        """``GET /_sim/capacity``: everything that exists, with its status (an imported model: its copy's state)."""
        now = time.monotonic()
        kinds = {PROVISIONED: "provisionedModelThroughputs", DEPLOYMENT: "customModelDeployments", IMPORTED: "importedModels"}
        answer: dict[str, list] = {name: [] for name in kinds.values()}
        for kind, name in kinds.items():
            for resource in self.listing(kind):
                entry = self.describe(resource, summary=True)
                if kind == IMPORTED:
                    ready_at = resource.copy_ready_at
                    warm = (
                        ready_at is not None and now - max(ready_at, resource.last_call or 0.0) <= resource.extra["idleSeconds"]
                    )
                    loading = ready_at is not None and now < ready_at
                    copy = (
                        "ready"
                        if resource.extra["coldStartSeconds"] <= 0
                        else "loading"
                        if loading
                        else "ready"
                        if warm
                        else "idle"
                    )
                    entry |= {k: resource.extra[k] for k in ("coldStartSeconds", "idleSeconds")} | {"copy": copy}
                answer[name].append(entry)
        return answer


def check_name(name: Any, member: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise SimError("ValidationException", f"{member} must match ([0-9a-zA-Z][_-]?)+, 1-63 characters.")


def register_imported(capacity: Capacity, region: str, body: dict) -> dict:
    """``POST /_sim/imported-models`` ``{"name", "coldStartSeconds": 3, "idleSeconds": 300, "modelArchitecture": "llama"}``:
    an imported model as Custom Model Import would leave it (the InvokeModel body follows the architecture: Llama's, or
    Mistral's for mistral/mixtral)."""
    unknown = set(body) - {"name", "coldStartSeconds", "idleSeconds", "modelArchitecture"}
    if unknown:
        raise SimError("ValidationException", f"Unknown imported model fields {sorted(unknown)}.")
    cold, idle = body.get("coldStartSeconds", 3), body.get("idleSeconds", 300)
    for key, value in (("coldStartSeconds", cold), ("idleSeconds", idle)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise SimError("ValidationException", f"{key} must be a number >= 0.")
    architecture = body.get("modelArchitecture", "llama")
    if not isinstance(architecture, str) or not architecture:
        raise SimError("ValidationException", "modelArchitecture must be a non-empty string.")
    answers_as = ARCHITECTURES.get(architecture.lower(), ARCHITECTURES["llama"])
    extra = {"coldStartSeconds": cold, "idleSeconds": idle, "modelArchitecture": architecture}
    arn = capacity.create(IMPORTED, region, str(body.get("name") or ""), ("", answers_as), dict(body), **extra)
    return {"modelArn": arn, "modelName": body["name"], **extra}
