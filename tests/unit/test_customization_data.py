"""The validate step's data checks (issue 24): an S3 dataset held to part 1's rules (the object, the line and the rule
named), the evaluation set's format, and invocation logs counted through their requestMetadataFilters as a job would
use them (TooFewRecords under the minimum)."""

from __future__ import annotations

import json

import pytest

from fmgateway.lifecycle.customization import evaluate, spec, training_data
from fmgateway.lifecycle.customization.errors import InvalidDataset, NotCustomizable, TooFewRecords
from tests.customization_fakes import LOGS_URI, MemoryBuckets, log_record, put_logs

DATA = "s3://fmgw-customization/datasets"


def conversation(prompt: str, answer: str) -> str:
    return json.dumps(
        {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": "You answer support questions."}],
            "messages": [{"role": "user", "content": [{"text": prompt}]}, {"role": "assistant", "content": [{"text": answer}]}],
        }
    )


def nova_spec(training: str, validation: str | None = None) -> dict:
    doc = {
        "name": "nova-ft",
        "type": "FINE_TUNING",
        "baseModel": "nova-lite",
        "trainingData": {"s3Uri": training},
        "evaluation": {"s3Uri": f"{DATA}/eval.jsonl", "tier": "simple", "expectedRequestsPerHour": 100},
    }
    if validation:
        doc["validationData"] = {"s3Uri": validation}
    return spec.parse(doc)


def check(buckets: MemoryBuckets, doc: dict, base: str = "amazon.nova-lite-v1:0:300k", minimum: int = 100) -> dict:
    return training_data.check(buckets, doc, base, minimum)


@pytest.fixture
def buckets() -> MemoryBuckets:
    return MemoryBuckets()


def test_a_dataset_that_fits_the_rules_passes_with_its_counts(buckets):
    buckets.put(f"{DATA}/train.jsonl", "\n".join(conversation(f"q{i}", f"a{i}") for i in range(8)))
    buckets.put(f"{DATA}/validation.jsonl", conversation("q", "a"))
    found = check(buckets, nova_spec(f"{DATA}/train.jsonl", f"{DATA}/validation.jsonl"))
    assert found == {
        "dataset": {
            "format": "fine-tuning",
            "objects": [f"{DATA}/train.jsonl", f"{DATA}/validation.jsonl"],
            "records": {"training": 8, "validation": 1},
        }
    }


def test_a_prefix_is_every_jsonl_object_under_it(buckets):
    for part in range(2):
        buckets.put(f"{DATA}/parts/{part}.jsonl", "\n".join(conversation(f"q{part}{i}", "a") for i in range(4)))
    buckets.put(f"{DATA}/parts/README.txt", "not data")
    assert check(buckets, nova_spec(f"{DATA}/parts/"))["dataset"]["records"] == {"training": 8}


def test_a_record_that_breaks_a_rule_is_named_by_object_line_and_rule(buckets):
    lines = [conversation(f"q{i}", f"a{i}") for i in range(8)]
    lines[2] = conversation("Bot: hello", "a")  # a keyword Nova's training refuses
    lines[5] = json.dumps({"prompt": "q", "completion": "a"})
    buckets.put(f"{DATA}/train.jsonl", "\n".join(lines))
    with pytest.raises(InvalidDataset) as refused:
        check(buckets, nova_spec(f"{DATA}/train.jsonl"))
    said = str(refused.value)
    assert f"{DATA}/train.jsonl:3: holds 'Bot:'" in said and f"{DATA}/train.jsonl:6: expected a non-empty messages list" in said


def test_too_few_records_for_the_documented_minimum(buckets):
    buckets.put(f"{DATA}/train.jsonl", "\n".join(conversation(f"q{i}", "a") for i in range(3)))
    with pytest.raises(TooFewRecords, match="3 records, fewer than amazon.nova-lite-v1:0's minimum of 8 for a job"):
        check(buckets, nova_spec(f"{DATA}/train.jsonl"))


def test_a_missing_dataset_is_invalid(buckets):
    with pytest.raises(InvalidDataset, match="no such object, and no .jsonl object under it"):
        check(buckets, nova_spec(f"{DATA}/nothing.jsonl"))


def test_a_type_the_rules_say_the_model_does_not_take_is_not_customizable(buckets):
    buckets.put(f"{DATA}/prompts.jsonl", conversation("q", "a"))
    doc = nova_spec(f"{DATA}/prompts.jsonl")
    with pytest.raises(NotCustomizable, match="does not take DISTILLATION"):
        training_data.check(buckets, {**doc, "type": "DISTILLATION"}, "anthropic.claude-3-haiku-20240307-v1:0:200k", 100)


def test_the_evaluation_set_is_checked_with_part_2s_rules(buckets):
    buckets.put(f"{DATA}/eval.jsonl", '{"prompt": "ok", "expected": "ok"}\n{"prompt": "x", "scorer": "bleu"}')
    with pytest.raises(InvalidDataset, match=r"evaluation set s3://.*eval.jsonl: line 2.scorer: one of"):
        evaluate.load_cases(buckets, f"{DATA}/eval.jsonl")
    with pytest.raises(InvalidDataset, match="cannot be read"):
        evaluate.load_cases(buckets, f"{DATA}/none.jsonl")


# ---- invocation logs


def logs(filters: dict | None = None, use_prompt_response: bool = False) -> dict:
    given: dict = {"s3Uri": LOGS_URI, "usePromptResponse": use_prompt_response}
    if filters:
        given["requestMetadataFilters"] = training_data.check_filters(filters)
    return given


@pytest.fixture
def logged(buckets) -> MemoryBuckets:
    records = [
        log_record("a", {"team": "support", "fmgw-route": "tier:simple"}),
        log_record("b", {"team": "support", "fmgw-route": "tier:complex"}),
        log_record("c", {"team": "search", "fmgw-route": "tier:complex"}),
        log_record("d", {}),
        log_record("e", {"team": "support"}, error="ThrottlingException"),  # a failed call is not a prompt
    ]
    put_logs(buckets, records[:3], "part-1")
    put_logs(buckets, records[3:], "part-2")
    return buckets


@pytest.mark.parametrize(
    ("filters", "matched"),
    [
        (None, 4),
        ({"equals": {"team": "support"}}, 2),
        ({"notEquals": {"team": "support"}}, 2),  # a record without the key is not equal to it
        ({"andAll": [{"equals": {"team": "support"}}, {"equals": {"fmgw-route": "tier:complex"}}]}, 1),
        ({"orAll": [{"equals": {"team": "search"}}, {"equals": {"fmgw-route": "tier:simple"}}]}, 2),
    ],
)
def test_records_are_counted_as_the_filters_match_them(logged, filters, matched):
    counted = training_data.count_log_records(logged, logs(filters))
    assert counted["matched"] == matched and counted["recordsRead"] == 5 and counted["unreadableLines"] == 0


def test_too_few_matching_records_names_the_counts_and_the_filters(logged):
    with pytest.raises(
        TooFewRecords, match=r"2 invocation log records under s3://fmgw-logs/AWSLogs/ match .* \(of 5 read\); .* at least 3"
    ):
        training_data.check_logs(logged, logs({"equals": {"team": "support"}}), minimum=3)
    assert training_data.check_logs(logged, logs({"equals": {"team": "support"}}), minimum=2)["matched"] == 2


def test_unreadable_logs_are_an_invalid_dataset():
    class Broken(MemoryBuckets):
        def bucket(self, name):
            raise PermissionError("AccessDenied")

    with pytest.raises(InvalidDataset, match="the invocation logs cannot be read .PermissionError: AccessDenied"):
        training_data.count_log_records(Broken(), logs())
