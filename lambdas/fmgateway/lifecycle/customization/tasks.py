"""The customization state machine's Lambda tasks, one function per action (``{"action": ...}``): the handler
(``handlers.customization_tasks``) picks one from ``STEPS`` and gives it the ports. Each returns JSON for the next
state and raises the contract's named errors (``errors``); the run (what ``validate`` returns) travels whole through
the execution, so a retried or later task needs nothing but its input."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from fmgateway.config.gateway_config import ConfigSource
from fmgateway.lifecycle.customization import capacity as evaluation_capacity
from fmgateway.lifecycle.customization import cleanup as cleanup_step
from fmgateway.lifecycle.customization import decision as decision_step
from fmgateway.lifecycle.customization import evaluate, job, report, spec, training_data
from fmgateway.lifecycle.customization.errors import InvalidSpec
from fmgateway.lifecycle.customization.ports import Buckets, CustomizationControl, Settings
from fmgateway.lifecycle.provisioning import CapacityControl
from fmgateway.values.candidates import Candidate
from fmgateway.values.ports import ModelInvoker


class Ports(NamedTuple):
    """What the steps use; every AWS-facing one built on first use by the wiring (``fmgateway.aws.customization``)."""

    settings: Callable[[], Settings]
    config: ConfigSource
    buckets: Buckets
    control: Callable[[str], CustomizationControl]  # by region
    capacity: Callable[[str], CapacityControl]  # by region
    invoker_for: Callable[[str], Callable[[Candidate], ModelInvoker]]  # by region: which invoker answers a candidate
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep  # between attempts of an evaluation case that failed transiently


def _part(event: dict[str, Any], name: str) -> dict[str, Any]:
    value = event.get(name)
    if not isinstance(value, dict):
        raise InvalidSpec(f"task input: {name} missing (the state machine passes it)")
    return value


def validate(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    """The spec, the catalog's rules, the training data and the evaluation set; the run the other steps receive."""
    settings = ports.settings()
    parsed = spec.parse(event.get("spec"))
    planned = spec.plan(parsed, ports.config.get(), settings)
    data = training_data.check(ports.buckets, parsed, planned["baseModel"]["customizationBaseModelId"], settings.min_log_records)
    cases = evaluate.load_cases(ports.buckets, parsed["evaluation"]["s3Uri"])
    suffix = spec.suffix(event.get("execution"))
    name = parsed["name"]
    return {
        "name": name,
        "suffix": suffix,
        "jobName": f"{name}-{suffix}",
        "customModelName": f"{name}-{suffix}",
        "spec": parsed,
        **planned,
        "data": data,
        "polling": parsed["polling"],
        "evaluationCases": len(cases),
        "batches": evaluate.batches(len(cases), parsed["evaluation"]["batchSize"]),
    }


def start_job(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    run = _part(event, "run")
    return job.start(ports.control(run["region"]), run, ports.settings(), ports.clock())


def job_status(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    run = _part(event, "run")
    return job.poll(ports.control(run["region"]), run, _part(event, "job"), ports.clock())


def provision(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    run = _part(event, "run")
    return evaluation_capacity.provision(ports.capacity(run["region"]), run, _part(event, "job"), ports.clock())


def capacity_status(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    run = _part(event, "run")
    return evaluation_capacity.poll(ports.capacity(run["region"]), run, _part(event, "capacity"), ports.clock())


def evaluate_batch(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    run = _part(event, "run")
    invoker_for, settings = ports.invoker_for(run["region"]), ports.settings()
    capacity, batch = _part(event, "capacity"), _part(event, "batch")
    return evaluate.evaluate_batch(ports.buckets, invoker_for, settings, run, capacity, batch, ports.sleep)


def decide(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    run, held = _part(event, "run"), _part(event, "capacity")
    results = event.get("batches")
    if not isinstance(results, list):
        raise InvalidSpec("task input: batches missing (the state machine passes the Map's results)")
    rows = evaluate.read_rows(ports.buckets, results)
    chosen = evaluate.candidates(run, held)
    settings = run["spec"]["evaluation"]
    baseline, candidate = (chosen[alias].model for alias in (run["baseline"]["alias"], run["candidateAlias"]))
    return decision_step.decide(rows, baseline, candidate, settings["margin"], settings["expectedRequestsPerHour"])


def finish(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    run, held = _part(event, "run"), _part(event, "capacity")
    control = ports.capacity(run["region"])
    return report.finish(
        ports.buckets, control, ports.settings(), run, _part(event, "job"), held, _part(event, "decision"), ports.clock()
    )


def cleanup(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    given = event.get("state")
    state: dict[str, Any] = given if isinstance(given, dict) else {}
    try:
        region = ports.settings().region
    except Exception:  # the notice still goes out when the task's settings are what failed
        region = "us-east-1"
    return cleanup_step.cleanup(state, ports.control, ports.capacity, region)


STEPS: dict[str, Callable[[Ports, dict[str, Any]], dict[str, Any]]] = {
    "validate": validate,
    "startJob": start_job,
    "jobStatus": job_status,
    "provision": provision,
    "capacityStatus": capacity_status,
    "evaluateBatch": evaluate_batch,
    "decide": decide,
    "report": finish,
    "cleanup": cleanup,
}


def run(ports: Ports, event: dict[str, Any]) -> dict[str, Any]:
    """One task: the step its ``action`` names."""
    step = STEPS.get(str(event.get("action")))
    if step is None:
        raise InvalidSpec(f"unknown customization task {event.get('action')!r} (actions: {', '.join(STEPS)})")
    return step(ports, event)
