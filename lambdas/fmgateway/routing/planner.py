"""Route resolution and planning: which models, in which order, may answer a request.

1. resolve: explicit model id | alias | tier | static path route | ``auto`` (per ``contentRouting.mode``: the
   learned difficulty score of ``fmgateway.routing.difficulty``, the keyword heuristic, or a classifier model that
   the gateway asks before planning)
2. plan: lifecycle (retired -> successor), fallback chain of the tier, capability filter
   (context window, input modality, language, the Converse capabilities the request needs).

``fmgw route score`` (``fmgw/route/score.py``) scores JSON-lines prompts offline through the same ``auto`` decision.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from fmgateway.config.gateway_config import TIERS, GatewayConfig
from fmgateway.routing import capabilities, difficulty
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvalidRequest, PayloadTooLarge
from fmgateway.values.model import Model

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1600  # rough cost of one image block in the prompt
DOCUMENT_TOKENS = 3000
_SAMPLE = 6000  # characters inspected by the heuristics: keeps `auto` well under a millisecond

_CODE = re.compile(r"```|\bdef \w+\(|\bclass \w+|\bfunction\b|#include|\bselect\b.+\bfrom\b|=>|\};|\bimport \w+")
_REASONING = re.compile(
    r"\b(prove|proof|derive|theorem|lemma|integral|equation|step by step|reason(ing)?|calculate|optimi[sz]e"
    r"|probability|algorithm|complexity)\b|\d+\s*[-+*/^]\s*\d+\s*="
)
_ANALYSIS = re.compile(r"\b(analy[sz]e|compare|evaluate|trade-?offs?|architecture|design|critique|assess)\b")
_STEPS = re.compile(r"(?m)^\s*(\d+[.)]|[-*] )\s*\S|\b(then|after that|finally|next,)\b")

_SCRIPTS = (  # (first, last, language) for scripts that identify a language cheaply
    (0x3040, 0x30FF, "ja"),
    (0xAC00, 0xD7AF, "ko"),
    (0x4E00, 0x9FFF, "zh"),
    (0x0400, 0x04FF, "ru"),
    (0x0600, 0x06FF, "ar"),
    (0x0900, 0x097F, "hi"),
    (0x0E00, 0x0E7F, "th"),
    (0x0370, 0x03FF, "el"),
    (0x0590, 0x05FF, "he"),
)
_LATIN_WORDS = {
    "fr": {"le", "la", "les", "est", "une", "des", "pour", "avec", "vous", "je"},
    "de": {"der", "die", "das", "und", "ist", "nicht", "ich", "mit", "sie", "ein"},
    "es": {"el", "los", "las", "es", "una", "por", "para", "con", "que", "y"},
    "it": {"il", "gli", "della", "che", "per", "una", "sono", "con", "non", "di"},
    "pt": {"os", "uma", "para", "com", "não", "que", "em", "do", "da", "você"},
}


class Features(NamedTuple):
    """What the router knows about a request without calling a model."""

    text: str
    input_tokens: int
    max_tokens: int
    modalities: frozenset[str]
    language: str
    capabilities: frozenset[str] = frozenset()  # what the request needs (fmgateway.routing.capabilities.required)


def extract_features(messages: list[dict], system: list[dict] | None, max_tokens: int) -> Features:
    parts: list[str] = []
    tokens = 0
    modalities = {"text"}
    for block in system or ():
        if "text" in block:
            parts.append(block["text"])
    for message in messages:
        tokens += 4  # role and framing
        for block in message["content"]:
            if "text" in block:
                parts.append(block["text"])
            elif "image" in block:
                modalities.add("image")
                tokens += IMAGE_TOKENS
            elif "document" in block:
                modalities.add("document")
                tokens += DOCUMENT_TOKENS
            elif "video" in block:
                modalities.add("video")
    text = "\n".join(parts)
    tokens += -(-len(text) // CHARS_PER_TOKEN)
    return Features(text, tokens, max_tokens, frozenset(modalities), detect_language(text))


def detect_language(text: str) -> str:
    sample = text[:2000]
    counts: dict[str, int] = {}
    letters = 0
    for char in sample:
        if not char.isalpha():
            continue
        letters += 1
        code = ord(char)
        if code < 0x0370:
            continue
        for first, last, language in _SCRIPTS:
            if first <= code <= last:
                counts[language] = counts.get(language, 0) + 1
                break
    if counts:
        language, count = max(counts.items(), key=lambda item: item[1])
        if count * 5 >= letters:  # a fifth of the letters: "α, β, γ" in an English prompt is still English
            return language
    words = re.findall(r"[a-zà-ÿ]+", sample[:800].lower())
    if words:
        scores = {language: sum(word in vocabulary for word in words) for language, vocabulary in _LATIN_WORDS.items()}
        language, score = max(scores.items(), key=lambda item: item[1])
        if score >= 3 and score * 8 >= len(words):
            return language
    return "en"


def classify(features: Features, settings: dict) -> tuple[str, list[str]]:
    """Pick a tier from content alone. Returns the tier and the signals that drove it."""
    simple_max = settings.get("simpleMaxTokens", 300)
    complex_min = settings.get("complexMinTokens", 4000)
    if features.input_tokens >= complex_min:
        return "complex", [f"tokens>={complex_min}"]
    text = features.text
    sample = (text if len(text) <= _SAMPLE else text[: _SAMPLE - 1000] + text[-1000:]).lower()
    signals: list[str] = []
    score = 0
    if _CODE.search(sample):
        score += 2
        signals.append("code")
    if _REASONING.search(sample):
        score += 2
        signals.append("reasoning")
    if _ANALYSIS.search(sample):
        score += 1
        signals.append("analysis")
    if len(_STEPS.findall(sample)) >= 3:
        score += 1
        signals.append("multi-step")
    if features.input_tokens > simple_max:
        score += 1
        signals.append(f"tokens>{simple_max}")
    if features.modalities != {"text"}:
        score += 1
        signals.append("multimodal")
    if score >= settings.get("complexMinScore", 3):
        return "complex", signals
    if score >= settings.get("mediumMinScore", 1):
        return "medium", signals
    return "simple", signals


class TierDecision(NamedTuple):
    """How ``auto`` chose a tier: which classifier decided, on what, and why."""

    tier: str
    decided_by: str  # heuristic | learned | classifier
    signals: tuple[str, ...] = ()
    score: float | None = None  # on the 0..1 difficulty scale shared by every classifier
    reason: str | None = None  # why the heuristic decided when a classifier was configured
    classifier: dict[str, Any] | None = None  # the classifier call: model, label, ms
    threshold: float | None = None  # learned: the threshold that decided (for "simple": the medium one it stayed under)
    thresholds: dict[str, float] | None = None  # learned: every tier threshold in force
    artifact: str | None = None  # learned: "<version> (<source>)" of the difficulty artifact

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tier": self.tier, "decidedBy": self.decided_by}
        if self.signals:
            out["signals"] = list(self.signals)
        if self.score is not None:
            out["score"] = self.score
        if self.reason:
            out["reason"] = self.reason
        if self.classifier:
            out["classifier"] = self.classifier
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.thresholds is not None:
            out["thresholds"] = self.thresholds
        if self.artifact is not None:
            out["artifact"] = self.artifact
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TierDecision:
        return cls(
            tier=data["tier"],
            decided_by=data["decidedBy"],
            signals=tuple(data.get("signals", ())),
            score=data.get("score"),
            reason=data.get("reason"),
            classifier=data.get("classifier"),
            threshold=data.get("threshold"),
            thresholds=data.get("thresholds"),
            artifact=data.get("artifact"),
        )


def heuristic_decision(features: Features, settings: dict, reason: str | None = None) -> TierDecision:
    tier, signals = classify(features, settings)
    return TierDecision(tier, "heuristic", tuple(signals), reason=reason)


def learned_decision(features: Features, settings: dict) -> TierDecision:
    """The difficulty score of the request text against the artifact's calibrated thresholds (no model call)."""
    decision = difficulty.model_for(settings).decide(features.text)
    side = "<" if decision.tier == "simple" else ">="
    return TierDecision(
        decision.tier,
        "learned",
        (f"score {decision.score:.3f} {side} {decision.threshold:.3f}",),
        score=round(decision.score, 4),
        threshold=round(decision.threshold, 4),
        thresholds={tier: round(value, 4) for tier, value in decision.thresholds.items()},
        artifact=decision.artifact,
    )


def content_decision(features: Features, settings: dict) -> TierDecision:
    """How ``auto`` picks a tier without calling a model: the learned score, or the heuristic."""
    if settings.get("mode") == "learned":
        return learned_decision(features, settings)
    return heuristic_decision(features, settings)


class Plan(NamedTuple):
    kind: str  # model | alias | tier | path | auto
    tier: str | None
    candidates: list[Candidate]
    notes: list[str]
    decision: TierDecision | None = None  # set for ``auto``
    strategy: dict[str, Any] | None = None  # the routing strategy's choice (``strategies.Choice.describe()``)

    @property
    def route(self) -> str:
        return f"{self.kind}:{self.tier}" if self.kind in ("tier", "path", "auto") else f"{self.kind}:{self.candidates[0].alias}"

    def to_json(self) -> dict[str, Any]:
        """The plan as data, for the state machine's steps (each candidate whole: ``Candidate.describe``)."""
        return {
            "kind": self.kind,
            "tier": self.tier,
            "route": self.route,
            "candidates": [candidate.describe() for candidate in self.candidates],
            "count": len(self.candidates),
            "notes": self.notes,
            "decision": self.decision.describe() if self.decision else None,
            "strategy": self.strategy,
        }

    @classmethod
    def from_json(cls, config: GatewayConfig, data: dict[str, Any]) -> Plan:
        return cls(
            kind=data["kind"],
            tier=data["tier"],
            candidates=[Candidate.from_json(entry) for entry in data["candidates"]],
            notes=list(data["notes"]),
            decision=TierDecision.from_json(data["decision"]) if data.get("decision") else None,
            strategy=data.get("strategy"),
        )


def plan(
    config: GatewayConfig,
    features: Features,
    *,
    model: str | None = None,
    tier: str | None = None,
    path_route: str | None = None,
    decision: TierDecision | None = None,
    pinned: bool = False,
) -> Plan:
    """Resolve the request to an ordered, capability-filtered list of candidates. ``decision``: how ``auto``
    chose its tier when the caller already asked a classifier (default: the content heuristic). ``pinned``: only
    the model asked for, never a fallback or a retired model's successor (README "Pinning a model")."""
    if pinned and (model is None or model == "auto"):
        raise InvalidRequest(f"header {PIN_HEADER}: pins the model the request names, and this one names none (body.model)")
    catalog = config.catalog
    notes: list[str] = []
    requested: Model | None = None
    if model is not None and model != "auto":
        requested = catalog.find(model)
        if requested is None:
            raise InvalidRequest(f"body.model: unknown model '{model}'; GET /v1/models lists the catalog")
        kind = "alias" if model in catalog.models else "model"
        current = catalog.current(requested)[0]
        home = {requested.alias, current.alias}
        # The model asked for goes first; the rest of its tier's chain keeps it answering through an outage.
        tier = next((name for name in TIERS if home & set(config.tiers.get(name, ()))), None)
        chain = [requested.alias, *(config.tiers[tier] if tier else ())]
        if pinned:
            if current is not requested:
                raise InvalidRequest(
                    f"body.model: {requested.alias} is {requested.lifecycle} and the request pins it ({PIN_HEADER}); "
                    f"its successor is {current.alias}"
                )
            chain = [requested.alias]
            notes.append(f"pinned to {requested.alias}: no fallback")
    else:
        if tier is not None:
            kind = "tier"
        elif path_route is not None:
            kind, tier = "path", path_route
        elif model == "auto" or config.default_route == "auto":
            kind = "auto"
            decision = decision or content_decision(features, config.content_routing)
            tier = decision.tier
            signals = decision.signals
            by = "" if decision.decided_by == "heuristic" else f" by {decision.decided_by}"
            notes.append(f"auto -> {tier}{by}" + (f" ({', '.join(signals)})" if signals else ""))
        else:
            kind, tier = "tier", config.default_route
        chain = list(config.tiers[tier])

    models: list[Model] = []
    rejected: dict[str, str] = {}
    for alias in chain:
        current, passed = catalog.current(catalog.models[alias])
        if passed:
            notes.append(f"{' -> '.join(passed)}{RETIRED_NOTE}{current.alias}")
        if current.lifecycle == "deprecated":
            notes.append(f"{current.alias}{DEPRECATED_NOTE}" + (f"; successor {current.successor}" if current.successor else ""))
        if current in models or current.alias in rejected:
            continue
        reason = unfit_reason(current, features)
        if reason:
            rejected[current.alias] = reason
        else:
            models.append(current)

    first = catalog.current(requested)[0] if requested else None
    if first is not None and first.alias in rejected:
        _raise_unfit({first.alias: rejected[first.alias]})
    if not models:
        _raise_unfit(rejected)
    return Plan(kind, tier, [Candidate(model) for model in models], notes, decision if kind == "auto" else None)


PIN_HEADER = "x-gateway-pin"
RETIRED_NOTE, DEPRECATED_NOTE = " retired, using ", " is deprecated"  # the plan's lifecycle notes (``plan``)


def lifecycle_notes(notes: list[str]) -> list[str]:
    """The notes saying a model asked for is retired (and which answered instead) or deprecated."""
    return [note for note in notes if RETIRED_NOTE in note or DEPRECATED_NOTE in note]


def unfit_reason(model: Model, features: Features) -> str | None:
    needed = features.input_tokens + min(features.max_tokens, model.max_output_tokens)
    if needed > model.context_window:
        return f"context: needs ~{needed} tokens, window is {model.context_window}"
    missing = features.modalities - model.input_modalities
    if missing:
        return f"modality: does not accept {', '.join(sorted(missing))}"
    if not model.speaks(features.language):
        return f"language: does not support '{features.language}'"
    lacking = capabilities.missing(features.capabilities, model.capabilities)
    if lacking:
        return f"capability: does not support {', '.join(lacking)}"
    return None


def _raise_unfit(rejected: dict[str, str]) -> None:
    detail = "; ".join(f"{alias}: {reason}" for alias, reason in rejected.items())
    if all(reason.startswith("context") for reason in rejected.values()):
        raise PayloadTooLarge(f"the prompt does not fit any candidate model's context window ({detail})")
    raise InvalidRequest(f"no candidate model can serve this request ({detail})")
