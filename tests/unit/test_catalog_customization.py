"""The catalog's customization capabilities (issue 24): which base models accept which customization types, their
teachers for distillation and the regions where the jobs run, checked at load."""

from __future__ import annotations

import pytest

from fmgateway.config.gateway_config import ConfigError, parse_config


def test_the_shipped_catalog_knows_what_can_be_customized(config_doc):
    parse_config(config_doc)
    lite = config_doc["models"]["nova-lite"]["customization"]
    assert lite["types"] == ["FINE_TUNING", "DISTILLATION"] and lite["teachers"] == ["nova-pro", "nova-premier"]
    assert lite["regions"] == ["us-east-1"] and lite["onDemandDeployment"] is True
    assert "CONTINUED_PRE_TRAINING" in config_doc["models"]["titan-text-express"]["customization"]["types"]
    assert config_doc["models"]["claude-3-haiku"]["customization"]["regions"] == ["us-west-2"]


def test_an_unknown_teacher_is_refused(config_doc):
    config_doc["models"]["nova-lite"]["customization"]["teachers"] = ["nova-pro", "gpt-5"]
    with pytest.raises(ConfigError, match=r"models\.nova-lite\.customization\.teachers\[1\]: unknown model 'gpt-5'"):
        parse_config(config_doc)


def test_distillation_without_teachers_is_refused(config_doc):
    del config_doc["models"]["nova-lite"]["customization"]["teachers"]
    with pytest.raises(ConfigError, match="DISTILLATION needs the teachers"):
        parse_config(config_doc)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"types": ["REINFORCEMENT_FINE_TUNING"]}, "types"),
        ({"regions": ["mars-north-1"]}, "regions"),
        ({"baseModelId": ""}, "baseModelId"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_the_schema_refuses_malformed_customization(config_doc, change, words):
    config_doc["models"]["nova-lite"]["customization"].update(change)
    with pytest.raises(ConfigError, match=words):
        parse_config(config_doc)
