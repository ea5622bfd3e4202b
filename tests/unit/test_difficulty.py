"""The learned difficulty score: determinism, monotone tiers, calibrated shares, artifact loading."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from fmgateway.aws import artifacts
from fmgateway.config.gateway_config import parse_config
from fmgateway.routing import difficulty
from fmgateway.routing.planner import TierDecision, extract_features, plan
from router_training import data
from tests.conftest import CONFIG_FILE, ROOT

TIER_RANK = {"simple": 0, "medium": 1, "complex": 2}
GSM8K_LIKE = "Tom has 3 boxes with 12 pencils each. He gives away 40% of them. How many pencils are left?"


@pytest.fixture(autouse=True)
def fresh_artifacts():
    difficulty.reset()
    artifacts.reset()
    difficulty.use_artifact_reader(artifacts.read_s3)  # as fmgateway.runtime wires it
    yield
    difficulty.reset()
    artifacts.reset()


@pytest.fixture(scope="module")
def reference() -> list[data.Example]:
    directory = data.default_data_dir()
    if not directory.is_dir():
        pytest.skip(f"reference routing data not found at {directory} (set {data.DATA_ENV})")
    return data.load(directory)


def weighted_shares(tiers: list[str], examples: list[data.Example]) -> dict[str, float]:
    weights = data.benchmark_weights(examples)
    total = sum(weights)
    return {tier: sum(w for w, t in zip(weights, tiers, strict=True) if t == tier) / total for tier in TIER_RANK}


def test_score_is_a_deterministic_probability():
    first = difficulty.bundled_model().score(GSM8K_LIKE)
    difficulty.reset()
    second = difficulty.bundled_model().score(GSM8K_LIKE)
    assert first == second and 0.0 < first < 1.0
    assert difficulty.text_features(GSM8K_LIKE) == difficulty.text_features(GSM8K_LIKE)


def test_score_depends_on_the_content():
    model = difficulty.bundled_model()
    scores = {model.score(text) for text in (GSM8K_LIKE, "Hi", "Which is a mammal?\nA. cat\nB. trout\nC. crow\nD. frog\nAnswer:")}
    assert len(scores) == 3


def test_tier_is_monotone_in_the_score():
    thresholds = difficulty.bundled_model().thresholds
    grid = [i / 1000 for i in range(1001)] + list(thresholds.values())
    ranks = [TIER_RANK[difficulty.tier_for(score, thresholds)[0]] for score in sorted(grid)]
    assert ranks == sorted(ranks) and set(ranks) == {0, 1, 2}
    assert difficulty.tier_for(thresholds["complex"], thresholds) == ("complex", thresholds["complex"])
    assert difficulty.tier_for(thresholds["medium"], thresholds) == ("medium", thresholds["medium"])


def test_thresholds_must_be_ordered():
    doc = {**json.loads(difficulty.BUNDLED_ARTIFACT.read_text()), "thresholds": {"medium": 0.6, "complex": 0.4}}
    with pytest.raises(ValueError, match="medium <= complex"):
        difficulty.DifficultyModel(doc, "test")


def test_uncertain_band_is_around_each_threshold():
    thresholds = {"medium": 0.2, "complex": 0.5}
    assert difficulty.in_uncertain_band(0.21, thresholds, 0.02)
    assert difficulty.in_uncertain_band(0.49, thresholds, 0.02)
    assert not difficulty.in_uncertain_band(0.35, thresholds, 0.02)
    assert not difficulty.in_uncertain_band(0.2, thresholds, 0.0)


def test_configured_shares_are_the_ones_the_bundled_artifact_was_calibrated_to():
    configured = json.loads(CONFIG_FILE.read_text())["contentRouting"]["shares"]
    assert difficulty.bundled_model().shares == configured, "run `make calibrate-router` after changing shares"


def test_calibration_meets_the_configured_shares_on_the_reference_data(reference):
    model = difficulty.bundled_model()
    tiers = [model.decide(example.prompt).tier for example in reference]
    shares = weighted_shares(tiers, reference)
    for tier in ("medium", "complex"):
        assert shares[tier] == pytest.approx(model.shares[tier], abs=0.02), shares


def test_changed_shares_and_calibrate_move_the_thresholds(reference, tmp_path):
    artifact = tmp_path / "artifact.json"
    artifact.write_text(difficulty.BUNDLED_ARTIFACT.read_text())
    config = json.loads(CONFIG_FILE.read_text())
    config["contentRouting"]["shares"] = {"medium": 0.2, "complex": 0.1}
    config_file = tmp_path / "gateway.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "router_training", "calibrate", "--config", str(config_file), "--artifact", str(artifact)]
    subprocess.run(
        command, cwd=ROOT, check=True, capture_output=True, env={**_env(), data.DATA_ENV: str(data.default_data_dir())}
    )

    before = difficulty.bundled_model()
    after = difficulty.DifficultyModel(json.loads(artifact.read_text()), "calibrated")
    assert after.shares == {"medium": 0.2, "complex": 0.1} and after.version != before.version
    assert after.thresholds["complex"] > before.thresholds["complex"]  # a smaller complex share: a higher bar
    assert after.weights == before.weights  # calibration moves thresholds only
    shares = weighted_shares([after.decide(example.prompt).tier for example in reference], reference)
    assert shares["complex"] == pytest.approx(0.1, abs=0.02) and shares["medium"] == pytest.approx(0.2, abs=0.02)


def test_auto_plan_reports_the_score_and_deciding_threshold(config_doc):
    config = parse_config(config_doc)
    messages = [{"role": "user", "content": [{"text": GSM8K_LIKE}]}]
    decided = plan(config, extract_features(messages, None, 512), model="auto")
    decision = difficulty.bundled_model().decide(GSM8K_LIKE)
    assert decided.tier == decision.tier and decided.decision is not None
    reported = decided.decision.describe()
    assert reported["decidedBy"] == "learned" and reported["tier"] == decision.tier
    assert reported["score"] == round(decision.score, 4)
    assert reported["threshold"] == round(decision.threshold, 4)
    assert reported["artifact"].endswith("(bundled)")
    assert TierDecision.from_json(json.loads(json.dumps(reported))) == decided.decision  # the state machine's round trip


def test_the_lambda_import_path_loads_no_numeric_library():
    code = (
        "import sys; import handlers.api; from fmgateway.routing import difficulty;"
        "difficulty.bundled_model().score('What is 2 + 2?');"
        "heavy = sorted(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules); print(heavy); sys.exit(bool(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": f"{ROOT / 'lambdas'}:{ROOT}"}


# --- an artifact in S3 ---------------------------------------------------------------------------------------

BUCKET, KEY = "fmgw-router-artifacts", "difficulty/v2.json"
URI = f"s3://{BUCKET}/{KEY}"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def newer_artifact() -> dict:
    doc = json.loads(difficulty.BUNDLED_ARTIFACT.read_text())
    return {**doc, "version": "2.test", "intercept": doc["intercept"] + 1.0}


def test_an_s3_artifact_replaces_the_bundled_one(s3):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(newer_artifact()))
    model = difficulty.model_for({"artifact": URI})
    assert model.version == "2.test" and model.source == URI
    assert model.score(GSM8K_LIKE) > difficulty.bundled_model().score(GSM8K_LIKE)


@pytest.mark.parametrize("body", [b"{not json", json.dumps({"format": "something-else/9"}).encode()])
def test_a_broken_s3_artifact_falls_back_to_the_bundled_one_and_says_why(s3, body, caplog):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    with caplog.at_level("WARNING"):
        model = difficulty.model_for({"artifact": URI})
    assert model.source == "bundled"
    assert any(URI in record.getMessage() and "unusable" in record.getMessage() for record in caplog.records)


def test_a_missing_s3_artifact_falls_back_and_is_retried_after_the_max_age(s3):
    now = [0.0]
    assert difficulty.model_for({"artifact": URI}, clock=lambda: now[0]).source == "bundled"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(newer_artifact()))
    assert difficulty.model_for({"artifact": URI}, clock=lambda: now[0]).source == "bundled"  # cached
    now[0] += difficulty.ARTIFACT_MAX_AGE
    assert difficulty.model_for({"artifact": URI}, clock=lambda: now[0]).version == "2.test"


def test_a_broken_update_keeps_the_last_good_s3_artifact(s3):
    now = [0.0]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(newer_artifact()))
    assert difficulty.model_for({"artifact": URI}, clock=lambda: now[0]).version == "2.test"
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"[]")
    now[0] += difficulty.ARTIFACT_MAX_AGE
    assert difficulty.model_for({"artifact": URI}, clock=lambda: now[0]).version == "2.test"


def test_tier_shares_cannot_exceed_all_traffic(config_doc):
    from fmgateway.values.errors import ConfigError

    config_doc["contentRouting"]["shares"] = {"medium": 0.6, "complex": 0.5}
    with pytest.raises(ConfigError, match="contentRouting.shares"):
        parse_config(config_doc)


def test_score_is_bit_identical_across_processes_with_different_string_hashing():
    # n-grams live in sets whose order follows per-process string hashing; the sums must not depend on it
    code = f"from fmgateway.routing import difficulty; print(repr(difficulty.bundled_model().score({GSM8K_LIKE!r})))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**_env(), "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1 and float(outputs.pop()) == difficulty.bundled_model().score(GSM8K_LIKE)
