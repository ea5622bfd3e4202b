import json

import pytest

from fmgateway.aws import appconfig
from fmgateway.aws.appconfig import AppConfigSource
from fmgateway.config.gateway_config import ConfigError, FileConfigSource, parse_config
from tests.conftest import FakeClock


def test_default_config_is_valid_and_covers_the_seed_families(base_config_doc):
    config = parse_config(base_config_doc)
    ids = {model.model_id for model in config.catalog.models.values()}
    for fragment in (
        "claude-3-5-sonnet",
        "claude-3-haiku",
        "claude-3-opus",
        "titan-text",
        "nova",
        "llama3",
        "mistral-large",
        "command",
    ):
        assert any(fragment in model_id for model_id in ids), fragment
    # every seed family also has a current-generation model, and retired seeds point at one
    for model in config.catalog.models.values():
        if model.lifecycle == "retired":
            assert config.catalog.current(model)[0].lifecycle != "retired"
    assert config.routes == {"/v1/classify": "simple", "/v1/generate": "medium", "/v1/analyze": "complex"}
    assert set(config.tiers) == {"simple", "medium", "complex"}


def _set(doc: dict, path: str, value):
    *parents, last = path.split("/")
    for part in parents:
        doc = doc[part]
    if value is KeyError:
        del doc[last]
    else:
        doc[last] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("models/nova-pro/contextWindow", "big", "config.models.nova-pro.contextWindow must be integer"),
        ("models/nova-pro/modelId", KeyError, "config.models.nova-pro must contain"),
        ("models/nova-pro/lifecycle", "sunset", "config.models.nova-pro.lifecycle must be one of"),
        ("models/nova-pro/profileScope", "mars", "config.models.nova-pro.profileScope must be one of"),
        ("models/nova-pro/pricePer1k/input", -1, "config.models.nova-pro.pricePer1k.input must be bigger than or equal to 0"),
        ("models/nova-pro/colour", "red", "config.models.nova-pro must not contain"),
        ("tiers/simple", [], "config.tiers.simple must contain at least 1 items"),
        ("routes//v1/classify", "tiny", "config.routes./v1/classify must be one of"),
        ("circuitBreaker/minimumCalls", 0, "config.circuitBreaker.minimumCalls must be bigger than or equal to 1"),
        (
            "circuitBreaker/failureRateThreshold",
            101,
            "config.circuitBreaker.failureRateThreshold must be smaller than or equal to 100",
        ),
        ("circuitBreaker/maxKeyShare", 1.5, "config.circuitBreaker.maxKeyShare must be smaller than or equal to 1"),
        ("health/shards", 0, "config.health.shards must be bigger than or equal to 1"),
        (
            "circuitBreaker/failureThreshold",
            5,
            "config.circuitBreaker.failureThreshold: replaced by failureRateThreshold (percent of the window's calls",
        ),
        ("timeouts/readSeconds", 60, "config.timeouts.readSeconds must be smaller than or equal to 28"),
        ("plans", {}, "config.plans must contain at least 1 properties"),
        ("tiers/simple", ["no-such-model"], "config.tiers.simple[0]: unknown model 'no-such-model'"),
        ("models/claude-3-opus/successor", "ghost", "config.models.claude-3-opus.successor: unknown model 'ghost'"),
        ("models/claude-3-opus/successor", KeyError, "config.models.claude-3-opus.successor: a retired model needs a successor"),
    ],
)
def test_invalid_config_names_the_bad_field(config_doc, path, value, message):
    if path.startswith("routes//"):
        config_doc["routes"]["/v1/classify"] = value
    else:
        _set(config_doc, path, value)
    with pytest.raises(ConfigError) as raised:
        parse_config(config_doc)
    assert message in str(raised.value)


def test_successor_loop_is_rejected(config_doc):
    config_doc["models"]["claude-opus-4-1"].update(lifecycle="retired", successor="claude-3-opus")
    with pytest.raises(ConfigError, match="loops back"):
        parse_config(config_doc)


def test_not_an_object_is_rejected():
    with pytest.raises(ConfigError, match="config must be object"):
        parse_config([])


def test_file_source_reloads_when_the_file_changes(tmp_path, config_doc):
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config_doc))
    clock = FakeClock()
    source = FileConfigSource(path, clock=clock)
    assert source.get().version == config_doc["version"]
    config_doc["version"] = "v2"
    path.write_text(json.dumps(config_doc))
    import os

    os.utime(path, (1, 1))  # a distinct mtime even on coarse file systems
    assert source.get().version != "v2"  # cached for a second
    clock.advance(1.5)
    assert source.get().version == "v2"


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("{not json", "Expecting property name"),
        ('{"version": "v3"}', "config must contain"),
        (None, "No such file"),
    ],
)
def test_file_source_keeps_the_last_good_config_when_the_file_turns_invalid(tmp_path, config_doc, caplog, bad, says):
    import os

    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config_doc))
    clock = FakeClock()
    source = FileConfigSource(path, clock=clock)
    good = source.get()
    if bad is None:
        path.unlink()
    else:
        path.write_text(bad)
        os.utime(path, (2, 2))
    clock.advance(1.5)
    with caplog.at_level("ERROR"):
        assert source.get() is good
    assert "ignoring invalid configuration file" in caplog.text and says in caplog.text
    caplog.clear()
    clock.advance(1.5)
    assert source.get() is good and (bad is None or caplog.text == "")  # a bad version is reported once
    config_doc["version"] = "v4"
    path.write_text(json.dumps(config_doc))
    os.utime(path, (3, 3))
    clock.advance(1.5)
    assert source.get().version == "v4"  # fixed: picked up again


def test_appconfig_source_caches_and_keeps_last_good(monkeypatch, config_doc):
    from aws_lambda_powertools.utilities import parameters

    calls = []
    current = {"doc": config_doc}

    def fake_get_app_config(**kwargs):
        calls.append(kwargs)
        return current["doc"]

    monkeypatch.setattr(parameters, "get_app_config", fake_get_app_config)
    source = AppConfigSource("app", "dev", "gateway")
    first = source.get()
    assert source.get() is first  # same document object -> no re-validation
    assert calls[0]["max_age"] <= 60 and calls[0]["transform"] == "json"

    broken = json.loads(json.dumps(config_doc))
    broken["tiers"]["simple"] = ["ghost"]
    current["doc"] = broken
    assert source.get() is first  # invalid update ignored, last good kept

    fixed = json.loads(json.dumps(config_doc))
    fixed["version"] = "v3"
    current["doc"] = fixed
    assert source.get().version == "v3"


def test_appconfig_read_failures_keep_the_last_good_config_or_are_503(monkeypatch, config_doc):
    from aws_lambda_powertools.utilities import parameters

    from fmgateway.values.errors import Unavailable

    def unreachable(**kwargs):
        raise parameters.exceptions.GetParameterError("AppConfig unreachable")

    monkeypatch.setattr(parameters, "get_app_config", unreachable)
    source = AppConfigSource("app", "dev", "gateway")
    with pytest.raises(Unavailable) as raised:
        source.get()  # nothing to fall back on: a 503 with Retry-After, not a 500
    assert raised.value.status == 503 and raised.value.retry_after == 5
    monkeypatch.setattr(parameters, "get_app_config", lambda **kwargs: config_doc)
    good = source.get()
    monkeypatch.setattr(parameters, "get_app_config", unreachable)
    assert source.get() is good


def test_source_from_env_requires_a_location():
    with pytest.raises(ConfigError, match="FMGW_CONFIG_FILE"):
        appconfig.source_from_env({})
    assert isinstance(appconfig.source_from_env({"FMGW_CONFIG_FILE": "x.json"}), FileConfigSource)
