"""Comparing models (issue 22): the evaluation set's rules, the scorers, the judge's verdict parsed strictly, the
figures of a comparison, an answer from another model or a degraded one counted as an error, pinning in the core (no
fallback, no cached answer, no remap of a retired model), and the quality entries written for review."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmgateway.aws.stores import MemoryBreakerStore, MemoryResponseStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.cache import ResponseCache
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.lifecycle import comparison, evaluation
from fmgateway.lifecycle.comparison import Observation
from fmgateway.lifecycle.evaluation import CaseError, load_cases
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvalidRequest, Unavailable
from fmgateway.values.exchange import ChatRequest
from fmgateway.values.model import Model
from tests.fakes import FakeInvoker, FakeStreamingInvoker, StaticSource

CASES = [
    json.dumps({"prompt": "2+2?", "expected": "4"}),
    json.dumps({"prompt": "Say hi", "expected": "hi", "scorer": "contains"}),
]


def cases(*lines: str, judged: bool = False):
    return load_cases(list(lines), judged=judged)


# ---- the evaluation set -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("[1]", "line 1: not a JSON object"),
        ("{not json", "line 1: not JSON"),
        ('{"prompt": "x", "answer": "y"}', "unknown field 'answer'"),
        ('{"prompt": "x", "messages": []}', "exactly one of prompt or messages"),
        ('{"messages": [{"role": "assistant", "content": "x"}]}', "the last message must be the user's"),
        ('{"messages": [{"role": "bot", "content": "x"}]}', "messages[0].role: user or assistant"),
        ('{"prompt": "x", "scorer": "bleu", "expected": "y"}', "scorer: one of exact, contains, json, judge"),
        ('{"prompt": "x", "scorer": "json"}', "scorer json needs expected"),
        ('{"prompt": "x", "expected": 4}', "expected: a string for scorer exact"),
        ('{"prompt": "x", "tags": "t"}', "tags: a list of strings"),
    ],
)
def test_a_bad_case_is_refused_with_its_line_and_field(line, says):
    with pytest.raises(CaseError, match=says.replace("[", r"\[").replace("]", r"\]")):
        cases(line)


def test_an_empty_set_and_the_example_file_shipped_with_the_repository():
    with pytest.raises(CaseError, match="no case"):
        cases("", " ")
    from tests.conftest import ROOT

    example = load_cases((ROOT / "config" / "eval" / "example.jsonl").read_text().splitlines())
    assert [case.scorer for case in example] == ["contains", "exact", "json", "judge", None]
    assert example[3].messages[-1]["content"] == [{"text": "Friday at 8. Confirm the booking in one sentence."}]


def test_the_default_scorer_is_exact_with_expected_else_the_judge_when_named():
    (exact,) = cases('{"prompt": "x", "expected": "y"}')
    (judge,) = cases('{"prompt": "x"}', judged=True)
    (none,) = cases('{"prompt": "x"}')
    assert (exact.scorer, judge.scorer, none.scorer) == ("exact", "judge", None)


@pytest.mark.parametrize(
    ("scorer", "expected", "answer", "score"),
    [
        ("exact", "Paris", "  Paris ", 1.0),
        ("exact", "Paris", "paris", 0.0),
        ("contains", "paris", "It is Paris, of course.", 1.0),
        ("contains", "Lyon", "Paris", 0.0),
        ("json", {"code": "FR"}, '```json\n{"code": "FR"}\n```', 1.0),
        ("json", {"code": "FR"}, '{"code": "DE"}', 0.0),
        ("json", {"code": "FR"}, "FR", 0.0),
    ],
)
def test_each_scorer(scorer, expected, answer, score):
    (case,) = cases(json.dumps({"prompt": "q", "expected": expected, "scorer": scorer}))
    assert evaluation.score(case, answer) == score


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ('{"score": 0.75, "reason": "mostly"}', 0.75),
        ('```json\n{"score": 1}\n```', 1.0),
        ('The score is {"score": 1}', None),
        ('{"score": 1.5}', None),
        ('{"score": true}', None),
        ('{"score": "1"}', None),
        ("[1]", None),
    ],
)
def test_a_verdict_is_parsed_strictly(reply, score):
    assert evaluation.parse_verdict(reply)[0] == score


@given(st.text(max_size=40))
def test_no_verdict_text_makes_a_score_outside_0_to_1(text):
    value, _ = evaluation.parse_verdict(text)
    assert value is None or 0.0 <= value <= 1.0


# ---- the comparison ----------------------------------------------------------------------------------------------------


def scripted(answers: dict[str, str], **changes):
    """An invoker answering each model with its text, 100 ms, 50 ms to the first token, 10 tokens, $0.001."""

    def invoke(model: str, case) -> Observation:
        observation = Observation(answers[model], 100.0, 50.0, 10, 0.001, model)
        return observation._replace(**changes.get(model, {}))

    return invoke


def test_figures_per_model_and_an_answer_from_another_model_or_a_cached_one_is_an_error():
    invoke = scripted(
        {"a": "4", "b": "wrong", "c": "4", "d": "4"},
        c={"model": "fallback-model"},
        d={"degraded": True},
    )
    reports = comparison.compare(["a", "b", "c", "d"], cases(*CASES), invoke, repeat=2, concurrency=3)
    a, b, c, d = (report.to_json() for report in reports)
    assert a["requests"] == 4 and a["errors"] == 0 and a["quality"] == 0.5  # "4" is right, "4" does not contain "hi"
    assert a["p50Ms"] == 100.0 and a["ttftP50Ms"] == 50.0 and a["outputTokensPerSecond"] == 200.0
    assert a["costPerRequestUsd"] == 0.001 and a["costPer1kRequestsUsd"] == 1.0
    assert b["quality"] == 0.0
    assert c["errors"] == 4 and c["quality"] is None and c["errorSamples"] == ["answered by fallback-model"]
    assert d["errors"] == 4 and d["errorSamples"] == ["a degraded (cached) answer"]


def test_a_transport_failure_is_an_error_row_not_the_end_of_the_comparison():
    def invoke(model, case):
        if model == "down":
            raise ConnectionError("refused")
        return Observation("4", 10.0, 5.0, 1, 0.0, model)

    up, down = comparison.compare(["up", "down"], cases(CASES[0]), invoke)
    assert up.to_json()["errors"] == 0 and down.to_json()["errorSamples"] == ["ConnectionError: refused"]


def test_the_judge_scores_and_its_unparseable_verdicts_and_cost_are_apart():
    replies = iter(['{"score": 1}', "no idea"])
    report = comparison.compare(
        ["a"], cases('{"prompt": "q1"}', '{"prompt": "q2"}', judged=True), scripted({"a": "x"}),
        judge=lambda prompt: (next(replies), 0.002), concurrency=1,
    )[0].to_json()  # fmt: skip
    assert report["quality"] == 1.0 and report["scored"] == 1 and report["unparseableVerdicts"] == 1
    assert report["judgeCostUsd"] == 0.004 and report["costPerRequestUsd"] == 0.001


def test_judge_cases_without_a_judge_are_measured_and_counted_as_unjudged():
    (report,) = comparison.compare(["a"], cases('{"prompt": "q", "scorer": "judge"}'), scripted({"a": "x"}))
    assert report.to_json()["unjudged"] == 1 and report.to_json()["quality"] is None


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert comparison.percentile(values, 0.5) == 50.0 and comparison.percentile(values, 0.99) == 99.0
    assert comparison.percentile([], 0.5) is None


def test_results_as_csv_have_the_documented_columns():
    reports = comparison.compare(["a"], cases(CASES[0]), scripted({"a": "4"}))
    header, row = comparison.as_csv(reports).splitlines()
    assert header.split(",")[:4] == ["model", "requests", "errors", "p50Ms"] and row.startswith("a,1,0,100.0")


def test_quality_is_written_for_every_tier_that_lists_the_model_and_the_input_is_unchanged(config_doc):
    before = json.dumps(config_doc, sort_keys=True)
    changed, notes = comparison.with_quality(config_doc, {"claude-sonnet-4-5": 0.9, "command-r-plus": 0.5})
    assert json.dumps(config_doc, sort_keys=True) == before
    tiers = [tier for tier, chain in config_doc["tiers"].items() if "claude-sonnet-4-5" in chain]
    assert tiers == ["medium", "complex"]
    assert all(changed["tierStrategies"][tier]["quality"]["claude-sonnet-4-5"] == 0.9 for tier in tiers)
    assert "command-r-plus: in no tier, nothing to write" in notes


def test_in_process_a_candidate_that_is_not_in_the_catalog_gets_the_same_figures(config_doc):
    custom = Model("my-distilled", "amazon.nova-micro-v1:0", "amazon", "us", 128000, 4096, frozenset({"text"}),
                   frozenset({"*"}), 0.001, 0.002, "active", None)  # fmt: skip
    invoker = FakeStreamingInvoker()
    invoker.responses["nova-micro"] = {
        "output": {"message": {"role": "assistant", "content": [{"text": "4"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1000, "outputTokens": 500, "totalTokens": 1500},
    }
    invoke = comparison.direct(invoker, {"my-distilled": Candidate(custom)})
    (report,) = comparison.compare(["my-distilled"], cases(CASES[0]), invoke)
    figures = report.to_json()
    assert invoker.models_called == ["us.amazon.nova-micro-v1:0"]
    assert figures["quality"] == 1.0 and figures["errors"] == 0 and figures["ttftP50Ms"] is not None
    assert figures["costPerRequestUsd"] == 0.002  # 1000 in at 0.001 + 500 out at 0.002 per 1,000
    invoker.fail["nova-micro"] = ("unavailable", "ServiceUnavailableException")
    (failed,) = comparison.compare(["my-distilled"], cases(CASES[0]), invoke)
    assert failed.to_json()["errors"] == 1 and "ServiceUnavailableException" in failed.to_json()["errorSamples"][0]


# ---- pinning in the core -------------------------------------------------------------------------------------------


@pytest.fixture
def gateway(config_doc, clock):
    config_doc["circuitBreaker"].update(stateCacheSeconds=0)
    invoker = FakeInvoker()
    cache = ResponseCache(MemoryResponseStore(clock=clock), background=False)
    breaker = CircuitBreaker(MemoryBreakerStore(), clock=clock)
    return Gateway(StaticSource(parse_config(config_doc)), invoker, breaker, cache), invoker


HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]


def test_a_pinned_model_that_fails_is_an_error_never_a_fallback_or_the_cached_answer(gateway):
    gw, invoker = gateway
    assert gw.chat(ChatRequest(messages=HELLO, model="nova-pro")).model.alias == "nova-pro"  # now cached
    invoker.fail["nova-pro"] = ("unavailable", "ServiceUnavailableException")
    unpinned = gw.chat(ChatRequest(messages=HELLO, model="nova-pro"))
    assert unpinned.model.alias != "nova-pro"  # the tier's next model answers
    invoker.fail = {"": ("unavailable", "ServiceUnavailableException")}
    assert gw.chat(ChatRequest(messages=HELLO, model="nova-pro")).degraded  # every model down: the cached answer
    with pytest.raises(Unavailable, match="nova-pro"):
        gw.chat(ChatRequest(messages=HELLO, model="nova-pro", pinned=True))
    assert all("nova-pro" in called for called in invoker.models_called[-1:])


def test_a_pinned_request_names_a_model_and_a_retired_one_names_its_successor(gateway):
    gw, _ = gateway
    with pytest.raises(InvalidRequest, match="x-gateway-pin: pins the model the request names"):
        gw.chat(ChatRequest(messages=HELLO, tier="simple", pinned=True))
    with pytest.raises(InvalidRequest, match="claude-3-5-sonnet is retired .* its successor is claude-sonnet-4-5"):
        gw.chat(ChatRequest(messages=HELLO, model="claude-3-5-sonnet", pinned=True))
    plan = gw.prepare(ChatRequest(messages=HELLO, model="nova-pro", pinned=True)).plan
    assert [c.alias for c in plan.candidates] == ["nova-pro"] and "pinned to nova-pro: no fallback" in plan.notes


def test_capacity_paid_by_the_hour_shows_its_amortised_cost_over_the_run():
    (paid, per_token) = comparison.compare(
        ["pt", "od"], cases(CASES[0]), scripted({"pt": "4", "od": "4"}), hourly_usd={"pt": 36.0}
    )
    figures = paid.to_json()
    expected = round(36.0 * paid.seconds / 3600 / 1 * 1000, 5)
    assert paid.seconds > 0 and figures["amortisedCostPer1kRequestsUsd"] == expected
    assert per_token.to_json()["amortisedCostPer1kRequestsUsd"] is None
