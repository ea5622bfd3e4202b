"""The bedrock control-plane operations for model customization on the simulator's port, with botocore's paths, members
and status codes (``bedrock`` 2023-04-20): CreateModelCustomizationJob, GetModelCustomizationJob,
ListModelCustomizationJobs, StopModelCustomizationJob, GetCustomModel, ListCustomModels, DeleteCustomModel, routed by
``local.simulator_control_plane`` (``ROUTES``). The request is checked as Bedrock checks it (ValidationException), the
training data read from S3 (``local.simulator_training_data``) before the job is answered, and the job and its custom
model kept by ``local.simulator_customization``; ``overview`` is ``GET /_sim/customization``.

Datetimes are ISO 8601 strings, as the capacity operations write them. Besides botocore's members, a job's description
carries the simulator's ``trainingDataUsed`` (boto3 ignores it; ``GET /_sim/customization`` shows it too)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from local import simulator_training_data as training_data
from local.simulator_capacity import check_name, timestamp
from local.simulator_customization import ACCOUNT, CustomModel, Job, conflict
from local.simulator_errors import SimError
from local.simulator_state import SimulatorState

TYPES = ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9+\-.])*$")
_ROLE = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
_S3 = re.compile(r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](/.*)?$")
_FOUNDATION = re.compile(r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*::foundation-model/(.+)$")
_PROFILE = re.compile(r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*:\d{12}:inference-profile/(.+)$")
_CUSTOM = re.compile(r"^arn:aws(?:-[a-z-]+)?:bedrock:[a-z0-9-]*:\d{12}:custom-model/")


class ControlCall(Protocol):
    """One control-plane request (``local.simulator_control_plane.Call``)."""

    @property
    def state(self) -> SimulatorState: ...
    @property
    def region(self) -> str: ...
    @property
    def body(self) -> dict: ...
    @property
    def query(self) -> dict[str, str]: ...
    @property
    def identifier(self) -> str: ...


def invalid(message: str) -> SimError:
    return SimError("ValidationException", message)


# ---- CreateModelCustomizationJob


def create_job(call: ControlCall) -> dict:
    body, registry = call.body, call.state.customization
    existing = registry.token(body.get("clientRequestToken"))
    if existing:  # Bedrock ignores a request whose token it has seen
        return {"jobArn": existing}
    job_name = body.get("jobName")
    if not isinstance(job_name, str) or not 1 <= len(job_name) <= 63 or not _JOB_NAME.match(job_name):
        raise invalid("jobName must match [a-zA-Z0-9](-*[a-zA-Z0-9+-.])*, 1-63 characters.")
    check_name(body.get("customModelName"), "customModelName")
    model_name: str = body["customModelName"]
    if not isinstance(body.get("roleArn"), str) or not _ROLE.match(body["roleArn"]):
        raise invalid("roleArn must be an IAM role ARN.")
    kind = body.get("customizationType") or "FINE_TUNING"
    if kind not in TYPES:
        raise invalid(f"customizationType {kind} is not simulated (the simulator runs {', '.join(TYPES)}).")
    base_model_id, base_model_arn = _base_model(call, body.get("baseModelIdentifier"))
    teacher = _teacher(kind, body.get("customizationConfig"))
    config = _training_data_config(kind, body.get("trainingDataConfig"))
    if not isinstance(body.get("outputDataConfig"), dict) or not _is_s3(body["outputDataConfig"].get("s3Uri")):
        raise invalid("outputDataConfig.s3Uri must be an s3:// URI.")
    hyper = body.get("hyperParameters") or {}
    if not isinstance(hyper, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in hyper.items()):
        raise invalid("hyperParameters must map strings to strings.")
    registry.check_names(job_name, model_name)
    settings = call.state.setting("customization")
    endpoint, region = settings["s3EndpointUrl"], call.region
    data = training_data.read(kind, config, lambda: _s3_client(endpoint, region), settings["minimumRecords"])
    arn = registry.add(
        body.get("clientRequestToken"), name=job_name, region=region, model_name=model_name, customization_type=kind,
        base_model_id=base_model_id, base_model_arn=base_model_arn, teacher_model_id=teacher, request=body, data=data,
    )  # fmt: skip
    return {"jobArn": arn}


def _s3_client(endpoint: str | None, region: str) -> Any:
    import boto3  # only when a job reads: the simulator starts without boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=region)


def _is_s3(uri: Any) -> bool:
    return isinstance(uri, str) and bool(_S3.match(uri))


def _base_model(call: ControlCall, identifier: Any) -> tuple[str, str]:
    """(foundation model id, ARN of what is customized): a foundation model id or ARN, or one of the simulator's custom
    models by ARN or name (continued customization, on the same foundation model)."""
    if not isinstance(identifier, str) or not identifier:
        raise invalid("baseModelIdentifier is required.")
    foundation = _FOUNDATION.match(identifier)
    if foundation:
        return foundation.group(1), identifier
    if "." in identifier and not identifier.startswith("arn:"):
        return identifier, f"arn:aws:bedrock:{call.region}::foundation-model/{identifier}"
    if identifier.startswith("arn:") and not _CUSTOM.match(identifier):
        raise invalid(f"baseModelIdentifier {identifier} is neither a foundation model nor a custom model.")
    custom = call.state.customization.find_model(identifier)
    if custom is None:
        raise SimError("ResourceNotFoundException", f"Could not find the base model {identifier}.")
    return custom.job.base_model_id, custom.arn


def _teacher(kind: str, config: Any) -> str | None:
    """A distillation's teacher model id (a foundation model id or ARN, or an inference profile's ARN)."""
    distillation = (config or {}).get("distillationConfig") if isinstance(config, dict) else None
    if kind != "DISTILLATION":
        if distillation is not None:
            raise invalid(f"customizationConfig.distillationConfig is only for DISTILLATION jobs, not {kind}.")
        return None
    teacher = (distillation or {}).get("teacherModelConfig") if isinstance(distillation, dict) else None
    identifier = teacher.get("teacherModelIdentifier") if isinstance(teacher, dict) else None
    if not isinstance(identifier, str) or not identifier:
        raise invalid(
            "A DISTILLATION job needs customizationConfig.distillationConfig.teacherModelConfig.teacherModelIdentifier."
        )
    length = teacher.get("maxResponseLengthForInference") if isinstance(teacher, dict) else None
    if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 1):
        raise invalid("maxResponseLengthForInference must be an integer >= 1.")
    found = _FOUNDATION.match(identifier) or _PROFILE.match(identifier)
    if found:
        return found.group(1)
    if identifier.startswith("arn:") or "." not in identifier:
        raise invalid(f"teacherModelIdentifier {identifier} is not a foundation model or an inference profile.")
    return identifier


def _training_data_config(kind: str, config: Any) -> dict:
    if not isinstance(config, dict):
        raise invalid("trainingDataConfig is required.")
    logs = config.get("invocationLogsConfig")
    if logs is None:
        if not _is_s3(config.get("s3Uri")):
            raise invalid("trainingDataConfig.s3Uri must be an s3:// URI.")
        return config
    if kind != "DISTILLATION":
        raise invalid(f"trainingDataConfig.invocationLogsConfig is only for DISTILLATION jobs, not {kind}.")
    if config.get("s3Uri") is not None:
        raise invalid("trainingDataConfig takes s3Uri or invocationLogsConfig, not both.")
    source = logs.get("invocationLogSource") if isinstance(logs, dict) else None
    if not isinstance(source, dict) or set(source) != {"s3Uri"} or not _is_s3(source["s3Uri"]):
        raise invalid("invocationLogsConfig.invocationLogSource.s3Uri must be an s3:// URI.")
    if not isinstance(logs.get("usePromptResponse", False), bool):
        raise invalid("invocationLogsConfig.usePromptResponse must be true or false.")
    training_data.check_filters(logs.get("requestMetadataFilters"))
    return config


# ---- descriptions


def _metrics(job: Job) -> dict:
    """A deterministic training loss (and one validation loss per validator) of a completed job."""
    digest = hashlib.sha256(job.arn.encode()).digest()
    validators = (job.request.get("validationDataConfig") or {}).get("validators") or []
    return {
        "trainingMetrics": {"trainingLoss": round(0.2 + digest[0] / 512, 4)},
        "validationMetrics": [{"validationLoss": round(0.25 + digest[1 + i % 30] / 512, 4)} for i in range(len(validators))],
    }


def _given(job: Job) -> dict:
    """The members of the create request that descriptions repeat."""
    request = job.request
    given = {key: request[key] for key in ("customizationConfig", "vpcConfig", "clientRequestToken") if request.get(key)}
    return given | {
        "hyperParameters": request.get("hyperParameters") or {},
        "trainingDataConfig": request["trainingDataConfig"],
        "validationDataConfig": request.get("validationDataConfig") or {"validators": []},
        "outputDataConfig": request["outputDataConfig"],
    }


def describe_job(job: Job, now: float, summary: bool = False) -> dict:
    status, ended = job.status(now), job.end_time(now)
    modified = ended or job.wall(job.stopped_at if job.stopped_at is not None else now)
    details = {phase: {"status": state, "creationTime": timestamp(job.created), "lastModifiedTime": timestamp(modified)}
               for phase, state in job.phases(now).items()}  # fmt: skip
    body: dict[str, Any] = {
        "jobArn": job.arn,
        "jobName": job.name,
        "status": status,
        "statusDetails": details,
        "creationTime": timestamp(job.created),
        "lastModifiedTime": timestamp(modified),
        "customizationType": job.customization_type,
    }
    if ended is not None:
        body["endTime"] = timestamp(ended)
    if summary:
        body |= {"baseModelArn": job.base_model_arn, "customModelName": job.model_name}
        return body | ({"customModelArn": job.model_arn} if status == "Completed" else {})
    body |= {
        "outputModelName": job.model_name,
        "roleArn": job.request["roleArn"],
        "baseModelArn": f"arn:aws:bedrock:{job.region}::foundation-model/{job.base_model_id}",
        **_given(job),
        "trainingDataUsed": job.data.describe(),
    }
    if status == "Completed":
        body |= {"outputModelArn": job.model_arn, **_metrics(job)}
    if status == "Failed":
        body["failureMessage"] = job.failure
    return body


def describe_model(model: CustomModel, summary: bool = False) -> dict:
    job = model.job
    body: dict[str, Any] = {
        "modelArn": model.arn,
        "modelName": model.name,
        "creationTime": timestamp(model.created),
        "baseModelArn": job.base_model_arn,
        "customizationType": job.customization_type,
        "modelStatus": "Active",
    }
    if summary:
        return body | {"baseModelName": job.base_model_id.split(":")[0], "ownerAccountId": ACCOUNT}
    return body | {"jobName": job.name, "jobArn": job.arn, **_given(job), **_metrics(job)}


# ---- the other operations


def get_job(call: ControlCall) -> dict:
    return describe_job(call.state.customization.job(call.identifier), time.monotonic())


def stop_job(call: ControlCall) -> dict:
    call.state.customization.stop(call.identifier)
    return {}


def get_model(call: ControlCall) -> dict:
    return describe_model(call.state.customization.model(call.identifier))


def delete_model(call: ControlCall) -> dict:
    model = call.state.customization.model(call.identifier)
    serving = call.state.capacity.serves(model.arn)
    if serving:
        raise conflict(f"The custom model {model.name} is in use by {', '.join(serving)}; delete those first.")
    call.state.customization.delete_model(model.arn)
    return {}


def _time(query: dict[str, str], key: str) -> float | None:
    if key not in query:
        return None
    try:
        return datetime.fromisoformat(query[key]).timestamp()
    except ValueError:
        raise invalid(f"{key} must be an ISO 8601 timestamp.") from None


def _page(items: list, created: Callable[[Any], float], query: dict[str, str], key: str, describe: Callable) -> dict:
    """creationTimeAfter / creationTimeBefore, sortOrder (newest first by default), maxResults and nextToken (an offset)."""
    after, before = _time(query, "creationTimeAfter"), _time(query, "creationTimeBefore")
    items = [i for i in items if (after is None or created(i) > after) and (before is None or created(i) < before)]
    items.sort(key=created, reverse=query.get("sortOrder", "Descending") == "Descending")
    try:
        start, size = int(query.get("nextToken") or 0), int(query.get("maxResults") or 1000)
    except ValueError:
        raise invalid("nextToken and maxResults must be integers.") from None
    answer: dict[str, Any] = {key: [describe(item) for item in items[start : start + size]]}
    if start + size < len(items):
        answer["nextToken"] = str(start + size)
    return answer


def list_jobs(call: ControlCall) -> dict:
    now, query = time.monotonic(), call.query
    jobs = [
        job
        for job in call.state.customization.all_jobs()
        if query.get("statusEquals") in (None, job.status(now)) and query.get("nameContains", "") in job.name
    ]
    return _page(jobs, lambda job: job.created, query, "modelCustomizationJobSummaries", lambda job: describe_job(job, now, True))


def list_models(call: ControlCall) -> dict:
    query = call.query
    models = [
        model
        for model in call.state.customization.all_models()
        if query.get("nameContains", "") in model.name
        and query.get("baseModelArnEquals") in (None, model.job.base_model_arn)
        and query.get("foundationModelArnEquals")
        in (None, f"arn:aws:bedrock:{model.job.region}::foundation-model/{model.job.base_model_id}")
        and query.get("modelStatus") in (None, "Active")
        and query.get("isOwned", "true") == "true"  # every custom model of the simulator is the account's own
    ]
    return _page(models, lambda model: model.created, query, "modelSummaries", lambda model: describe_model(model, True))


def overview(state: SimulatorState) -> dict:
    """``GET /_sim/customization``: every job (status, the training data it used) and custom model (what it answers as,
    what serves it)."""
    now, registry = time.monotonic(), state.customization
    jobs = []
    for job in registry.all_jobs():
        status = job.status(now)
        jobs.append(
            {
                "jobName": job.name,
                "jobArn": job.arn,
                "status": status,
                "customizationType": job.customization_type,
                "baseModelId": job.base_model_id,
                "teacherModelId": job.teacher_model_id,
                "customModelName": job.model_name,
                "customModelArn": job.model_arn if status == "Completed" else None,
                "failureMessage": job.failure if status == "Failed" else None,
                "trainingDataUsed": job.data.describe(),
            }
        )
    models = [
        {
            "modelName": model.name,
            "modelArn": model.arn,
            "customizationType": model.job.customization_type,
            "baseModelId": model.job.base_model_id,
            "teacherModelId": model.job.teacher_model_id,
            "answersAs": registry.answers_as(model),
            "learnedPrompts": len(model.job.data.pairs) if model.job.customization_type == "FINE_TUNING" else 0,
            "servedBy": state.capacity.serves(model.arn),
        }
        for model in registry.all_models()
    ]
    return {"jobs": jobs, "customModels": models}


_JOBS, _MODELS = "model-customization-jobs", "custom-models"
ROUTES: list[tuple[str, tuple[str | None, ...], Callable[[Any], dict], int]] = [
    ("POST", (_JOBS,), create_job, 201),
    ("GET", (_JOBS,), list_jobs, 200),
    ("GET", (_JOBS, None), get_job, 200),
    ("POST", (_JOBS, None, "stop"), stop_job, 200),
    ("GET", (_MODELS,), list_models, 200),
    ("GET", (_MODELS, None), get_model, 200),
    ("DELETE", (_MODELS, None), delete_model, 200),
]
