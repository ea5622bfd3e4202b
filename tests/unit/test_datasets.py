"""Datasets from invocation logs (issue 21): the reader on the documentation-sourced fixtures, the choice of one final
answer per request, filters, de-duplication, redaction, each format, the stable split, and every documented rule
with a record that breaks it and the message it gets."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmgateway.lifecycle import dataset_rules, datasets, invocation_logs
from fmgateway.lifecycle.datasets import Filters, Options
from fmgateway.lifecycle.redaction import luhn_valid, redacted
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "invocation_logs"
HOUR = "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/03/02/14/"
LARGE_BODY_KEY = HOUR + "data/9d2e7b31-4c8f-4a6e-b1d0-5f3a2c9e8b74_input.json.gz"
NAMES = ("converse", "converse_stream", "invoke_model", "large_body")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def write_logs(root: Path, records: list[dict], name: str = "20260302T140000Z_a1b2c3.json.gz") -> None:
    """``records`` as one log object under the fixtures' hour, the large body's data object and the permission check."""
    folder = root / HOUR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(gzip.compress("\n".join(json.dumps(r) for r in records).encode()))
    (root / LARGE_BODY_KEY).parent.mkdir(parents=True, exist_ok=True)
    (root / LARGE_BODY_KEY).write_bytes(gzip.compress((FIXTURES / "large_body_input.json").read_bytes()))
    (root / "AWSLogs/123456789012/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check").write_bytes(b"")


def read(root: Path) -> list:
    objects, prefix = invocation_logs.folder_source(root)
    return list(invocation_logs.read_records(objects, prefix))


def record(prompt: str, answer: str = "An answer.", request: str = "r1", **changes) -> dict:
    """A Converse record like the fixture, with its prompt, answer, request id and any top-level changes."""
    raw = fixture("converse")
    raw["input"]["inputBodyJson"]["messages"] = [{"role": "user", "content": [{"text": prompt}]}]
    raw["output"]["outputBodyJson"]["output"]["message"]["content"] = [{"text": answer}]
    raw["requestMetadata"]["fmgw-request-id"] = request
    raw.update(changes)
    return raw


def build(records: list[dict], tmp_path: Path, filters: Filters = Filters(), **options) -> datasets.Dataset:
    write_logs(tmp_path, records)
    chosen = {"dataset_format": "fine-tuning", "base_model": "amazon.titan-text-express-v1", **options}
    return datasets.build(read(tmp_path), filters, Options(**chosen))


# ---- the reader -----------------------------------------------------------------------------------------------------


def test_the_reader_parses_all_four_fixtures_and_skips_the_permission_check_and_data_objects(tmp_path):
    write_logs(tmp_path, [fixture(name) for name in NAMES])
    records = read(tmp_path)
    assert [r.operation for r in records] == ["Converse", "ConverseStream", "InvokeModel", "Converse"]
    assert all(isinstance(r, invocation_logs.LogRecord) and r.succeeded for r in records)
    assert records[0].metadata["team"] == "search" and records[0].input_tokens == 46 and records[0].output_tokens == 57
    large = records[3]
    assert large.input_body["messages"][0]["content"][0]["text"].startswith("Here is the gateway log")  # from data/


def test_a_line_that_is_not_a_record_is_reported_with_its_object_and_line(tmp_path):
    write_logs(tmp_path, [fixture("converse"), {"schemaType": "Other"}])
    found = read(tmp_path)
    assert isinstance(found[1], invocation_logs.Unreadable) and found[1].line == 2 and "schemaType" in found[1].reason


def test_a_missing_large_body_object_is_unreadable_not_a_crash(tmp_path):
    write_logs(tmp_path, [fixture("large_body")])
    (tmp_path / LARGE_BODY_KEY).unlink()
    (found,) = read(tmp_path)
    assert isinstance(found, invocation_logs.Unreadable)


def test_a_failed_call_has_no_bodies_and_does_not_count_as_an_answer(tmp_path):
    failed = {key: value for key, value in fixture("converse").items() if key not in ("input", "output")}
    write_logs(tmp_path, [{**failed, "errorCode": "ThrottlingException"}])
    (found,) = read(tmp_path)
    assert found.error_code == "ThrottlingException" and not found.succeeded


# ---- one record per request, filters ----------------------------------------------------------------------------


def test_a_request_that_fell_back_leaves_one_record_the_final_answer(tmp_path):
    failed = {key: value for key, value in record("Why?", request="r1").items() if key not in ("input", "output")}
    fallback = record("Why?", "From the fallback.", request="r1", timestamp="2026-03-02T14:05:11Z")
    dataset = build([{**failed, "errorCode": "ServiceUnavailableException"}, fallback, record("Other?", request="r2")], tmp_path)
    assert [json.loads(line)["completion"] for line in dataset.train] == ["From the fallback.", "An answer."]
    assert dataset.summary.requests == 2 and dataset.summary.attempts_folded == 1


def test_the_classifier_calls_are_left_out_unless_asked(tmp_path):
    classifier = record("Classify this", request="r1")
    classifier["requestMetadata"]["fmgw-route"] = "classifier"
    dataset = build([classifier, record("Answer this", request="r2")], tmp_path)
    assert len(dataset.train) == 1 and dataset.summary.dropped["classifier call"] == 1
    assert len(build([classifier], tmp_path / "again", Filters(include_classifier=True)).train) == 1


@pytest.mark.parametrize(
    ("filters", "kept", "reason"),
    [
        (Filters(where={"team": "search"}), ["a"], "--where team"),
        (Filters(models=("nova-lite",)), ["b"], "--model"),
        (Filters(since=datasets.parse_time("2026-03-02T14:30:00Z")), ["b"], "outside the time range"),
        (Filters(until=datasets.parse_time("2026-03-02T14:30")), ["a"], "outside the time range"),
        (Filters(operations=("ConverseStream",)), [], "--operation"),
        (Filters(stop_reasons=("max_tokens",)), ["b"], "--stop-reason"),
        (Filters(min_answer_chars=20), ["a"], "answer shorter than --min-answer-chars"),
    ],
)
def test_each_filter_keeps_what_matches_and_counts_what_it_drops(tmp_path, filters, kept, reason):
    first = record("a", "A long enough answer.", request="r1")
    second = record("b", "Short.", request="r2", timestamp="2026-03-02T15:00:00Z", modelId="us.amazon.nova-lite-v1:0")
    second["requestMetadata"] = {**second["requestMetadata"], "team": "ads", "fmgw-model": "nova-lite"}
    second["output"]["outputBodyJson"]["stopReason"] = "max_tokens"
    dataset = build([first, second], tmp_path, filters)
    assert [json.loads(line)["prompt"].rsplit("\n", 1)[-1] for line in dataset.train] == kept
    assert dataset.summary.dropped[reason] == 2 - len(kept)


def test_duplicate_prompts_are_kept_once(tmp_path):
    dataset = build([record("same", request="r1"), record("same", "Other answer", request="r2")], tmp_path)
    assert len(dataset.train) == 1 and dataset.summary.dropped["duplicate prompt"] == 1
    assert len(build([record("same", request="r1"), record("same", request="r2")], tmp_path / "b", dedupe=False).train) == 2


def test_records_that_are_not_text_are_left_out_with_the_reason(tmp_path):
    tool = record("use a tool", request="r1")
    tool["output"]["outputBodyJson"]["output"]["message"]["content"] = [{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]
    dataset = build([tool], tmp_path)
    assert dataset.train == [] and dataset.summary.dropped["not text only (toolUse)"] == 1


# ---- redaction -------------------------------------------------------------------------------------------------------


def test_redaction_replaces_and_counts_emails_phones_and_cards_but_not_ids():
    counts: Counter[str] = Counter()
    text = "Mail jane.doe@example.com, call +1 555 123 4567, card 4111 1111 1111 1111; order 1234567890123, 2026-03-02"
    assert redacted(text, counts) == "Mail [EMAIL], call [PHONE], card [CARD]; order 1234567890123, 2026-03-02"
    assert counts == {"email": 1, "phone": 1, "card": 1}


def test_redaction_in_a_build_covers_system_turns_and_answer(tmp_path):
    dataset = build([record("I am bob@example.org", "Write to ann@example.org")], tmp_path, redact=True)
    line = json.loads(dataset.train[0])
    assert "[EMAIL]" in line["prompt"] and line["completion"] == "Write to [EMAIL]"
    assert dataset.summary.redactions == {"email": 2}


@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_a_card_number_is_redacted_exactly_when_it_passes_the_luhn_check(digits):
    counts: Counter[str] = Counter()
    out = redacted(f"pay {digits} now", counts)
    assert (out == "pay [CARD] now") == luhn_valid(digits)


# ---- formats ---------------------------------------------------------------------------------------------------------


def test_fine_tuning_takes_the_base_models_own_format(tmp_path):
    records = [record("What is 2+2?", "4.", request="r1")]
    titan = json.loads(build(records, tmp_path / "t").train[0])
    assert set(titan) == {"prompt", "completion"} and titan["prompt"].endswith("What is 2+2?")
    claude = json.loads(build(records, tmp_path / "c", base_model="anthropic.claude-3-haiku-20240307-v1:0:200k").train[0])
    assert claude["system"].startswith("You are a concise assistant")
    assert claude["messages"] == [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."}]
    nova = json.loads(build(records, tmp_path / "n", base_model="amazon.nova-lite-v1:0").train[0])
    assert nova["schemaVersion"] == "bedrock-conversation-2024" and nova["messages"][-1]["content"] == [{"text": "4."}]


def test_continued_pretraining_records_are_unlabelled_text(tmp_path):
    (line,) = build([record("Tell me", "Told.")], tmp_path, dataset_format="continued-pretraining").train
    assert set(json.loads(line)) == {"input"} and json.loads(line)["input"].endswith("Tell me\n\nTold.")


def multi_turn() -> dict:
    raw = record("Second question", request="m1")
    raw["input"]["inputBodyJson"]["messages"] = [
        {"role": "user", "content": [{"text": "First"}]},
        {"role": "assistant", "content": [{"text": "First answer"}]},
        {"role": "user", "content": [{"text": "Second question"}]},
    ]
    return raw


def test_conversation_records_are_multi_turn_for_nova_and_single_turn_for_llama_students(tmp_path):
    (nova,) = build([multi_turn()], tmp_path / "n", dataset_format="conversation", base_model="amazon.nova-lite-v1:0").train
    assert [m["role"] for m in json.loads(nova)["messages"]] == ["user", "assistant", "user", "assistant"]
    llama = build([multi_turn()], tmp_path / "l", dataset_format="conversation", base_model="meta.llama3-1-8b-instruct-v1:0")
    assert llama.train == [] and llama.summary.dropped["multi-turn (this student takes single-turn records)"] == 1
    prompts = build(
        [record("Hi")], tmp_path / "p", dataset_format="conversation", base_model="amazon.nova-lite-v1:0", prompts_only=True
    )
    assert [m["role"] for m in json.loads(prompts.train[0])["messages"]] == ["user"]


def test_an_invoke_model_record_reads_like_a_converse_one(tmp_path):
    (line,) = build([fixture("invoke_model")], tmp_path).train
    assert json.loads(line) == {
        "prompt": "You are a concise assistant. Answer in one sentence.\n\nWhat is the capital of Australia?",
        "completion": "The capital of Australia is Canberra.",
    }


def test_the_split_is_stable_across_runs_and_orders_and_near_the_share(tmp_path):
    records = [record(f"question {i}", request=f"r{i}") for i in range(400)]
    first = build(records, tmp_path / "a", validation_share=0.1, seed=7)
    again = build(list(reversed(records)), tmp_path / "b", validation_share=0.1, seed=7)
    assert sorted(first.validation) == sorted(again.validation) and 20 <= len(first.validation) <= 60
    other_seed = build(records, tmp_path / "c", validation_share=0.1, seed=8)
    assert sorted(other_seed.validation) != sorted(first.validation)


# ---- the rules, each with a record that breaks it ---------------------------------------------------------------------

NOVA, HAIKU, LLAMA = "amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", "meta.llama3-1-8b-instruct-v1:0"
TITAN = "amazon.titan-text-express-v1"
CONVO = {"schemaVersion": "bedrock-conversation-2024", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}


@pytest.mark.parametrize(
    ("dataset_format", "base", "line", "says"),
    [
        ("fine-tuning", TITAN, {"prompt": "x" * 20000, "completion": "y" * 6000}, "4334 tokens in the record, more than"),
        ("fine-tuning", LLAMA, {"prompt": "x" * 96006, "completion": "ok"}, "16001 input tokens, more than"),
        ("fine-tuning", LLAMA, {"prompt": "hi", "completion": "y" * 96006}, "16001 output tokens, more than"),
        ("fine-tuning", TITAN, {"prompt": "hi", "completion": " "}, "empty answer"),
        ("fine-tuning", TITAN, {"prompt": "", "completion": "ok"}, "empty prompt"),
        ("fine-tuning", TITAN, {"input": "text"}, 'expected {"prompt": "...", "completion": "..."}'),
        ("fine-tuning", HAIKU, {"messages": [{"role": "user", "content": "hi"}]}, "the last message the assistant's"),
        ("fine-tuning", HAIKU, {"system": "s", "messages": [], "extra": 1}, "non-empty messages list"),
        ("fine-tuning", NOVA, {**CONVO}, "the last message must be the assistant's answer"),
        ("fine-tuning", NOVA, {**CONVO, "messages": [{"role": "assistant", "content": [{"text": "a"}]}]}, "alternate"),
        (
            "fine-tuning",
            NOVA,
            {**CONVO, "messages": [*CONVO["messages"], {"role": "assistant", "content": [{"text": "Bot: hi"}]}]},
            "holds 'Bot:', a keyword",
        ),
        ("continued-pretraining", TITAN, {"prompt": "p", "completion": "c"}, 'expected {"input": "<text>"}'),
        (
            "conversation",
            LLAMA,
            {**CONVO, "messages": [*CONVO["messages"], {"role": "assistant", "content": [{"text": "a"}]}, *CONVO["messages"]]},
            "takes single-turn records as a distillation student",
        ),
        ("conversation", NOVA, {**CONVO, "system": "not blocks"}, "system must be a list of text blocks"),
    ],
)
def test_each_record_rule_refuses_with_file_line_and_rule(dataset_format, base, line, says):
    lines = ["", json.dumps(line)]  # a blank line is skipped but still counted
    (refusal,) = datasets.check_dataset("train.jsonl", lines, dataset_format, base)
    assert (refusal.source, refusal.line) == ("train.jsonl", 2) and says in refusal.rule, refusal.rule


def test_a_line_that_is_not_json_is_refused_with_its_line():
    (refusal,) = datasets.check_dataset("v.jsonl", ["{not json"], "fine-tuning", TITAN)
    assert refusal.line == 1 and "not a record of the fine-tuning format" in refusal.rule


def test_a_record_over_the_limit_in_a_build_is_refused_with_the_log_object_and_line(tmp_path):
    big = record("long " * 4000, request="r1")
    big["input"]["inputTokenCount"] = 5000  # Bedrock's own count is used when the log has it
    dataset = build([record("fine", request="r0"), big], tmp_path)
    (refusal,) = dataset.summary.refusals
    assert refusal.source.endswith(".json.gz") and refusal.line == 2 and "5057 tokens in the record" in refusal.rule


def test_too_many_records_for_the_base_model_fail_the_build(tmp_path, monkeypatch):
    limits = dataset_rules.BASE_MODELS[HAIKU].limits[dataset_rules.FINE_TUNING]
    monkeypatch.setitem(dataset_rules.BASE_MODELS[HAIKU].limits, dataset_rules.FINE_TUNING, limits._replace(max_train_records=2))
    with pytest.raises(datasets.DatasetError, match="3 training records, more than .*'s 2"):
        build([record(f"q{i}", request=f"r{i}") for i in range(3)], tmp_path, base_model=HAIKU)


def test_fewer_records_than_a_job_needs_is_a_warning_not_a_failure(tmp_path):
    dataset = build([record("q")], tmp_path, base_model=HAIKU)
    assert dataset.train and dataset.summary.warnings == [
        f"1 records, fewer than {HAIKU}'s minimum of 32 for a job ([PREP] [TXT])"
    ]


def test_a_base_model_or_type_bedrock_does_not_customize_is_refused_with_what_it_takes():
    with pytest.raises(dataset_rules.UnknownBaseModel, match="not a base model that Bedrock customizes"):
        dataset_rules.base_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    with pytest.raises(dataset_rules.UnknownBaseModel, match="does not take CONTINUED_PRE_TRAINING .its formats: fine-tuning"):
        dataset_rules.limits_for(dataset_rules.base_model(HAIKU), "continued-pretraining")
    assert dataset_rules.base_model("amazon.titan-text-express-v1:0:8k").model_id == TITAN
