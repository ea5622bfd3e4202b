import pytest

from fmgateway.config.gateway_config import parse_config
from fmgateway.routing.planner import classify, detect_language, extract_features, plan
from fmgateway.values.errors import InvalidRequest, PayloadTooLarge


def features(text="Hello", max_tokens=512, extra_blocks=()):
    messages = [{"role": "user", "content": [{"text": text}, *extra_blocks]}]
    return extract_features(messages, None, max_tokens)


@pytest.fixture
def config(config_doc):
    return parse_config(config_doc)


def aliases(p):
    return [model.alias for model in p.candidates]


def test_explicit_bedrock_model_id(config):
    p = plan(config, features(), model="amazon.nova-pro-v1:0")
    assert p.kind == "model" and aliases(p)[0] == "nova-pro"


def test_inference_profile_id_is_accepted(config):
    p = plan(config, features(), model="us.amazon.nova-pro-v1:0")
    assert aliases(p)[0] == "nova-pro"


def test_alias_goes_first_then_the_rest_of_its_tier(config):
    p = plan(config, features(), model="nova-pro")
    assert p.kind == "alias"
    assert aliases(p) == ["nova-pro", "claude-sonnet-4-5", "llama4-maverick"]
    assert p.route == "alias:nova-pro"


def test_tier(config):
    p = plan(config, features(), tier="complex")
    assert p.kind == "tier" and aliases(p) == ["claude-opus-4-1", "claude-sonnet-4-5", "nova-premier"]


def test_static_path_route(config):
    p = plan(config, features(), path_route="simple")
    assert p.kind == "path" and p.route == "path:simple" and aliases(p)[0] == "claude-haiku-4-5"


def test_unknown_model_is_a_client_error(config):
    with pytest.raises(InvalidRequest, match="unknown model 'gpt-9'"):
        plan(config, features(), model="gpt-9")


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("What is the capital of France?", "simple"),
        ("Translate 'good morning' to Spanish.", "simple"),
        ("Summarise this paragraph for a newsletter: " + "The team shipped the release on time. " * 60, "medium"),
        ("Fix this bug:\n```python\ndef add(a, b):\n    return a - b\n```", "medium"),
        ("Compare the trade-offs of these two architectures.", "medium"),
        (
            "Design an algorithm, prove its complexity, then implement it:\n```python\ndef solve(xs):\n    pass\n```\n"
            "1. analyse the input\n2. derive the recurrence\n3. write tests",
            "complex",
        ),
        ("word " * 20000, "complex"),
    ],
)
def test_auto_heuristic(config_doc, text, tier):
    config_doc["contentRouting"]["mode"] = "heuristic"
    p = plan(parse_config(config_doc), features(text), model="auto")
    assert p.kind == "auto" and p.tier == tier, p.notes


def test_auto_is_the_default_route(config):
    assert plan(config, features("hi")).kind == "auto"


def test_classify_reports_its_signals(config):
    tier, signals = classify(features("Calculate 12 * 7 = ? step by step, then explain the proof"), config.content_routing)
    assert "reasoning" in signals


def test_retired_alias_is_sent_to_its_successor(config):
    p = plan(config, features(), model="claude-3-5-sonnet")
    assert aliases(p)[0] == "claude-sonnet-4-5"
    assert "claude-3-5-sonnet retired, using claude-sonnet-4-5" in p.notes
    assert "claude-3-5-sonnet" not in aliases(p)


def test_retired_model_in_a_tier_is_remapped(config_doc):
    config_doc["tiers"]["simple"] = ["cohere-command", "nova-lite"]
    p = plan(parse_config(config_doc), features(), tier="simple")
    assert aliases(p) == ["command-r-plus", "nova-lite"]


def test_deprecated_model_is_used_and_noted(config):
    p = plan(config, features(), model="claude-3-haiku")
    assert aliases(p)[0] == "claude-3-haiku"
    assert any("claude-3-haiku is deprecated" in note for note in p.notes)


def test_context_window_filter_skips_models_that_cannot_fit(config_doc):
    config_doc["models"]["small"] = {**config_doc["models"]["nova-lite"], "contextWindow": 2000}
    config_doc["tiers"]["simple"] = ["small", "nova-lite"]
    config = parse_config(config_doc)
    assert aliases(plan(config, features("hi"), tier="simple")) == ["small", "nova-lite"]
    assert aliases(plan(config, features("x" * 8000), tier="simple")) == ["nova-lite"]


def test_prompt_too_big_for_every_candidate_is_413(config):
    with pytest.raises(PayloadTooLarge, match="context window"):
        plan(config, features("x" * 1_300_000), tier="simple")


def test_explicit_model_that_cannot_fit_is_413_not_a_silent_swap(config):
    with pytest.raises(PayloadTooLarge, match="llama3-3-70b"):
        plan(config, features("x" * 600_000), model="llama3-3-70b")


def test_modality_filter(config):
    image = {"image": {"format": "png", "source": {"bytes": "aGk="}}}
    p = plan(config, features("what is this?", extra_blocks=[image]), tier="simple")
    assert "llama3-3-70b" not in aliases(p)  # text only
    with pytest.raises(InvalidRequest, match="does not accept image"):
        plan(config, features("what is this?", extra_blocks=[image]), model="command-r-plus")


def test_language_filter(config_doc):
    config_doc["tiers"]["simple"] = ["llama3-3-70b", "nova-lite"]
    p = plan(parse_config(config_doc), features("日本の首都はどこですか？東京について教えてください。"), tier="simple")
    assert aliases(p) == ["nova-lite"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("What is the weather like today?", "en"),
        ("日本の首都はどこですか", "ja"),
        ("北京是中国的首都", "zh"),
        ("Какая сегодня погода?", "ru"),
        ("Quelle est la capitale de la France? Je voudrais le savoir pour mon voyage avec les enfants.", "fr"),
        ("Ich habe eine Frage und die Antwort ist nicht einfach, aber das ist mit der Zeit klar.", "de"),
        ("Explain why the angles α, β and γ of a triangle add up to 180 degrees.", "en"),
        ("東京について教えてください (please answer in Japanese, with examples)", "ja"),
    ],
)
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_token_estimate_counts_text_and_images():
    plain = features("x" * 400)
    assert 100 <= plain.input_tokens <= 110
    image = {"image": {"format": "png", "source": {"bytes": "aGk="}}}
    assert features("x" * 400, extra_blocks=[image]).input_tokens > plain.input_tokens + 1000
