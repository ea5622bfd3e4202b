"""Learned difficulty score for ``model: "auto"``: how likely the small tier fails a prompt the large one answers.

A regularised logistic regression over cheap text features (word uni/bigrams and a few structural counts),
trained offline by ``router_training`` (outside the Lambda bundle's import path) and shipped as a small
versioned JSON artifact next to this file. Scoring is pure Python: no numpy, no model call, well under a
millisecond for a 6,000-character prompt. The same ``text_features`` function builds the training matrix,
so training and serving cannot drift apart.

Tiers come from thresholds on the score (``score >= threshold`` picks the higher tier, so the tier is
monotone in the score). The artifact carries thresholds calibrated to ``contentRouting.shares`` on the
reference data (``make train-router``, or ``make calibrate-router`` after the shares change).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

ARTIFACT_FORMAT = "fmgw-difficulty/1"
BUNDLED_ARTIFACT = Path(__file__).with_name("difficulty_model.json")
ARTIFACT_MAX_AGE = 45.0  # seconds; an S3 artifact is re-read like the configuration (live within a minute)
HEAD_CHARS = 2000  # n-grams come from the head and tail of long prompts: bounds the cost at any length
TAIL_CHARS = 500
PRIOR_PSEUDO_WORDS = 10
UPPER_TIERS = ("medium", "complex")  # each has a threshold; below the medium one is "simple"

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*|[$%=+*/^<>?]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_OPTION = re.compile(r"(?m)^[A-D][.)] ")
_SENTENCE_END = re.compile(r"[.?!](?:\s|$)")


def prompt_words(text: str) -> set[str]:
    """The distinct words of ``text`` that ``word_priors`` are keyed by (what the training pools over)."""
    return set(_words(_sample(text)))


def _sample(text: str) -> str:
    return text if len(text) <= HEAD_CHARS + TAIL_CHARS else text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def _words(sample: str) -> list[str]:
    # Every number is one token "<num>": the values themselves are noise, their count is a signal.
    return ["<num>" if token[0].isdigit() else token for token in _WORD.findall(sample.lower())]


def text_features(text: str, word_priors: dict[str, float] | None = None) -> dict[str, float]:
    """Features of one prompt, by name (the training matrix; ``DifficultyModel.score`` sums the same terms).

    - ``w:<word>`` / ``b:<w1 w2>``: n-gram indicators scaled by 1/sqrt(number of distinct n-grams);
    - ``d:<name>``: structural counts, log-scaled so a 100 kB prompt stays in the trained range, and
      aggregates (``prior_*``) of ``word_priors``: each word's smoothed log-odds, learned at training time,
      that prompts containing it need the strong model (topic vocabulary such as an exam subject, pooled
      over the prompt rather than learned one weight at a time);
    - the same values again under ``c:`` (multiple-choice prompts: at least two ``A.``-style option lines) or
      ``o:`` (open prompts), because length and numbers mean different things in the two formats.
    """
    grams, dense = _analyse(text, word_priors)
    features: dict[str, float] = {}
    if grams:
        weight = 1.0 / math.sqrt(len(grams))
        for gram in grams:
            features[("b:" if " " in gram else "w:") + gram] = weight
    features.update(dense)
    return features


def _analyse(text: str, word_priors: dict[str, float] | None) -> tuple[set[str], dict[str, float]]:
    """The distinct n-grams of the prompt and its named dense features (``d:``, ``c:``/``o:``)."""
    sample = _sample(text)
    words = _words(sample)
    unigrams = set(words)
    grams = set(unigrams)
    grams.update([f"{first} {second}" for first, second in zip(words, words[1:], strict=False)])
    numbers = _NUMBER.findall(sample)
    log1p = math.log1p
    options = len(_OPTION.findall(sample))
    dense = {
        "log_chars": log1p(len(text)),
        "log_words": log1p(len(words)),
        "numbers": log1p(len(numbers)),
        "distinct_numbers": log1p(len(set(numbers))),
        "decimals": log1p(sum(1 for number in numbers if "." in number)),
        "long_numbers": log1p(sum(1 for number in numbers if len(number) >= 4)),
        "sentences": log1p(len(_SENTENCE_END.findall(sample))),
        "options": log1p(options),
        "lines": log1p(sample.count("\n")),
        "word_length": (sum(map(len, words)) / len(words)) if words else 0.0,
    }
    if word_priors:
        known = [word_priors[word] for word in unigrams if word in word_priors]
        if known:
            # fsum: exact, so the result does not depend on set order (string hashing differs per process)
            total = math.fsum(known)
            # Shrunk towards 0 by pseudo-words: a two-word prompt's mean must not look like a long prompt's
            # (training prompts have dozens of known words; "Say hello" would otherwise score near 1).
            dense["prior_mean"] = total / (len(known) + PRIOR_PSEUDO_WORDS)
            dense["prior_sum"] = total / math.sqrt(len(known))
            dense["prior_max"] = max(known)
            dense["prior_min"] = min(known)
    split = "c:" if options >= 2 else "o:"
    named = {"d:multiple_choice": 1.0 if options >= 2 else 0.0}
    for name, value in dense.items():
        named["d:" + name] = value
        named[split + name] = value
    return grams, named


class Decision(NamedTuple):
    """How ``auto`` picked a tier: the score, the tier, and the threshold that decided it."""

    score: float
    tier: str
    threshold: float  # the threshold the score met (or, for "simple", the medium one it stayed under)
    thresholds: dict[str, float]
    artifact: str  # "<version> (<source>)"


class DifficultyModel:
    """A loaded artifact: weights, intercept and the thresholds calibrated at training time."""

    def __init__(self, doc: dict[str, Any], source: str):
        if doc.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unknown artifact format {doc.get('format')!r}; expected {ARTIFACT_FORMAT!r}")
        self.version = str(doc["version"])
        self.source = source
        self.intercept = float(doc["intercept"])
        self.weights: dict[str, float] = {str(name): float(value) for name, value in doc["weights"].items()}
        # n-gram weights keyed by the bare n-gram (bigrams contain a space, words do not): no name building per request
        self.gram_weights = {name[2:]: value for name, value in self.weights.items() if name[:2] in ("w:", "b:")}
        self.dense_weights = {name: value for name, value in self.weights.items() if name[:2] not in ("w:", "b:")}
        self.word_priors: dict[str, float] = {str(word): float(value) for word, value in doc.get("wordPriors", {}).items()}
        self.thresholds = _checked_thresholds(doc["thresholds"])
        self.shares: dict[str, float] = dict(doc.get("shares", {}))

    def score(self, text: str) -> float:
        """sigmoid(intercept + weights . text_features(text)), summed without building the feature dict."""
        grams, dense = _analyse(text, self.word_priors)
        logit = self.intercept
        if grams:
            # fsum: exact, so the score is bit-identical whatever the set's (per-process) iteration order
            logit += math.fsum(filter(None, map(self.gram_weights.get, grams))) / math.sqrt(len(grams))
        weights = self.dense_weights
        for name, value in dense.items():
            weight = weights.get(name)
            if weight is not None:
                logit += weight * value
        if logit < -30.0:  # keeps exp() in range for absurd inputs
            return 0.0
        return 1.0 / (1.0 + math.exp(-logit))

    def decide(self, text: str) -> Decision:
        score = self.score(text)
        tier, threshold = tier_for(score, self.thresholds)
        return Decision(score, tier, threshold, self.thresholds, f"{self.version} ({self.source})")


def tier_for(score: float, thresholds: dict[str, float]) -> tuple[str, float]:
    """The highest tier whose threshold the score meets; "simple" below the medium threshold."""
    if score >= thresholds["complex"]:
        return "complex", thresholds["complex"]
    if score >= thresholds["medium"]:
        return "medium", thresholds["medium"]
    return "simple", thresholds["medium"]


def in_uncertain_band(score: float, thresholds: dict[str, float], width: float) -> bool:
    """Whether ``score`` lies within ``width`` of a tier threshold, where a classifier call may settle the tier.

    Learned and classifier scores share the 0..1 scale (``contentRouting.labelScores`` map labels onto it)."""
    return width > 0 and any(abs(score - thresholds[tier]) <= width for tier in UPPER_TIERS)


def _checked_thresholds(raw: dict[str, Any]) -> dict[str, float]:
    thresholds = {tier: float(raw[tier]) for tier in UPPER_TIERS}
    if not 0.0 <= thresholds["medium"] <= thresholds["complex"] <= 1.0:
        raise ValueError(f"thresholds must satisfy 0 <= medium <= complex <= 1, got {thresholds}")
    return thresholds


# --- artifact loading: bundled on first use, or from S3 when the configuration names one -----------------

_lock = threading.RLock()
ArtifactReader = Callable[[str], bytes]  # an artifact URI -> its bytes
_bundled: DifficultyModel | None = None
_remote: dict[str, tuple[float, DifficultyModel]] = {}  # uri -> (loaded at, model), refreshed after max age
_reader: ArtifactReader | None = None


def bundled_model() -> DifficultyModel:
    global _bundled
    if _bundled is None:
        with _lock:
            if _bundled is None:
                _bundled = DifficultyModel(json.loads(BUNDLED_ARTIFACT.read_text()), "bundled")
    return _bundled


def model_for(settings: dict[str, Any], clock=time.monotonic) -> DifficultyModel:
    """The artifact ``contentRouting.artifact`` names (``s3://bucket/key``), else the bundled one.

    A broken or unreadable S3 artifact logs why and serves the last good copy of it, else the bundled one;
    a failed read is retried after ``ARTIFACT_MAX_AGE`` rather than on every request."""
    uri = settings.get("artifact")
    if not uri:
        return bundled_model()
    now = clock()
    cached = _remote.get(uri)
    if cached is not None and now - cached[0] < ARTIFACT_MAX_AGE:
        return cached[1]
    with _lock:
        cached = _remote.get(uri)
        if cached is not None and now - cached[0] < ARTIFACT_MAX_AGE:
            return cached[1]
        try:
            model = DifficultyModel(json.loads(_read_artifact(uri)), uri)
        except Exception as err:  # any failure (access, JSON, format) must not fail the request
            last_good = cached[1] if cached is not None else None
            _log_fallback(uri, err, last_good)
            model = last_good if last_good is not None else bundled_model()
        _remote[uri] = (now, model)
        return model


def use_artifact_reader(reader: ArtifactReader | None) -> None:
    """How ``contentRouting.artifact`` URIs are read (the wiring gives the S3 reader, ``fmgateway.aws.artifacts``);
    without one, a named artifact is unusable and the bundled one answers, with the reason logged."""
    global _reader
    _reader = reader


def _read_artifact(uri: str) -> bytes:
    if _reader is None:
        raise RuntimeError("no artifact reader is wired (fmgateway.runtime wires the S3 reader)")
    return _reader(uri)


def _log_fallback(uri: str, err: Exception, fallback: DifficultyModel | None) -> None:
    # Standard logging (Lambda ships it to CloudWatch): stdout must stay clean for the score command's JSON lines.
    using = f"the last good copy ({fallback.version})" if fallback is not None else "the bundled artifact"
    logging.getLogger(__name__).warning("difficulty artifact %s is unusable; using %s: %r", uri, using, err)


def reset() -> None:
    """Forget loaded artifacts (tests switch artifacts between cases); the wired reader stays."""
    global _bundled
    with _lock:
        _bundled = None
        _remote.clear()
