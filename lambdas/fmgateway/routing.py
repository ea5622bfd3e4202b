"""Route resolution and planning: which models, in which order, may answer a request.

1. resolve: explicit model id | alias | tier | static path route | ``auto`` (content-based, no model call:
   the learned difficulty score of ``fmgateway.difficulty`` or the keyword heuristic, per
   ``contentRouting.mode``)
2. plan: lifecycle (retired -> successor), fallback chain of the tier, capability filter
   (context window, input modality, language).

``python -m fmgateway.routing score`` scores JSON-lines prompts offline through the same ``auto`` decision
(see ``fmgateway.score_cli``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from fmgateway import difficulty
from fmgateway.catalog import Model
from fmgateway.config import TIERS, GatewayConfig
from fmgateway.errors import InvalidRequest, PayloadTooLarge

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


def decide_auto(features: Features, settings: dict) -> tuple[str, list[str], dict | None]:
    """The tier ``auto`` picks, the signals behind it, and (learned mode) the score and deciding threshold."""
    if settings.get("mode") == "learned":
        decision = difficulty.model_for(settings).decide(features.text)
        side = ">=" if decision.tier != "simple" else "<"
        return decision.tier, [f"score {decision.score:.3f} {side} {decision.threshold:.3f}"], decision.describe()
    tier, signals = classify(features, settings)
    return tier, signals, None


class Plan(NamedTuple):
    kind: str  # model | alias | tier | path | auto
    tier: str | None
    candidates: list[Model]
    notes: list[str]
    decision: dict | None = None  # how ``auto`` chose the tier (score, threshold), reported in the gateway block

    @property
    def route(self) -> str:
        return f"{self.kind}:{self.tier}" if self.kind in ("tier", "path", "auto") else f"{self.kind}:{self.candidates[0].alias}"


def plan(
    config: GatewayConfig,
    features: Features,
    *,
    model: str | None = None,
    tier: str | None = None,
    path_route: str | None = None,
) -> Plan:
    """Resolve the request to an ordered, capability-filtered list of candidate models."""
    catalog = config.catalog
    notes: list[str] = []
    requested: Model | None = None
    decision: dict | None = None
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
    else:
        if tier is not None:
            kind = "tier"
        elif path_route is not None:
            kind, tier = "path", path_route
        elif model == "auto" or config.default_route == "auto":
            kind = "auto"
            tier, signals, decision = decide_auto(features, config.content_routing)
            notes.append(f"auto -> {tier}" + (f" ({', '.join(signals)})" if signals else ""))
        else:
            kind, tier = "tier", config.default_route
        chain = list(config.tiers[tier])

    candidates: list[Model] = []
    rejected: dict[str, str] = {}
    for alias in chain:
        current, passed = catalog.current(catalog.models[alias])
        if passed:
            notes.append(f"{' -> '.join(passed)} retired, using {current.alias}")
        if current.lifecycle == "deprecated":
            notes.append(f"{current.alias} is deprecated" + (f"; successor {current.successor}" if current.successor else ""))
        if current in candidates or current.alias in rejected:
            continue
        reason = unfit_reason(current, features)
        if reason:
            rejected[current.alias] = reason
        else:
            candidates.append(current)

    first = catalog.current(requested)[0] if requested else None
    if first is not None and first.alias in rejected:
        _raise_unfit({first.alias: rejected[first.alias]})
    if not candidates:
        _raise_unfit(rejected)
    return Plan(kind, tier, candidates, notes, decision)


def unfit_reason(model: Model, features: Features) -> str | None:
    needed = features.input_tokens + min(features.max_tokens, model.max_output_tokens)
    if needed > model.context_window:
        return f"context: needs ~{needed} tokens, window is {model.context_window}"
    missing = features.modalities - model.input_modalities
    if missing:
        return f"modality: does not accept {', '.join(sorted(missing))}"
    if not model.speaks(features.language):
        return f"language: does not support '{features.language}'"
    return None


def _raise_unfit(rejected: dict[str, str]) -> None:
    detail = "; ".join(f"{alias}: {reason}" for alias, reason in rejected.items())
    if all(reason.startswith("context") for reason in rejected.values()):
        raise PayloadTooLarge(f"the prompt does not fit any candidate model's context window ({detail})")
    raise InvalidRequest(f"no candidate model can serve this request ({detail})")


if __name__ == "__main__":  # python -m fmgateway.routing score [--config FILE]
    from fmgateway.score_cli import main

    raise SystemExit(main())
