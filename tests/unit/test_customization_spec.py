"""The customization run spec (issue 24): its shape field by field with the defaults, and the catalog's word on it:
the base model's types and regions, the teacher, the tier's baseline after remaps, the evaluation capacity and its
price. Every refusal is a named error whose message says why."""

from __future__ import annotations

import copy

import pytest

from fmgateway.config.gateway_config import parse_config
from fmgateway.lifecycle.customization import spec
from fmgateway.lifecycle.customization.errors import InvalidSpec, NotCustomizable
from fmgateway.values.backends import CUSTOM_DEPLOYMENT, PROVISIONED
from tests.customization_fakes import EVAL_URI, SETTINGS, distillation_spec


def fine_tuning_spec(**changes) -> dict:
    base = {
        "name": "titan-ft",
        "type": "FINE_TUNING",
        "baseModel": "titan-text-express",
        "trainingData": {"s3Uri": "s3://fmgw-customization/datasets/train.jsonl"},
        "evaluation": {"s3Uri": EVAL_URI, "tier": "simple", "expectedRequestsPerHour": 500, "hourlyUsd": 20},
    }
    return {**base, **changes}


def test_defaults_are_filled_in():
    parsed = spec.parse(fine_tuning_spec())
    assert parsed["polling"] == {"jobSeconds": 60, "jobMaxSeconds": 86400, "capacitySeconds": 30, "capacityMaxSeconds": 3600}
    assert parsed["evaluation"]["batchSize"] == 20 and parsed["evaluation"]["margin"] == 0.02
    assert parsed["evaluation"]["maxTokens"] == 512 and parsed["hyperParameters"] == {}


def test_hyperparameters_travel_as_strings():
    parsed = spec.parse(fine_tuning_spec(hyperParameters={"epochCount": 2, "learningRate": "0.0001"}))
    assert parsed["hyperParameters"] == {"epochCount": "2", "learningRate": "0.0001"}


def _with(path: str, value) -> dict:
    doc = copy.deepcopy(distillation_spec())
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


FILTERS = "trainingData.invocationLogs.requestMetadataFilters"


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (_with("name", "bad--name"), "spec.name: 1-40 letters"),
        (_with("name", "x" * 41), "spec.name"),
        (_with("name", KeyError), "spec.name: required"),
        (_with("colour", "blue"), "spec.colour: unknown field"),
        (_with("type", "REINFORCEMENT_FINE_TUNING"), "spec.type: one of"),
        (_with("teacher", KeyError), "spec.teacher: a DISTILLATION needs a teacher"),
        (fine_tuning_spec(teacher="nova-pro"), "only a DISTILLATION has a teacher"),
        (fine_tuning_spec(trainingData={"invocationLogs": {"s3Uri": "s3://logs/AWSLogs/"}}), "only a DISTILLATION reads"),
        (fine_tuning_spec(trainingData={"s3Uri": "s3://b/x", "invocationLogs": {}}), "exactly one of s3Uri or invocationLogs"),
        (fine_tuning_spec(trainingData={"s3Uri": "https://b/x"}), "spec.trainingData.s3Uri: an s3://bucket/key URI"),
        (_with(FILTERS, {"equals": {"a": "1"}, "notEquals": {"b": "2"}}), "exactly one of equals, notEquals, andAll, orAll"),
        (_with(FILTERS, {"equals": {"a": "1", "b": "2"}}), "equals: exactly one key-value pair"),
        (_with(FILTERS, {"andAll": [{"equals": {"k": str(i)}} for i in range(17)]}), "andAll: a list of 1 to 16 filters"),
        (_with(FILTERS, {"andAll": []}), "andAll: a list of 1 to 16 filters"),
        (_with(FILTERS, {"orAll": [{"andAll": [{"equals": {"a": "1"}}]}]}), r"orAll\[0\]: exactly one of equals, notEquals"),
        (_with(FILTERS, {"equals": {"team#1": "x"}}), "key 'team#1': 1-256 characters"),
        (_with(FILTERS, {"equals": {"team": "x" * 257}}), "team: a string of 0-256 characters"),
        (_with(FILTERS, {"equals": {"team": 7}}), "team: a string"),
        (_with("trainingData.invocationLogs.usePromptResponse", "yes"), "usePromptResponse: true or false"),
        (_with("evaluation.expectedRequestsPerHour", KeyError), "expectedRequestsPerHour: required"),
        (_with("evaluation.expectedRequestsPerHour", 0), "expectedRequestsPerHour: more than 0"),
        (_with("evaluation.batchSize", 0), "batchSize: an integer from 1 to 100"),
        (_with("evaluation.margin", 2), "margin: a number from 0 to 1"),
        (_with("evaluation.judge", "nova-pro"), "spec.evaluation.judge: unknown field"),
        (_with("polling.jobMaxSeconds", 0), "jobMaxSeconds: an integer from 1"),
        (_with("polling.jobSeconds", 1.5), "jobSeconds: an integer"),
        (_with("region", "mars"), "spec.region: a region name"),
        (_with("hyperParameters", {"epochCount": True}), "hyperParameters.epochCount: a string"),
    ],
)
def test_a_malformed_spec_is_invalid_and_names_the_field(doc, says):
    with pytest.raises(InvalidSpec, match=says):
        spec.parse(doc)


def test_filters_within_bedrocks_limits_are_kept_as_given():
    filters = {"andAll": [{"equals": {"fmgw-route": "tier:complex"}}, {"notEquals": {"fmgw-tenant": "load-test"}}]}
    parsed = spec.parse(_with(FILTERS, filters))
    assert parsed["trainingData"]["invocationLogs"]["requestMetadataFilters"] == filters


@pytest.fixture
def config(config_doc):
    return parse_config(config_doc)


def plan(doc: dict, config, settings=SETTINGS) -> dict:
    return spec.plan(spec.parse(doc), config, settings)


def test_a_distillation_plan_names_teacher_baseline_and_capacity(config):
    planned = plan(distillation_spec(), config)
    assert planned["region"] == "us-east-1"
    assert planned["baseModel"]["customizationBaseModelId"] == "amazon.nova-lite-v1:0:300k"
    assert planned["teacher"] == {"alias": "nova-pro", "invokeId": "us.amazon.nova-pro-v1:0"}
    assert planned["baseline"]["alias"] == "claude-haiku-4-5"  # the simple tier's first candidate
    assert planned["capacity"] == {"kind": CUSTOM_DEPLOYMENT, "hourlyUsd": 0.2, "priceSource": "spec.evaluation.hourlyUsd"}
    assert planned["candidateAlias"] == "support-distill"


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (distillation_spec(baseModel="claude-haiku-4-5"), r"claude-haiku-4-5 \(.*\): Bedrock does not customize it"),
        (fine_tuning_spec(type="DISTILLATION", teacher="nova-pro", trainingData={"s3Uri": "s3://fmgw-data/d.jsonl"}),
         "titan-text-express .* takes FINE_TUNING, CONTINUED_PRE_TRAINING, not DISTILLATION"),
        (distillation_spec(region="us-west-2"), "nova-lite: Bedrock runs its customization jobs in us-east-1 only, not us-west-"),
        (distillation_spec(teacher="nova-micro"), "teacher nova-micro: Bedrock accepts nova-pro, nova-premier as teachers"),
        (fine_tuning_spec(baseModel="claude-3-haiku"), "in us-west-2 only, not us-east-1 .this deployment's region"),
        # a region the model allows, but not this deployment's: its bucket, key and subnets are regional
        (fine_tuning_spec(region="us-west-2"), "spec.region us-west-2: this deployment customizes in us-east-1"),
    ],
)  # fmt: skip
def test_the_catalog_refuses_with_the_reason(doc, says, config):
    with pytest.raises(NotCustomizable, match=says):
        plan(doc, config)


def test_a_retired_teacher_is_refused(config_doc):
    config_doc["models"]["nova-pro"].update(lifecycle="retired", successor="nova-premier")
    with pytest.raises(NotCustomizable, match="teacher nova-pro is retired .successor nova-premier."):
        plan(distillation_spec(), parse_config(config_doc))


def test_no_price_for_the_capacity_is_refused_and_says_what_to_give(config):
    doc = distillation_spec()
    del doc["evaluation"]["hourlyUsd"]
    with pytest.raises(NotCustomizable, match=r"nova-lite.capacityPrices.deploymentHourlyUsd; give spec.evaluation.hourlyUsd"):
        plan(doc, config)


def test_the_catalogs_price_wins_and_titan_gets_provisioned_throughput(config_doc):
    config_doc["models"]["titan-text-express"]["capacityPrices"] = {"provisionedUnitHourlyUsd": {"none": 21.18, "1m": 18.4}}
    planned = plan(fine_tuning_spec(), parse_config(config_doc))
    assert planned["capacity"] == {
        "kind": PROVISIONED,
        "hourlyUsd": 21.18,
        "priceSource": "catalog titan-text-express.capacityPrices.provisionedUnitHourlyUsd.none",
    }


def test_unknown_model_and_tier_are_invalid(config):
    with pytest.raises(InvalidSpec, match="spec.baseModel: unknown model 'gpt-5' .customizable: .*nova-lite"):
        plan(distillation_spec(baseModel="gpt-5"), config)
    with pytest.raises(InvalidSpec, match="spec.evaluation.tier: unknown tier 'tiny'"):
        plan(_with("evaluation.tier", "tiny"), config)


def test_the_baseline_is_the_tiers_first_candidate_after_lifecycle_remaps(config_doc):
    config_doc["models"]["claude-haiku-4-5"].update(lifecycle="retired", successor="nova-pro")
    planned = plan(distillation_spec(), parse_config(config_doc))
    assert planned["baseline"]["alias"] == "nova-pro" and planned["baseline"]["invokeId"] == "us.amazon.nova-pro-v1:0"


def test_the_suffix_is_the_executions_so_a_retried_task_names_the_same_job():
    assert spec.suffix("arn:aws:states:us-east-1:1:execution:m:a") == spec.suffix("arn:aws:states:us-east-1:1:execution:m:a")
    assert spec.suffix("arn:x:a") != spec.suffix("arn:x:b") and len(spec.suffix(None)) == 8
