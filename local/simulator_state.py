"""The running Bedrock simulator's state, shared by its request threads under one lock: the settings in force and
their run-time changes (``/_sim/*``, the Python API), each call's plan and fault injection (``regionsDown``,
``unknownModels``, ``modelIdPattern``, the model's ``faults`` and ``latency`` entries, one random draw per call),
latency sleeps that ``stop()`` cuts short, the fixed ``replies``, the per-model counters of ``/_sim/stats``, the
capacity resources (``local.simulator_capacity``) and the customization jobs and custom models
(``local.simulator_customization``) that the control plane created, and the replies of capacity serving such a custom
model (its scripted model's)."""

from __future__ import annotations

import copy
import random
import re
import threading
from typing import Any, NamedTuple

from local import simulator_features
from local.simulator_capacity import Capacity
from local.simulator_customization import Customization
from local.simulator_errors import SimError
from local.simulator_settings import (
    FAULT_DEFAULTS,
    LATENCY_DEFAULTS,
    camel_case,
    check_entry,
    entry_for_model,
    pattern_matches,
    validate_settings,
)
from local.simulator_text import count_tokens, reply_text


class CallPlan(NamedTuple):
    """What the settings decide for one model call before its body is read."""

    faults: dict  # the model's effective fault entry
    latency: dict  # the model's effective latency entry
    draw: float  # the call's random draw in 0..1 against the fault rates


class SimulatorState:
    """Settings, fault plan and counters of one simulator, safe to share between its request threads."""

    def __init__(self, defaults: dict, verbose: bool = False):
        self.defaults = copy.deepcopy(defaults)
        self.verbose = verbose
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.features = simulator_features.Features(count_tokens)
        self.capacity = Capacity(self.setting)
        self.customization = Customization(self.setting)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.settings = copy.deepcopy(self.defaults)
            self.rng = random.Random(self.settings["seed"])
            self.counters: dict[str, dict] = {}
        self.features.reset()
        self.capacity.reset()
        self.customization.reset()

    def snapshot(self) -> dict:
        with self.lock:
            return copy.deepcopy(self.settings)

    def setting(self, key: str) -> Any:
        with self.lock:
            return copy.deepcopy(self.settings[key])

    def replace(self, partial: dict) -> dict:
        with self.lock:
            candidate = copy.deepcopy(self.settings)
            candidate.update(copy.deepcopy(partial))
            validate_settings(candidate)
            self.settings = candidate
            if "seed" in partial:
                self.rng = random.Random(candidate["seed"])
            return copy.deepcopy(candidate)

    def merge_entry(self, kind: str, model: str, fields: dict) -> dict:
        fields = {camel_case(k): v for k, v in fields.items()}
        check_entry(kind, fields)
        with self.lock:
            self.settings[kind].setdefault(model, {}).update(fields)
            return copy.deepcopy(self.settings[kind][model])

    def record(
        self,
        model_id: str,
        operation: str | None = None,
        error: str | None = None,
        success: bool = False,
        s3_inputs: list[str] | None = None,
    ) -> None:
        with self.lock:
            empty = {"calls": 0, "successes": 0, "errors": {}, "operations": {}, "s3Inputs": []}
            entry = self.counters.setdefault(model_id, empty)
            entry["s3Inputs"].extend(s3_inputs or ())
            if operation:
                entry["calls"] += 1
                entry["operations"][operation] = entry["operations"].get(operation, 0) + 1
            if success:
                entry["successes"] += 1
            if error:
                entry["errors"][error] = entry["errors"].get(error, 0) + 1

    def stats(self) -> dict:
        with self.lock:
            models = copy.deepcopy(self.counters)
        totals = {
            "calls": sum(m["calls"] for m in models.values()),
            "successes": sum(m["successes"] for m in models.values()),
            "errors": sum(sum(m["errors"].values()) for m in models.values()),
        }
        return {"totals": totals, "models": models}

    def plan(self, model_id: str, region: str | None, check_id: bool = True) -> CallPlan:
        """Checks before the request body: region, model id (unless ``check_id`` is false: a SageMaker call), unknown;
        returns the model's entries and the draw."""
        with self.lock:
            settings = self.settings
            draw = self.rng.random()
            if region and region in settings["regionsDown"]:
                raise SimError("ServiceUnavailableException", f"Region {region} is down (simulated).")
            if check_id and not re.match(settings["modelIdPattern"], model_id):
                raise SimError("ValidationException", "The provided model identifier is invalid.")
            if any(pattern_matches(p, model_id) for p in settings["unknownModels"]):
                raise SimError("ResourceNotFoundException", f"Model {model_id} not found (simulated).")
            faults = entry_for_model(settings["faults"], model_id, FAULT_DEFAULTS)
            latency = entry_for_model(settings["latency"], model_id, LATENCY_DEFAULTS)
        return CallPlan(faults, latency, draw)

    def apply_faults(self, plan: CallPlan) -> None:
        """Raise the error the model's fault entry and the call's draw inject, if any (a timeout sleeps first)."""
        faults, draw = plan.faults, plan.draw
        if faults["down"]:
            raise SimError("ServiceUnavailableException", "The model is down (simulated).")
        if faults["errorCode"]:
            raise SimError(faults["errorCode"], f"Injected {faults['errorCode']} (simulated).")
        throttle, error, timeout = faults["throttleRate"], faults["errorRate"], faults["timeoutRate"]
        if draw < throttle:
            raise SimError("ThrottlingException", "Too many requests, please wait before trying again.")
        if draw < throttle + error:
            if draw < throttle + error / 2:
                raise SimError("ServiceUnavailableException", "Service unavailable (simulated).")
            raise SimError("InternalServerException", "Internal server error (simulated).")
        if draw < throttle + error + timeout:
            self.stopping.wait(float(faults["timeoutSeconds"]))
            raise SimError("ModelTimeoutException", "Model has timed out in processing the request.")

    def reply_for(self, model_id: str, prompt: str = "") -> str | None:
        """The reply configured for this model (the most specific matching pattern), if any: a fixed text, or per
        prompt, ``{prompt: reply}`` keyed by the last user message (``"*"``: any other prompt; else the usual answer).

        A Provisioned Throughput or deployment serving one of the simulator's custom models always answers: a learned
        completion (fine-tuning), else a reply configured for its ARN by a pattern other than ``"*"``, else as the
        custom model's scripted model (``local.simulator_customization``: that model's reply or deterministic answer)."""
        custom_model = self.capacity.serving(model_id)
        script = self.customization.script(custom_model, prompt) if custom_model else None
        if script is None:
            return self._configured_reply(model_id, prompt)
        if script.learned is not None:
            return script.learned
        own = self._configured_reply(model_id, prompt, include_default=False)
        if own is not None:
            return own
        return self._configured_reply(script.answers_as, prompt) or reply_text(script.answers_as, prompt)

    def _configured_reply(self, model_id: str, prompt: str, include_default: bool = True) -> str | None:
        with self.lock:
            replies = self.settings["replies"]
            matching = [p for p in replies if pattern_matches(p, model_id) and (include_default or p != "*")]
        if not matching:
            return None
        reply = replies[max(matching, key=lambda p: (p == model_id, len(p)))]
        if isinstance(reply, dict):
            return reply.get(prompt.strip(), reply.get("*"))
        return reply

    def sleep_ms(self, ms: float) -> None:
        if ms > 0:
            self.stopping.wait(ms / 1000.0)
