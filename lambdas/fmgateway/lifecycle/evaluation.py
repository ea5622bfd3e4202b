"""An evaluation set and how an answer is scored against it (issue 22): the cases of a JSON-lines file, the scorers
(exact match, ``contains``, JSON equality) and a judge model's verdict, parsed strictly.

A case is one JSON object per line: ``prompt`` (text) or ``messages`` (``[{"role", "content"}]``, content a string or
Converse text blocks) with an optional ``system``; optional ``expected``, ``scorer`` (``exact``, ``contains``,
``json``, ``judge``; default ``exact`` when ``expected`` is given, else ``judge`` when a judge is named, else none)
and ``tags``. Every score is from 0 to 1; a case with no scorer, or a judge case with no judge named, is measured
(latency, cost) but not scored (``unjudged`` counts the latter, so a missing ``--judge`` shows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

SCORERS = ("exact", "contains", "json", "judge")
CASE_FIELDS = frozenset({"prompt", "messages", "system", "expected", "scorer", "tags", "id"})


class Case(NamedTuple):
    number: int  # its line in the file
    messages: list[dict[str, Any]]  # Converse messages
    system: str | None
    expected: Any
    scorer: str | None
    tags: tuple[str, ...]

    @property
    def prompt(self) -> str:
        """The last user message's text (what a judge is shown as the question)."""
        return "".join(block.get("text", "") for block in self.messages[-1]["content"])

    def request(self, max_tokens: int | None = None) -> dict[str, Any]:
        """The case as a Converse-shaped body (``/v1/chat``, ``ConverseStream``)."""
        body: dict[str, Any] = {"messages": self.messages}
        if self.system:
            body["system"] = [{"text": self.system}]
        if max_tokens is not None:
            body["inferenceConfig"] = {"maxTokens": max_tokens}
        return body


class CaseError(ValueError):
    """A line of the evaluation set that is not a case (the message names the line and the field)."""


def _blocks(content: Any, where: str) -> list[dict[str, str]]:
    if isinstance(content, str):
        return [{"text": content}]
    if isinstance(content, list) and content and all(isinstance(b, dict) and set(b) == {"text"} for b in content):
        return [{"text": str(block["text"])} for block in content]
    raise CaseError(f"{where}: content must be a string or a list of {{text}} blocks")


def parse_case(raw: Any, number: int, judged: bool) -> Case:
    where = f"line {number}"
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: not a JSON object")
    unknown = sorted(set(raw) - CASE_FIELDS)
    if unknown:
        raise CaseError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(sorted(CASE_FIELDS))})")
    if ("prompt" in raw) == ("messages" in raw):
        raise CaseError(f"{where}: exactly one of prompt or messages")
    if "prompt" in raw:
        if not isinstance(raw["prompt"], str) or not raw["prompt"].strip():
            raise CaseError(f"{where}.prompt: a non-empty string")
        messages = [{"role": "user", "content": [{"text": raw["prompt"]}]}]
    else:
        if not isinstance(raw["messages"], list) or not raw["messages"]:
            raise CaseError(f"{where}.messages: a non-empty list")
        messages = []
        for index, message in enumerate(raw["messages"]):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise CaseError(f"{where}.messages[{index}].role: user or assistant")
            messages.append({"role": message["role"], "content": _blocks(message.get("content"), f"{where}.messages[{index}]")})
        if messages[-1]["role"] != "user":
            raise CaseError(f"{where}.messages: the last message must be the user's")
    system = raw.get("system")
    if system is not None and not isinstance(system, str):
        raise CaseError(f"{where}.system: a string")
    scorer = raw.get("scorer") or ("exact" if "expected" in raw else "judge" if judged else None)
    if scorer is not None and scorer not in SCORERS:
        raise CaseError(f"{where}.scorer: one of {', '.join(SCORERS)}")
    if scorer in ("exact", "contains", "json") and "expected" not in raw:
        raise CaseError(f"{where}: scorer {scorer} needs expected")
    if scorer in ("exact", "contains") and not isinstance(raw["expected"], str):
        raise CaseError(f"{where}.expected: a string for scorer {scorer}")
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise CaseError(f"{where}.tags: a list of strings")
    return Case(number, messages, system, raw.get("expected"), scorer, tuple(tags))


def load_cases(lines: Iterable[str], judged: bool = False) -> list[Case]:
    """The cases of a JSON-lines evaluation set (blank lines skipped); CaseError names the first bad line."""
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise CaseError(f"line {number}: not JSON ({exc})") from None
        cases.append(parse_case(raw, number, judged))
    if not cases:
        raise CaseError("the evaluation set holds no case")
    return cases


# ---- scorers ----------------------------------------------------------------------------------------------------------


def _normal(text: str) -> str:
    return " ".join(text.split())


def _json_equal(answer: str, expected: Any) -> float:
    text = answer.strip()
    if text.startswith("```"):  # a fenced block: the JSON inside it
        text = text.strip("`").removeprefix("json").strip()
    try:
        return 1.0 if json.loads(text) == expected else 0.0
    except ValueError:
        return 0.0


def score(case: Case, answer: str) -> float | None:
    """The case's score for ``answer`` by a rule (None for the judge or no scorer)."""
    if case.scorer == "exact":
        return 1.0 if _normal(answer) == _normal(case.expected) else 0.0
    if case.scorer == "contains":
        return 1.0 if _normal(case.expected).casefold() in _normal(answer).casefold() else 0.0
    if case.scorer == "json":
        return _json_equal(answer, case.expected)
    return None


# ---- the judge --------------------------------------------------------------------------------------------------------

JUDGE_INSTRUCTIONS = (
    "You are grading an answer. Reply with one JSON object and nothing else: "
    '{"score": <a number from 0 to 1>, "reason": "<one sentence>"}.'
)


class Verdict(NamedTuple):
    score: float | None  # None: the verdict could not be parsed
    reason: str
    cost_usd: float


def judge_prompt(case: Case, answer: str, rubric: str) -> str:
    parts = [JUDGE_INSTRUCTIONS, f"Rubric:\n{rubric.strip()}", f"Question:\n{case.prompt}"]
    if case.expected is not None:
        parts.append(f"Reference answer:\n{case.expected if isinstance(case.expected, str) else json.dumps(case.expected)}")
    parts.append(f"Answer to grade:\n{answer}")
    return "\n\n".join(parts)


def parse_verdict(text: str) -> tuple[float | None, str]:
    """Strict: the whole reply is one JSON object whose ``score`` is a number from 0 to 1 (a bare fenced block is
    taken); anything else is unparseable, never a guess."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        verdict = json.loads(stripped)
    except ValueError:
        return None, f"unparseable verdict: {text[:80]!r}"
    value = verdict.get("score") if isinstance(verdict, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        return None, f"unparseable verdict: score {value!r} is not a number from 0 to 1"
    return float(value), str(verdict.get("reason", ""))


Ask = Callable[[str], tuple[str, float]]  # a judge prompt -> (the judge's reply, its cost in USD)


def judged(case: Case, answer: str, rubric: str, ask: Ask) -> Verdict:
    reply, cost = ask(judge_prompt(case, answer, rubric))
    value, reason = parse_verdict(reply)
    return Verdict(value, reason, cost)
