"""Redaction of e-mail addresses, phone numbers and payment card numbers in training text, counted per kind.

Conservative by design: a card number must pass the Luhn check (so order numbers and timestamps stay), and a phone
number needs a leading ``+`` or the separators of a written number (``555-123-4567``, ``(555) 123 4567``), so plain
digit runs such as ids and counts are not touched. What is replaced becomes ``[EMAIL]``, ``[PHONE]`` or ``[CARD]``.
"""

from __future__ import annotations

import re
from collections import Counter

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,3}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4})(?![\w-])"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def redacted(text: str, counts: Counter[str]) -> str:
    """``text`` with what it holds of the three kinds replaced, each replacement added to ``counts``."""

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            counts["card"] += 1
            return "[CARD]"
        return match.group()

    def replace(kind: str, mark: str):
        def swap(_match: re.Match[str]) -> str:
            counts[kind] += 1
            return mark

        return swap

    text = EMAIL.sub(replace("email", "[EMAIL]"), text)
    text = CARD.sub(card, text)
    return PHONE.sub(replace("phone", "[PHONE]"), text)
