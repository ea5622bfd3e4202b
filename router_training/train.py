"""Fit the difficulty score, cross-validate it and calibrate its tier thresholds (numpy/scikit-learn: dev only).

The model: logistic regression on ``fmgateway.routing.difficulty.text_features``. Its label is "the small model
fails and the large one succeeds" (the prompts routing to the large tier can fix), each benchmark weighted
equally. The word priors it pools are learned on the training rows out of fold (inner 5-fold), so the
regression sees them as noisy as they are on new prompts.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedGroupKFold

from fmgateway.routing.difficulty import ARTIFACT_FORMAT, UPPER_TIERS, DifficultyModel, prompt_words, text_features
from router_training.data import Example, benchmark_weights

DENSE_PREFIXES = ("d:", "c:", "o:")
SEED = 20261129


class Params(NamedTuple):
    """Chosen by 5-fold cross-validation on the training half (see README: "How auto decides")."""

    c: float = 0.3  # inverse L2 strength of the logistic regression
    dense_scale: float = 3.0  # structural features are standardised then scaled up: less shrinkage than n-grams
    prior_smoothing: float = 10.0  # pseudo-count pulling a word's prior towards the overall rate
    min_df: int = 15  # n-grams seen in fewer training prompts are dropped (fewer, more general n-grams)
    prior_min_df: int = 3  # words seen in fewer training prompts get no prior
    max_ngrams: int = 6000  # the artifact keeps this many n-gram weights, the largest in magnitude
    # A fixed extra weight on log(1 + characters), the single strongest signal on both benchmarks, which the
    # regularised regression under-weights: blending its logit with length beat either alone in 5-fold CV
    # (3 seeds; tried 0, 0.25, 0.5, 1, 2, 4). Centred on the training mean so the average score is unchanged.
    length_prior: float = 1.0


def label(example: Example) -> int:
    return int(example.strong_correct == 1 and example.weak_correct == 0)


def word_priors(examples: Sequence[Example], weights: Sequence[float], smoothing: float, min_df: int) -> dict[str, float]:
    """Each word's smoothed log-odds, relative to the overall rate, that a prompt containing it is labelled 1."""
    seen: dict[str, list[float]] = {}  # word -> [weight, weighted positives, prompts]
    total = positives = 0.0
    for example, weight in zip(examples, weights, strict=True):
        y = label(example)
        total += weight
        positives += weight * y
        for word in prompt_words(example.prompt):
            entry = seen.setdefault(word, [0.0, 0.0, 0.0])
            entry[0] += weight
            entry[1] += weight * y
            entry[2] += 1
    rate = positives / total
    base = math.log(rate / (1 - rate))
    return {
        word: round(math.log((pos + smoothing * rate) / (n - pos + smoothing * (1 - rate))) - base, 3)
        for word, (n, pos, count) in seen.items()
        if count >= min_df
    }


def _matrix(rows: list[dict[str, float]], vocab: dict[str, int]) -> sparse.csr_matrix:
    indices, columns, values = [], [], []
    for i, row in enumerate(rows):
        for name, value in row.items():
            j = vocab.get(name)
            if j is not None:
                indices.append(i)
                columns.append(j)
                values.append(value)
    return sparse.csr_matrix((values, (indices, columns)), shape=(len(rows), len(vocab)))


def fit(examples: Sequence[Example], params: Params = Params(), weights: Sequence[float] | None = None) -> dict[str, Any]:
    """Train on ``examples``; returns the weights part of an artifact (no thresholds yet)."""
    examples = list(examples)
    weights = list(weights if weights is not None else benchmark_weights(examples))
    w = np.asarray(weights)
    # Out-of-fold priors for the rows the regression learns from; priors from every row for the artifact.
    rows: list[dict[str, float]] = [{} for _ in examples]
    for inner_train, inner_test in KFold(5, shuffle=True, random_state=SEED).split(examples):
        priors = word_priors([examples[i] for i in inner_train], w[inner_train], params.prior_smoothing, params.prior_min_df)
        for i in inner_test:
            rows[i] = text_features(examples[i].prompt, priors)
    document_frequency: dict[str, int] = {}
    for row in rows:
        for name in row:
            document_frequency[name] = document_frequency.get(name, 0) + 1
    names = sorted(n for n, df in document_frequency.items() if n[:2] in DENSE_PREFIXES or df >= params.min_df)
    vocab = {name: j for j, name in enumerate(names)}
    x = _matrix(rows, vocab)
    dense = np.array([name[:2] in DENSE_PREFIXES for name in names])
    scale = np.ones(len(names))
    spread = x[:, dense].toarray().std(axis=0)
    scale[dense] = params.dense_scale / np.where(spread > 1e-9, spread, 1.0)
    model = LogisticRegression(C=params.c, solver="liblinear", max_iter=5000, random_state=SEED)
    model.fit(x.multiply(scale.reshape(1, -1)).tocsr(), [label(e) for e in examples], sample_weight=w)
    coefficients = model.coef_[0] * scale  # back to raw feature units: the runtime multiplies raw features
    kept = {name: float(coefficients[j]) for j, name in enumerate(names) if name[:2] in DENSE_PREFIXES}
    ngrams = sorted(
        ((name, float(coefficients[j])) for j, name in enumerate(names) if name[:2] not in DENSE_PREFIXES),
        key=lambda item: -abs(item[1]),
    )
    kept.update((name, value) for name, value in ngrams[: params.max_ngrams] if abs(value) >= 1e-4)
    kept["d:log_chars"] = kept.get("d:log_chars", 0.0) + params.length_prior
    mean_log_chars = float(np.average([math.log1p(len(e.prompt)) for e in examples], weights=w))
    return {
        "intercept": round(float(model.intercept_[0]) - params.length_prior * mean_log_chars, 6),
        "weights": {name: round(value, 5) for name, value in sorted(kept.items())},
        "wordPriors": word_priors(examples, weights, params.prior_smoothing, params.prior_min_df),
        "params": params._asdict(),
    }


def cross_validated_scores(examples: Sequence[Example], params: Params = Params(), seed: int = SEED) -> list[float]:
    """Out-of-fold scores, 5 folds stratified by benchmark and label; duplicate prompts share a fold."""
    examples = list(examples)
    strata = [f"{e.benchmark}:{label(e)}" for e in examples]
    groups = [int(hashlib.sha256(e.prompt.encode()).hexdigest()[:8], 16) for e in examples]
    scores = [0.0] * len(examples)
    folds = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
    for train_rows, test_rows in folds.split(np.zeros(len(examples)), strata, groups):
        fitted = fit([examples[i] for i in train_rows], params)
        model = DifficultyModel(_artifact(fitted, {"medium": 0.5, "complex": 0.5}, {}), "cv")
        for i in test_rows:
            scores[i] = model.score(examples[i].prompt)
    return scores


def calibrate(scores: Sequence[float], weights: Sequence[float], shares: dict[str, float]) -> dict[str, float]:
    """Thresholds sending at most ``shares[tier]`` of the (weighted) traffic to each upper tier.

    ``complex`` gets the top ``shares["complex"]``, ``medium`` the next ``shares["medium"]``; the threshold is
    the lowest score whose "score >= threshold" share stays within the budget."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    total = float(sum(weights))
    budgets = {"complex": shares["complex"], "medium": shares["complex"] + shares["medium"]}
    thresholds: dict[str, float] = {}
    for tier, budget in budgets.items():
        threshold = 1.0  # nothing at or above a share of 0 (scores are < 1)
        taken = 0.0
        i = 0
        while i < len(order):
            j = i
            block = 0.0
            while j < len(order) and scores[order[j]] == scores[order[i]]:
                block += weights[order[j]]
                j += 1
            if (taken + block) / total > budget + 1e-12:
                break
            taken += block
            threshold = scores[order[i]]
            i = j
        thresholds[tier] = threshold
    thresholds["medium"] = min(thresholds["medium"], thresholds["complex"])
    return {tier: round(thresholds[tier], 6) for tier in UPPER_TIERS}


def _artifact(fitted: dict[str, Any], thresholds: dict[str, float], shares: dict[str, float]) -> dict[str, Any]:
    return {"format": ARTIFACT_FORMAT, "version": "unversioned", **fitted, "thresholds": thresholds, "shares": shares}


def with_thresholds(artifact: dict[str, Any], examples: Sequence[Example], shares: dict[str, float]) -> dict[str, Any]:
    """``artifact`` with thresholds calibrated to ``shares`` on ``examples`` scored exactly as the gateway scores."""
    model = DifficultyModel({**artifact, "thresholds": {"medium": 0.5, "complex": 0.5}}, "calibration")
    scores = [model.score(e.prompt) for e in examples]
    thresholds = calibrate(scores, benchmark_weights(list(examples)), shares)
    updated = {**artifact, "thresholds": thresholds, "shares": dict(shares)}
    updated["version"] = artifact_version(updated)
    return updated


def artifact_version(artifact: dict[str, Any]) -> str:
    """A content hash: the same data, parameters and shares give the same version (training is deterministic)."""
    body = {key: value for key, value in artifact.items() if key not in ("version", "trainedOn", "crossValidation")}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return f"1.{digest}"


def build(examples: Sequence[Example], shares: dict[str, float], params: Params = Params()) -> dict[str, Any]:
    fitted = fit(examples, params)
    artifact = with_thresholds(_artifact(fitted, {"medium": 0.5, "complex": 0.5}, {}), examples, shares)
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.benchmark] = counts.get(example.benchmark, 0) + 1
    artifact["trainedOn"] = counts
    return artifact
