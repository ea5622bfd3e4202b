"""Routing time for ``model: "auto"``: feature extraction plus the learned difficulty score and tier, in process,
for a 6,000-character prompt (the issue's bound: p99 < 1 ms) and for short everyday prompts; plus the one-off
cost of loading the bundled artifact on first use (request time, not cold start: it is not imported).
"""

from __future__ import annotations

import json
import time

from bench.common import machine, percentile, table

TARGET_P99_MS = 1.0
SHORT = "Hello! Can you tell me what a circuit breaker does in a distributed system?"
PARAGRAPH = (
    "A bakery sells 120 loaves on Monday and 15% more on Tuesday. Each loaf costs $3.50 to make and sells for $5. "
    "The owner wants to know the weekly profit if Wednesday to Sunday each match Tuesday, and whether hiring a "
    "second baker at $640 a week is worth it when it would raise sales by a quarter. "
)
LONG = (PARAGRAPH * (6000 // len(PARAGRAPH) + 1))[:6000]


def _time(function, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run(requests: int = 2000) -> str:
    from fmgateway import difficulty, routing
    from fmgateway.config import load_file
    from tests.conftest import CONFIG_FILE

    config = load_file(CONFIG_FILE)
    settings = config.content_routing
    size_kib = difficulty.BUNDLED_ARTIFACT.stat().st_size / 1024
    loads = _time(lambda: difficulty.DifficultyModel(json.loads(difficulty.BUNDLED_ARTIFACT.read_text()), "bench"), 20)
    difficulty.bundled_model()

    def decide(text: str):
        messages = [{"role": "user", "content": [{"text": text}]}]
        return lambda: routing.content_decision(routing.extract_features(messages, None, 1024), settings)

    rows = [[f"load the bundled artifact ({size_kib:.0f} KiB), first use", *_stats(loads)]]
    results = {}
    for name, text in (("6,000-character prompt", LONG), ("short prompt (76 chars)", SHORT)):
        function = decide(text)
        _time(function, 200)  # warm-up
        results[name] = _time(function, requests)
        rows.append([f"features + score + tier: {name}", *_stats(results[name])])
    p99 = percentile(results["6,000-character prompt"], 99)
    verdict = f"target p99 < {TARGET_P99_MS} ms for 6,000 characters: {'MET' if p99 < TARGET_P99_MS else 'MISSED'} ({p99:.3f} ms)"
    return "\n".join(
        [
            f"Routing time for model=auto (mode {settings.get('mode')}), {requests} calls each, ms ({machine()})",
            table(["what", "p50", "p99", "max"], rows),
            verdict,
        ]
    )


def _stats(samples: list[float]) -> list[str]:
    return [f"{percentile(samples, 50):.3f}", f"{percentile(samples, 99):.3f}", f"{max(samples):.3f}"]


if __name__ == "__main__":
    print(run())
