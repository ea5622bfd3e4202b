"""Settings: the config is validated against its schema and checked against the stack region before synth."""

from __future__ import annotations

import json

import pytest

from infra.settings import ConfigError, cdk_json_context, check_config, invocable_models, load_settings


@pytest.fixture
def config(config_doc) -> dict:
    """A private copy of config/gateway.json (tests/conftest.py)."""
    return config_doc


def context(**overrides) -> dict:
    return {**cdk_json_context(), **overrides}


def test_cdk_json_context_defaults():
    settings = load_settings(cdk_json_context())
    assert (settings.environment, settings.region, settings.stack_name) == ("dev", "us-east-1", "FmGateway-dev")
    assert settings.powertools_version == "3.37.0"
    assert settings.retain is True
    assert settings.config_rollout == "allAtOnce"
    assert settings.alarm_email is None
    assert settings.xray_sdk is False


def test_xray_sdk_flag_parses_from_the_cli():
    assert load_settings(context(xraySdk="true")).xray_sdk is True
    with pytest.raises(ConfigError, match="xraySdk"):
        load_settings(context(xraySdk="yes please"))


def test_rollout_defaults_to_linear_outside_dev_and_booleans_parse_from_cli_strings():
    settings = load_settings(context(environment="prod", retain="false"))
    assert settings.config_rollout == "linear"
    assert settings.retain is False
    assert settings.stack_name == "FmGateway-prod"
    with pytest.raises(ConfigError, match="retain"):
        load_settings(context(retain="maybe"))
    with pytest.raises(ConfigError, match="configRollout"):
        load_settings(context(configRollout="canary"))


def test_region_outside_the_geography_fails_naming_the_model(config):
    with pytest.raises(ConfigError) as raised:
        check_config(config, "eu-west-1")
    message = str(raised.value)
    assert "eu-west-1" in message
    assert "'claude-haiku-4-5'" in message and "anthropic.claude-haiku-4-5-20251001-v1:0" in message
    assert "'claude-3-5-sonnet'" not in message  # retired: never invoked, never checked


def test_load_settings_fails_for_a_stack_region_outside_the_geography():
    with pytest.raises(ConfigError, match=r"model 'nova-pro' .* cannot be called from ap-northeast-1"):
        load_settings(context(region="ap-northeast-1"))


def test_every_source_region_of_the_geography_passes(config):
    for region in config["geographies"]["us"]["sourceRegions"]:
        check_config(config, region)


def test_geo_scope_without_geography_fails(config):
    del config["geographies"]["us"]
    with pytest.raises(ConfigError, match="geographies.us is not configured"):
        check_config(config, "us-east-1")


def test_retired_models_are_not_invocable(config):
    aliases = set(invocable_models(config))
    assert "claude-3-5-sonnet" not in aliases and "claude-haiku-4-5" in aliases


def test_schema_violation_fails_synth(tmp_path, config):
    config["models"]["nova-pro"]["profileScope"] = "mars"
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="models/nova-pro/profileScope"):
        load_settings(context(configFile=str(path)))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"huge": {"strategy": "cost"}}, "tierStrategies names tier 'huge'"),
        ({"simple": {"strategy": "weighted", "weights": {"nova-pro": 1}}}, "tierStrategies.simple.weights names 'nova-pro'"),
        ({"simple": {"strategy": "weighted", "weights": {"nova-lite": 0}}}, "needs a weight above 0"),
        ({"simple": {"strategy": "cost", "quality": {"nova-lite": 0.2}, "minQuality": 0.5}}, "minQuality: no candidate"),
    ],
)
def test_routing_strategy_cross_references_fail_synth(config, section, message):
    config["tierStrategies"] = section
    with pytest.raises(ConfigError, match=message):
        check_config(config, "us-east-1")
    config["tierStrategies"] = {"simple": {"strategy": "latency", "explorationShare": 0.05}}
    check_config(config, "us-east-1")


def test_the_old_breaker_count_fails_synth_saying_what_replaces_it(tmp_path, config):
    config["circuitBreaker"]["failureThreshold"] = 5
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="circuitBreaker/failureThreshold: replaced by failureRateThreshold") as raised:
        load_settings(context(configFile=str(path)))
    assert "minimumCalls" in str(raised.value)


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ({"type": "bedrock-provisioned", "arn": "arn:aws:bedrock:eu-west-1:123456789012:provisioned-model/abc", "hourlyUsd": 1},
         "region eu-west-1, but this deployment may invoke only us-east-1"),
        ({"type": "sagemaker", "endpoint": "team-bot", "container": "lmi-chat", "hourlyUsd": 1},
         "team-bot does not start with 'fmgw-'"),
        ({"type": "sagemaker", "endpoint": "fmgw-bot", "inferenceComponent": "lora", "container": "lmi-chat", "hourlyUsd": 1},
         "inferenceComponent: lora does not start with 'fmgw-'"),
    ],
)  # fmt: skip
def test_the_synth_refuses_a_backend_outside_the_granted_patterns(tmp_path, config, backend, says):
    """Issue 23: the same patterns as IAM (infra/backend_access.py), at synth, before anything is deployed."""
    config["models"]["nova-lite"]["backend"] = backend
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=says):
        load_settings(context(configFile=str(path)))


def test_the_endpoint_prefix_is_a_context_value_checked_like_the_others(tmp_path, config):
    config["models"]["nova-lite"]["backend"] = {
        "type": "sagemaker",
        "endpoint": "team-bot",
        "container": "lmi-chat",
        "hourlyUsd": 1,
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    assert load_settings(context(configFile=str(path), sagemakerEndpointPrefix="team-")).sagemaker_endpoint_prefix == "team-"
    with pytest.raises(ConfigError, match="sagemakerEndpointPrefix"):
        load_settings(context(sagemakerEndpointPrefix="bad prefix"))
