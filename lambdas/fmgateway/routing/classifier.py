"""Classifier-model routing: a small, cheap model labels a request ``simple`` / ``medium`` / ``complex``.

One definition (prompt, labels, scores, budget) from ``contentRouting.classifier`` in the configuration, used by
the Lambda path and the state machine's classify step alike. This module builds the classifier's request and
reads its answer strictly; calling the model (through the breaker) is the gateway's job.
"""

from __future__ import annotations

from typing import Any, NamedTuple

DEFAULT_PROMPT = (
    "You route requests to AI models of three sizes. Read the request between <request> and </request> and "
    "answer with exactly one word: simple (a small fast model answers it well: facts, lookups, rewording, short "
    "replies), medium (solid writing or moderate reasoning), or complex (multi-step reasoning, mathematics, code, "
    "deep analysis). Answer with the one word only."
)
DEFAULT_LABEL_SCORES = {"simple": 0.2, "medium": 0.5, "complex": 0.8}
DEFAULT_BUDGET_SECONDS = 1.5
DEFAULT_MAX_INPUT_CHARS = 4000
MAX_LABEL_TOKENS = 5  # one word, with room for a tokenizer that splits it


class ClassifierSettings(NamedTuple):
    model: str
    prompt: str
    label_scores: dict[str, float]
    budget_seconds: float
    max_input_chars: int

    @classmethod
    def from_config(cls, content_routing: dict[str, Any]) -> ClassifierSettings:
        section = content_routing["classifier"]
        return cls(
            model=section["model"],
            prompt=section.get("prompt", DEFAULT_PROMPT),
            label_scores=dict(section.get("labelScores", DEFAULT_LABEL_SCORES)),
            budget_seconds=float(section.get("budgetSeconds", DEFAULT_BUDGET_SECONDS)),
            max_input_chars=int(section.get("maxInputChars", DEFAULT_MAX_INPUT_CHARS)),
        )


def enabled(content_routing: dict[str, Any]) -> bool:
    return content_routing.get("mode", "heuristic") == "classifier"


def request_body(text: str, settings: ClassifierSettings) -> dict[str, Any]:
    """The Converse body sent to the classifier model: the fixed prompt, the request text, a one-word answer."""
    if len(text) > settings.max_input_chars:
        half = settings.max_input_chars // 2
        text = text[:half] + "\n...\n" + text[-half:]  # the start says what is asked, the end often says how
    return {
        "system": [{"text": settings.prompt}],
        "messages": [{"role": "user", "content": [{"text": f"<request>\n{text}\n</request>"}]}],
        "inferenceConfig": {"maxTokens": MAX_LABEL_TOKENS, "temperature": 0},
    }


def parse_label(response: dict[str, Any], settings: ClassifierSettings) -> str | None:
    """The label if the answer is exactly one of them (case, surrounding space and a final period aside)."""
    content = ((response.get("output") or {}).get("message") or {}).get("content") or []
    text = "".join(block.get("text", "") for block in content if isinstance(block, dict))
    word = text.strip().lower().removesuffix(".").strip()
    return word if word in settings.label_scores else None
