"""The simulator's text rules, shared by Converse (``local.simulator_converse``) and the native InvokeModel bodies
(``local.simulator_native``): the token rule, the deterministic reply, the cut to a maximum token count, the text of a
prompt field and the usage counts of a call."""

from __future__ import annotations

import hashlib
import math
from typing import Any

_VOCABULARY = (
    "gateway bedrock model request answer token stream latency quota region route cache budget policy "
    "tenant prompt context signal fallback retry metric trace window shard queue batch limit event simple "
    "stable quick careful useful plain steady local honest clear returns checks routes counts measures "
    "records delivers reports the a this every each some with for and of to in on at by from then while"
)
_WORDS = tuple(_VOCABULARY.split())


def count_tokens(text: str) -> int:
    """Simulator token rule: per whitespace-separated word ceil(len/4) tokens, at least 1."""
    return sum(max(1, math.ceil(len(word) / 4)) for word in text.split())


def reply_text(model_id: str, prompt: str) -> str:
    """The full deterministic (untruncated) reply for a model and last user message."""
    digest = hashlib.sha256(f"{model_id}\n{prompt}".encode()).digest()
    n_words = 12 + digest[0] % 29
    words: list[str] = []
    counter = 0
    while len(words) < n_words:
        block = hashlib.sha256(digest + counter.to_bytes(4, "big")).digest()
        words.extend(_WORDS[b % len(_WORDS)] for b in block)
        counter += 1
    sentence = " ".join(words[:n_words])
    return f"[simulated {model_id}] {sentence[0].upper()}{sentence[1:]}."


def truncate_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut ``text`` (single-space separated) to at most ``max_tokens``; returns (text, truncated)."""
    out: list[str] = []
    used = 0
    for word in text.split(" "):
        cost = count_tokens(word)
        if used + cost > max_tokens:
            if max_tokens - used > 0:
                out.append(word[: (max_tokens - used) * 4])
            return " ".join(out), True
        out.append(word)
        used += cost
    return text, False


def texts_of(content: Any) -> list[str]:
    """The text of a prompt field: a string, or the text blocks of a content list."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]
    return []


def usage_of(input_texts: list[str], reply: str) -> dict[str, int]:
    """Converse's ``usage``: input tokens of every input text, output tokens of the reply, and their total."""
    usage = {"inputTokens": sum(count_tokens(text) for text in input_texts), "outputTokens": count_tokens(reply)}
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
    return usage
