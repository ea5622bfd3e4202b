"""The simulator's model customization jobs and the custom models they leave, kept in memory (the control-plane
operations are ``local.simulator_customization_api``'s; the training data reader ``local.simulator_training_data``'s),
and the scripted quality of each custom model: which model it answers as.

A job is ``InProgress`` for ``customization.jobSeconds`` (read when it is created), then ``Failed`` when its training
data could not train it or ``customization.failJobs`` is true or a pattern matching its job name or custom model name,
else ``Completed``: its custom model (``arn:aws:bedrock:<region>:123456789012:custom-model/<base model id>/<12 hex>``,
``Active``) exists from then on. ``StopModelCustomizationJob`` while ``InProgress`` makes it ``Stopping`` (for
``min(1 s, jobSeconds)``), then ``Stopped``, and no custom model is made.

Scripted quality: a custom model answers as a model id of the simulator (its ``replies``, else its deterministic
answer). By default a DISTILLATION model answers as its teacher; FINE_TUNING and CONTINUED_PRE_TRAINING ones as their base
model, except that a FINE_TUNING model answers a prompt of its training data with that record's completion. The
``customization.outcomes`` setting, ``{"<custom model name pattern>": "teacher" | "base" | "<model id>"}`` (the most
specific matching pattern), replaces that default entirely (``teacher`` of a model without one: its base)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from local.simulator_errors import SimError
from local.simulator_settings import pattern_matches
from local.simulator_training_data import TrainingData

ACCOUNT = "123456789012"
PHASES = ("validationDetails", "dataProcessingDetails", "trainingDetails")  # thirds of a job's time, in this order
MAX_STOPPING_SECONDS = 1.0


def conflict(message: str) -> SimError:
    """botocore's ConflictException (HTTP 400)."""
    return SimError("ConflictException", message, 400)


@dataclass
class Job:
    """One model customization job; ``request`` is its checked create request, ``failure`` decided at creation."""

    arn: str
    name: str
    region: str
    model_name: str
    model_arn: str  # the custom model's ARN, whether or not the job completes
    customization_type: str
    base_model_id: str  # the foundation model the custom model is built on
    base_model_arn: str  # what was customized: a foundation model ARN, or a custom model's (continued customization)
    teacher_model_id: str | None
    request: dict
    data: TrainingData
    failure: str | None
    created: float  # time.time()
    started: float  # time.monotonic()
    seconds: float  # customization.jobSeconds when it was created
    stopped_at: float | None = None  # time.monotonic() of StopModelCustomizationJob
    model_made: bool = False  # its custom model exists, or existed until DeleteCustomModel

    def status(self, now: float) -> str:
        if self.stopped_at is not None:
            return "Stopping" if now < self.stopped_at + min(MAX_STOPPING_SECONDS, self.seconds) else "Stopped"
        if now < self.started + self.seconds:
            return "InProgress"
        return "Failed" if self.failure else "Completed"

    def wall(self, monotonic: float) -> float:
        """A time.monotonic() instant of this job as time.time()."""
        return self.created + (monotonic - self.started)

    def end_time(self, now: float) -> float | None:
        """When it ended (time.time()), or None while it runs or stops."""
        if self.status(now) in ("InProgress", "Stopping"):
            return None
        if self.stopped_at is not None:
            return self.wall(self.stopped_at + min(MAX_STOPPING_SECONDS, self.seconds))
        return self.wall(self.started + self.seconds)

    def phases(self, now: float) -> dict[str, str]:
        """The status of each of validation, data processing and training (botocore's statusDetails): a third of the
        job's time each; data that cannot train fails the validation, ``failJobs`` the training."""
        status = self.status(now)
        if status == "Failed" and self.data.failure:
            return dict(zip(PHASES, ("Failed", "NotStarted", "NotStarted"), strict=True))
        if status in ("Completed", "Failed"):
            return dict(zip(PHASES, ("Completed", "Completed", status), strict=True))
        until = self.stopped_at if self.stopped_at is not None else now
        reached = min(2, int(3 * (until - self.started) / max(self.seconds, 1e-9)))
        return {phase: "Completed" if i < reached else status if i == reached else "NotStarted" for i, phase in enumerate(PHASES)}


@dataclass
class CustomModel:
    """A custom model a completed job made."""

    arn: str
    name: str
    job: Job
    created: float  # time.time()


class Script(NamedTuple):
    """How a custom model answers a prompt: a learned completion, else as the model id ``answers_as``."""

    answers_as: str
    learned: str | None


def most_specific(patterns: dict[str, Any], name: str) -> Any:
    """The value of the most specific pattern matching ``name`` (the name itself, else the longest), or None."""
    matching = [pattern for pattern in patterns if pattern_matches(pattern, name)]
    return patterns[max(matching, key=lambda p: (p == name, len(p)))] if matching else None


class Customization:
    """Every job and custom model of one simulator, safe to share between its request threads."""

    def __init__(self, setting: Callable[[str], Any]):
        self.setting = setting  # reads one settings key of the simulator (``customization``)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.jobs: dict[str, Job] = {}  # by ARN, in creation order
            self.models: dict[str, CustomModel] = {}  # by ARN, in creation order
            self.tokens: dict[str, str] = {}  # clientRequestToken -> job ARN

    # ---- jobs
    def token(self, token: str | None) -> str | None:
        """The job ARN a clientRequestToken already created, if any (Bedrock then ignores the request)."""
        with self.lock:
            return self.tokens.get(token) if token else None

    def check_names(self, job_name: str, model_name: str) -> None:
        """ConflictException when a job has the name, or a custom model (made, or to be made by a job) has the other."""
        with self.lock:
            self._check_names(job_name, model_name)

    def _check_names(self, job_name: str, model_name: str) -> None:
        self._settle()
        if any(job.name == job_name for job in self.jobs.values()):
            raise conflict(f"A model customization job named {job_name} already exists.")
        taken = {model.name for model in self.models.values()}
        taken |= {job.model_name for job in self.jobs.values() if job.status(time.monotonic()) == "InProgress"}
        if model_name in taken:
            raise conflict(f"A custom model named {model_name} already exists.")

    def add(self, token: str | None, **fields: Any) -> str:
        """A new job (``fields``: Job's, from ``name`` to ``data``); returns its ARN."""
        settings = self.setting("customization")
        fail = settings["failJobs"]
        names = (fields["name"], fields["model_name"])
        failed_on_purpose = fail is True or (isinstance(fail, list) and any(pattern_matches(p, n) for p in fail for n in names))
        failure = fields["data"].failure or (
            "Model customization failed (simulated: customization.failJobs)." if failed_on_purpose else None
        )
        base, region = fields["base_model_id"], fields["region"]
        with self.lock:
            if token and token in self.tokens:
                return self.tokens[token]
            self._check_names(fields["name"], fields["model_name"])
            arn = f"arn:aws:bedrock:{region}:{ACCOUNT}:model-customization-job/{base}/{uuid.uuid4().hex[:12]}"
            model_arn = f"arn:aws:bedrock:{region}:{ACCOUNT}:custom-model/{base}/{uuid.uuid4().hex[:12]}"
            seconds = float(settings["jobSeconds"])
            job = Job(arn, model_arn=model_arn, failure=failure, created=time.time(), started=time.monotonic(),
                      seconds=seconds, **fields)  # fmt: skip
            self.jobs[arn] = job
            if token:
                self.tokens[token] = arn
            return arn

    def job(self, identifier: str) -> Job:
        """By ARN or name; ResourceNotFoundException (404) when there is none."""
        with self.lock:
            self._settle()
            for job in self.jobs.values():
                if identifier in (job.arn, job.name):
                    return job
        raise SimError("ResourceNotFoundException", f"The model customization job {identifier} was not found.")

    def all_jobs(self) -> list[Job]:
        with self.lock:
            self._settle()
            return list(self.jobs.values())

    def stop(self, identifier: str) -> None:
        job = self.job(identifier)
        with self.lock:
            status = job.status(time.monotonic())
            if status != "InProgress":
                raise conflict(f"The model customization job {job.name} is {status}; only a job in progress can be stopped.")
            job.stopped_at = time.monotonic()

    def _settle(self) -> None:
        """A job that has completed has made its custom model (under the lock)."""
        now = time.monotonic()
        for job in self.jobs.values():
            if not job.model_made and job.status(now) == "Completed":
                job.model_made = True
                made = job.wall(job.started + job.seconds)
                self.models[job.model_arn] = CustomModel(job.model_arn, job.model_name, job, made)

    # ---- custom models
    def find_model(self, identifier: str) -> CustomModel | None:
        """A custom model by ARN or name, or None."""
        with self.lock:
            self._settle()
            return next((m for m in self.models.values() if identifier in (m.arn, m.name)), None)

    def model(self, identifier: str) -> CustomModel:
        found = self.find_model(identifier)
        if found is None:
            raise SimError("ResourceNotFoundException", f"The custom model {identifier} was not found.")
        return found

    def all_models(self) -> list[CustomModel]:
        with self.lock:
            self._settle()
            return list(self.models.values())

    def delete_model(self, arn: str) -> None:
        with self.lock:
            self.models.pop(arn, None)

    # ---- invocations
    def script(self, model_arn: str, prompt: str) -> Script | None:
        """How the custom model ``model_arn`` answers ``prompt``; None when it is not one of the simulator's."""
        model = self.find_model(model_arn)
        if model is None:
            return None
        job, learned = model.job, None
        if job.customization_type == "FINE_TUNING" and self._outcome(model) is None:
            learned = job.data.pairs.get(prompt.strip())
        return Script(self.answers_as(model), learned)

    def answers_as(self, model: CustomModel) -> str:
        """The model id a custom model answers as (a fine-tuned model's learned prompts apart)."""
        job, outcome = model.job, self._outcome(model)
        if outcome is None or outcome == "teacher":
            return job.teacher_model_id or job.base_model_id
        return job.base_model_id if outcome == "base" else outcome

    def _outcome(self, model: CustomModel) -> str | None:
        return most_specific(self.setting("customization")["outcomes"], model.name)
