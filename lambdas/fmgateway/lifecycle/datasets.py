"""Training datasets from invocation logs (issue 21): the records of the final answers, filtered, de-duplicated,
optionally redacted, written in the format Bedrock takes for the base model, split into training and validation, and
held to the documented limits (``dataset_rules``). ``fmgw datasets build`` is a thin command over ``build``; the
customization workflow's tasks use ``check_dataset``.

One gateway request can leave several records: a failed attempt, a fallback, a hedge, the classifier's call. They
share ``fmgw-request-id``; the dataset keeps the last successful answer of each request (the one that answered, or
with a hedge, the later of two good answers to the same prompt) and leaves the classifier's calls out unless asked.
Records without the gateway's keys (another application's calls) are each a request of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from fmgateway.converse import request_metadata
from fmgateway.lifecycle import dataset_rules
from fmgateway.lifecycle.dataset_checks import dataset_rules_broken, record_rules, shape_rule, too_few
from fmgateway.lifecycle.dataset_rules import BaseModel
from fmgateway.lifecycle.exchanges import Exchange, NotText, Turn, exchange_of
from fmgateway.lifecycle.invocation_logs import LogRecord, Unreadable
from fmgateway.lifecycle.redaction import redacted

CLASSIFIER_ROUTE = "classifier"  # fmgw-route of the auto tier's classifier calls (fmgateway.core.auto_tier)


class Filters(NamedTuple):
    since: datetime | None = None
    until: datetime | None = None
    where: dict[str, str] = {}  # requestMetadata pairs, all of which must match
    models: tuple[str, ...] = ()  # a Bedrock model id (or part of one) or a gateway alias (fmgw-model)
    operations: tuple[str, ...] = ()
    stop_reasons: tuple[str, ...] = ()
    min_answer_chars: int = 0
    include_classifier: bool = False


class Options(NamedTuple):
    dataset_format: str  # a key of dataset_rules.FORMATS
    base_model: str
    validation_share: float = 0.0
    seed: int = 7
    dedupe: bool = True
    redact: bool = False
    prompts_only: bool = False  # conversation records without the answer (a distillation's teacher writes it)


class Refusal(NamedTuple):
    """A record that breaks a rule: where it is (file, line) and the rule."""

    source: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.rule}"


@dataclass
class Summary:
    records_read: int = 0
    requests: int = 0
    kept: int = 0
    train: int = 0
    validation: int = 0
    attempts_folded: int = 0  # records of a request other than its final answer
    dropped: Counter[str] = field(default_factory=Counter)  # requests left out, by reason
    redactions: Counter[str] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "recordsRead": self.records_read,
            "requests": self.requests,
            "kept": self.kept,
            "train": self.train,
            "validation": self.validation,
            "attemptsFolded": self.attempts_folded,
            "dropped": dict(sorted(self.dropped.items())),
            "redactions": dict(sorted(self.redactions.items())),
            "refusals": [str(refusal) for refusal in self.refusals],
            "warnings": self.warnings,
        }


@dataclass
class Dataset:
    train: list[str]  # JSON lines
    validation: list[str]
    summary: Summary


class DatasetError(ValueError):
    """The dataset as a whole breaks a documented limit (the message names it and the numbers)."""


def parse_time(value: str) -> datetime:
    """An ISO 8601 date or time (``Z`` accepted), as UTC when it names no zone."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_where(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs as a dict (ValueError names a pair without ``=``)."""
    where = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--where {pair!r}: expected KEY=VALUE")
        where[key] = value
    return where


def request_key(record: LogRecord) -> str:
    return record.metadata.get(request_metadata.REQUEST_ID) or f"bedrock:{record.request_id}"


def final_answers(records: Iterable[LogRecord | Unreadable], filters: Filters, summary: Summary) -> list[LogRecord]:
    """The last successful record of each request, in the order the requests were first seen."""
    groups: dict[str, list[LogRecord]] = {}
    for record in records:
        if isinstance(record, Unreadable):
            summary.refusals.append(Refusal(record.source, record.line, record.reason))
            summary.dropped["unreadable"] += 1
            continue
        summary.records_read += 1
        if record.metadata.get(request_metadata.ROUTE) == CLASSIFIER_ROUTE and not filters.include_classifier:
            summary.dropped["classifier call"] += 1
            continue
        groups.setdefault(request_key(record), []).append(record)
    finals = []
    for group in groups.values():
        summary.requests += 1
        answered = [record for record in group if record.succeeded]
        summary.attempts_folded += len(group) - 1
        if not answered:
            summary.dropped["no successful answer"] += 1
            continue
        finals.append(max(answered, key=lambda record: parse_time(record.timestamp)))
    return finals


def _model_matches(record: LogRecord, models: tuple[str, ...]) -> bool:
    alias = record.metadata.get(request_metadata.MODEL)
    return any(model == alias or model in record.model_id for model in models)


def filtered_out(record: LogRecord, exchange: Exchange, filters: Filters) -> str | None:
    """Why a final answer is left out by the filters, or None."""
    moment = parse_time(record.timestamp)
    if filters.since and moment < filters.since or filters.until and moment >= filters.until:
        return "outside the time range"
    for key, value in filters.where.items():
        if record.metadata.get(key) != value:
            return f"--where {key}"
    if filters.models and not _model_matches(record, filters.models):
        return "--model"
    if filters.operations and record.operation not in filters.operations:
        return "--operation"
    if filters.stop_reasons and exchange.stop_reason not in filters.stop_reasons:
        return "--stop-reason"
    if len(exchange.answer) < filters.min_answer_chars:
        return "answer shorter than --min-answer-chars"
    return None


def _redacted(exchange: Exchange, counts: Counter[str]) -> Exchange:
    return Exchange(
        redacted(exchange.system, counts),
        [Turn(turn.role, redacted(turn.text, counts)) for turn in exchange.turns],
        redacted(exchange.answer, counts),
        exchange.stop_reason,
    )


def prompt_key(exchange: Exchange) -> str:
    """What de-duplication compares: the system prompt and the turns, not the answer."""
    text = json.dumps([exchange.system, [list(turn) for turn in exchange.turns]], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def in_validation(key: str, share: float, seed: int) -> bool:
    """A draw from the prompt and the seed alone: the same record falls on the same side in every run and order."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


# ---- records in each format ---------------------------------------------------------------------------------------


def _labelled(turns: list[Turn]) -> str:
    """A multi-turn conversation as one prompt text; a single user turn is its own text."""
    if len(turns) == 1:
        return turns[0].text
    names = {"user": "User", "assistant": "Assistant"}
    return "\n\n".join(f"{names[turn.role]}: {turn.text}" for turn in turns)


def _conversation(exchange: Exchange, with_answer: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"schemaVersion": dataset_rules.CONVERSATION_SCHEMA}
    if exchange.system:
        record["system"] = [{"text": exchange.system}]
    messages = [{"role": turn.role, "content": [{"text": turn.text}]} for turn in exchange.turns]
    if with_answer:
        messages.append({"role": "assistant", "content": [{"text": exchange.answer}]})
    record["messages"] = messages
    return record


def dataset_record(exchange: Exchange, model: BaseModel, options: Options) -> dict[str, Any]:
    """The exchange as one record of ``options.dataset_format`` for ``model``; NotText when it cannot be one."""
    kind = dataset_rules.FORMATS[options.dataset_format]
    if kind == dataset_rules.CONTINUED_PRE_TRAINING:
        texts = [exchange.system, *(turn.text for turn in exchange.turns), exchange.answer]
        return {"input": "\n\n".join(text for text in texts if text)}
    if kind == dataset_rules.DISTILLATION:
        if len(exchange.turns) > 1 and not model.multi_turn_student:
            raise NotText("multi-turn (this student takes single-turn records)")
        return _conversation(exchange, with_answer=not options.prompts_only)
    if model.record_format == "claude-messages":
        record: dict[str, Any] = {"system": exchange.system} if exchange.system else {}
        turns = [{"role": turn.role, "content": turn.text} for turn in exchange.turns]
        record["messages"] = [*turns, {"role": "assistant", "content": exchange.answer}]
        return record
    if model.record_format == "conversation":
        return _conversation(exchange, with_answer=True)
    prompt = _labelled(exchange.turns)
    return {"prompt": f"{exchange.system}\n\n{prompt}" if exchange.system else prompt, "completion": exchange.answer}


# ---- the build ----------------------------------------------------------------------------------------------------


def build(records: Iterable[LogRecord | Unreadable], filters: Filters, options: Options) -> Dataset:
    """The dataset of ``records``; DatasetError when it breaks a documented limit as a whole (records that break one
    are left out and listed in the summary's refusals, with the log object and line they came from)."""
    model = dataset_rules.base_model(options.base_model)
    limits = dataset_rules.limits_for(model, options.dataset_format)
    summary = Summary()
    seen: set[str] = set()
    train: list[str] = []
    validation: list[str] = []
    for record in final_answers(records, filters, summary):
        try:
            exchange = exchange_of(record)
            reason = filtered_out(record, exchange, filters)
        except NotText as exc:
            summary.dropped[str(exc)] += 1
            continue
        if reason:
            summary.dropped[reason] += 1
            continue
        key = prompt_key(exchange)
        if options.dedupe and key in seen:
            summary.dropped["duplicate prompt"] += 1
            continue
        seen.add(key)
        if options.redact:
            exchange = _redacted(exchange, summary.redactions)
        try:
            item = dataset_record(exchange, model, options)
        except NotText as exc:
            summary.dropped[str(exc)] += 1
            continue
        whole = len(exchange.turns) == 1 or dataset_rules.FORMATS[options.dataset_format] != dataset_rules.DISTILLATION
        counted = (record.input_tokens, record.output_tokens)
        exact = whole and None not in counted and not options.redact and not options.prompts_only
        tokens = counted if exact else None
        rule = record_rules(item, model, limits, tokens)  # type: ignore[arg-type]
        if rule:
            summary.refusals.append(Refusal(record.source, record.line, rule))
            summary.dropped["breaks a limit"] += 1
            continue
        line = json.dumps(item, ensure_ascii=False)
        (validation if in_validation(key, options.validation_share, options.seed) else train).append(line)
    summary.kept, summary.train, summary.validation = len(train) + len(validation), len(train), len(validation)
    broken = dataset_rules_broken(model, limits, train, validation)
    if broken:
        raise DatasetError("; ".join(broken))
    shortfall = too_few(model, limits, summary.kept)
    if shortfall:
        summary.warnings.append(shortfall)
    return Dataset(train, validation, summary)


def check_dataset(
    name: str, lines: Iterable[str], dataset_format: str, base_model: str, on_line: Callable[[int], None] | None = None
) -> list[Refusal]:
    """Every record of a dataset file that breaks a rule, with its line; the customization workflow's check."""
    model = dataset_rules.base_model(base_model)
    limits = dataset_rules.limits_for(model, dataset_format)
    refusals = []
    for number, line in enumerate(lines, start=1):
        if on_line is not None:
            on_line(number)
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                rule: str | None = "not a JSON object"
            else:
                rule = shape_rule(record, model, dataset_format) or record_rules(record, model, limits)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            rule = f"not a record of the {dataset_format} format: {exc}"
        if rule:
            refusals.append(Refusal(name, number, rule))
    return refusals
