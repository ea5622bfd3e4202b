"""The named errors of the customization workflow: Step Functions sees a Lambda task's error as the exception's
class name, so each class here is one error name of the contract (``InvalidSpec`` ... ``EvaluationFailed``); the
state machine's Catch sends every one to the cleanup task and a failure notice."""

from __future__ import annotations


class CustomizationError(Exception):
    """A run that cannot go on; the message says why in words a person can act on."""


class InvalidSpec(CustomizationError):
    """The run spec is malformed: a missing, unknown or out-of-range field (the message names it)."""


class NotCustomizable(CustomizationError):
    """The catalog refuses the run: the base model does not take the type, the region is not one where its jobs run,
    the teacher is not one Bedrock accepts for it (or is retired), or no price is known for its evaluation capacity."""


class InvalidDataset(CustomizationError):
    """The training, validation or evaluation data breaks a rule (the message names the object, the line and the rule)."""


class TooFewRecords(CustomizationError):
    """Fewer records than a job needs (invocation-log records matching the filters, or dataset records)."""


class JobFailed(CustomizationError):
    """The customization job ended Failed or Stopped (Bedrock's failureMessage), or Bedrock refused to start it."""


class JobTimedOut(CustomizationError):
    """The job ran past ``polling.jobMaxSeconds``: it was stopped."""


class CapacityFailed(CustomizationError):
    """The evaluation capacity could not be created or ended Failed (it was deleted)."""


class CapacityTimedOut(CustomizationError):
    """The evaluation capacity was not in service within ``polling.capacityMaxSeconds`` (it was deleted)."""


class EvaluationFailed(CustomizationError):
    """The evaluation could not measure the models (no scored answer, an unreadable batch)."""


class Misconfigured(CustomizationError):
    """The task's own settings are missing (an environment variable the stack sets)."""


NAMES = tuple(
    cls.__name__
    for cls in (
        InvalidSpec, NotCustomizable, InvalidDataset, TooFewRecords, JobFailed, JobTimedOut, CapacityFailed,
        CapacityTimedOut, EvaluationFailed,
    )
)  # fmt: skip
