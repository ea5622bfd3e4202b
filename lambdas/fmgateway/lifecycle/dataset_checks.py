"""The rules a dataset record and a dataset are held to: the shape of the format for the base model, the documented
token limits per record (Bedrock's own counts where the log has them, else the documentation's estimate), reserved
words, record counts and file sizes (``dataset_rules`` holds the numbers and their sources)."""

from __future__ import annotations

from typing import Any

from fmgateway.lifecycle import dataset_rules
from fmgateway.lifecycle.dataset_rules import BaseModel, Limits


def record_texts(record: dict[str, Any]) -> tuple[str, str]:
    """(input text, output text) of a dataset record of any format."""
    if "input" in record:
        return str(record["input"]), ""
    if "prompt" in record:
        return str(record["prompt"]), str(record.get("completion", ""))
    messages = record.get("messages") or []
    texts = [
        "".join(b.get("text", "") for b in m["content"]) if isinstance(m["content"], list) else m["content"] for m in messages
    ]
    system = record.get("system") or ""
    system = system if isinstance(system, str) else "".join(block.get("text", "") for block in system)
    last_is_answer = bool(messages) and messages[-1].get("role") == "assistant"
    prompt = [system, *(texts[:-1] if last_is_answer else texts)]
    return "\n".join(prompt), texts[-1] if last_is_answer else ""


def record_rules(record: dict[str, Any], model: BaseModel, limits: Limits, tokens: tuple[int, int] | None = None) -> str | None:
    """The first rule ``record`` breaks, or None. ``tokens``: (input, output) counted by Bedrock for the logged call,
    else estimated from the text as the documentation says."""
    given, produced = record_texts(record)
    kind_needs_answer = "completion" in record or ("messages" in record and record["messages"][-1]["role"] == "assistant")
    if kind_needs_answer and not produced.strip():
        return "empty answer"
    if not given.strip():
        return "empty prompt"
    count_in, count_out = tokens or (dataset_rules.estimated_tokens(given), dataset_rules.estimated_tokens(produced))
    if limits.max_input_tokens is not None and count_in > limits.max_input_tokens:
        return f"{count_in} input tokens, more than {model.model_id}'s {limits.max_input_tokens} ({limits.source})"
    if limits.max_output_tokens is not None and count_out > limits.max_output_tokens:
        return f"{count_out} output tokens, more than {model.model_id}'s {limits.max_output_tokens} ({limits.source})"
    if limits.max_record_tokens is not None and count_in + count_out > limits.max_record_tokens:
        total = count_in + count_out
        return f"{total} tokens in the record, more than {model.model_id}'s {limits.max_record_tokens} ({limits.source})"
    for word in model.reserved_words:
        if word in given or word in produced:
            return f"holds {word!r}, a keyword {model.model_id}'s training refuses ([NOVA-FT])"
    return None


def _text_blocks(content: Any) -> bool:
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(block, dict) and set(block) == {"text"} and isinstance(block["text"], str) for block in content)
    )


def shape_rule(record: dict[str, Any], model: BaseModel, dataset_format: str) -> str | None:
    """Whether ``record`` has the shape ``dataset_format`` takes for ``model`` (the first difference), or None."""
    kind = dataset_rules.FORMATS[dataset_format]
    if kind == dataset_rules.CONTINUED_PRE_TRAINING:
        return None if set(record) == {"input"} and isinstance(record["input"], str) else 'expected {"input": "<text>"}'
    shape = "conversation" if kind == dataset_rules.DISTILLATION else model.record_format
    if shape == "prompt-completion":
        fine = set(record) == {"prompt", "completion"} and all(isinstance(record[k], str) for k in record)
        return None if fine else 'expected {"prompt": "...", "completion": "..."}'
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "expected a non-empty messages list"
    roles = [message.get("role") if isinstance(message, dict) else None for message in messages]
    if roles[0] != "user" or any(a == b for a, b in zip(roles, roles[1:], strict=False)) or set(roles) - {"user", "assistant"}:
        return "messages must alternate user and assistant, starting with user"
    if shape == "claude-messages":
        if set(record) - {"system", "messages"} or not isinstance(record.get("system", ""), str):
            return 'expected {"system": "<text>", "messages": [...]} and no other key'
        if roles[-1] != "assistant" or not all(isinstance(m.get("content"), str) for m in messages):
            return "messages' content must be strings, the last message the assistant's"
        return None
    if not isinstance(record.get("schemaVersion"), str) or set(record) - {"schemaVersion", "system", "messages"}:
        return f'expected {{"schemaVersion": "{dataset_rules.CONVERSATION_SCHEMA}", "system": [...], "messages": [...]}}'
    if "system" in record and not _text_blocks(record["system"]):
        return "system must be a list of text blocks"
    if not all(set(m) == {"role", "content"} and _text_blocks(m["content"]) for m in messages):
        return "each message must be {role, content: [{text}]}"
    if kind == dataset_rules.DISTILLATION and roles.count("user") > 1 and not model.multi_turn_student:
        return f"{model.model_id} takes single-turn records as a distillation student ([DIST])"
    if kind == dataset_rules.FINE_TUNING and roles[-1] != "assistant":
        return "the last message must be the assistant's answer"
    return None


def too_few(model: BaseModel, limits: Limits, records: int) -> str | None:
    """The documented minimum, when the dataset is below it: a job would refuse it, but another build can add to it."""
    if limits.min_records is not None and records < limits.min_records:
        return f"{records} records, fewer than {model.model_id}'s minimum of {limits.min_records} for a job ({limits.source})"
    return None


def dataset_rules_broken(model: BaseModel, limits: Limits, train: list[str], validation: list[str]) -> list[str]:
    """What the dataset as a whole breaks beyond repair by adding records: maximum record counts and file sizes."""
    broken = []
    total = len(train) + len(validation)
    source = limits.source
    for name, count, most in (
        ("training", len(train), limits.max_train_records),
        ("validation", len(validation), limits.max_validation_records),
        ("training and validation", total, limits.max_total_records),
    ):
        if most is not None and count > most:
            broken.append(f"{count} {name} records, more than {model.model_id}'s {most} ({source})")
    for name, lines, most in (
        ("training", train, limits.max_train_bytes),
        ("validation", validation, limits.max_validation_bytes),
    ):
        size = sum(len(line.encode("utf-8")) + 1 for line in lines)
        if most is not None and size > most:
            broken.append(f"the {name} file is {size} bytes, more than {model.model_id}'s {most} ({source})")
    return broken
