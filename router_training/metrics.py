"""RouteLLM's router metrics (arXiv 2406.18665), computed exactly, with ties split in expectation.

A router orders prompts by score; sending the top share ``s`` to the strong model and the rest to the
weak one gives an accuracy. PGR(s) = (accuracy - weak accuracy) / (strong accuracy - weak accuracy).
APGR is the area under PGR over s in [0, 1] (a random router: 0.5); CPT(50%) is the smallest s with
PGR(s) >= 0.5 (a random router: 50 %). Prompts with equal scores are routed as a block in random order,
so the curve is linear across a tie: a router that scores everything alike is exactly a random one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Curve(NamedTuple):
    shares: list[float]  # strong share at each breakpoint, 0 .. 1
    accuracies: list[float]
    weak_accuracy: float
    strong_accuracy: float

    def pgr(self) -> list[float]:
        gap = self.strong_accuracy - self.weak_accuracy
        return [(accuracy - self.weak_accuracy) / gap for accuracy in self.accuracies]

    def apgr(self) -> float:
        pgr, shares = self.pgr(), self.shares
        return sum((shares[i + 1] - shares[i]) * (pgr[i + 1] + pgr[i]) / 2 for i in range(len(shares) - 1))

    def cpt(self, target: float = 0.5) -> float:
        """Smallest strong share whose PGR reaches ``target`` (linear between breakpoints)."""
        pgr, shares = self.pgr(), self.shares
        if pgr[0] >= target:
            return 0.0
        for i in range(1, len(shares)):
            if pgr[i] >= target:
                return shares[i - 1] + (shares[i] - shares[i - 1]) * (target - pgr[i - 1]) / (pgr[i] - pgr[i - 1])
        return 1.0

    def accuracy_at(self, share: float) -> float:
        shares = self.shares
        for i in range(1, len(shares)):
            if shares[i] >= share:
                span = shares[i] - shares[i - 1]
                fraction = 0.0 if span == 0 else (share - shares[i - 1]) / span
                return self.accuracies[i - 1] + fraction * (self.accuracies[i] - self.accuracies[i - 1])
        return self.accuracies[-1]


def curve(scores: Sequence[float], weak: Sequence[int], strong: Sequence[int]) -> Curve:
    """Accuracy against strong share when the highest scores go to the strong model first."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: -scores[i])
    correct = sum(weak)  # everything on the weak model
    shares, accuracies = [0.0], [correct / n]
    i = 0
    while i < n:
        j = i
        while j < n and scores[order[j]] == scores[order[i]]:
            correct += strong[order[j]] - weak[order[j]]
            j += 1
        shares.append(j / n)
        accuracies.append(correct / n)
        i = j
    return Curve(shares, accuracies, sum(weak) / n, sum(strong) / n)
