"""Provisioning apart from switching (issue 23): what is bought and what it costs, the wait until it is in service, a
failure that leaves nothing billing and the configuration unchanged, the switch and its undo, and the deployers: a
file that changed meanwhile is a conflict, and AppConfig through botocore's Stubber (the latest-version lock, the
deployment and its polling, a deployment in progress, a rollback)."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from fmgateway.aws.appconfig_deployer import AppConfigDeployer, AppConfigTarget
from fmgateway.lifecycle import provisioning
from fmgateway.lifecycle.deployer import Conflict, DeploymentFailed, FileDeployer
from fmgateway.lifecycle.provisioning import ProvisioningError

CUSTOM = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-lite-v1:0:300k/abcdefgh1234"
PRICES = {"provisionedUnitHourlyUsd": {"none": 39.6, "1m": 30.0, "6m": 22.0}, "deploymentHourlyUsd": 0.75}


@pytest.fixture
def doc(config_doc):
    config_doc["models"]["nova-lite"].update(customModelArn=CUSTOM, capacityPrices=PRICES)
    return config_doc


def test_the_plan_prices_units_by_commitment_and_a_deployment_by_the_hour(doc):
    bought = provisioning.plan(doc, "nova-lite", 2, "1m", on_demand=False)
    assert (bought.kind, bought.model, bought.units, bought.hourly_usd) == ("bedrock-provisioned", CUSTOM, 2, 60.0)
    assert bought.monthly_usd == 43800.0 and "2 model unit(s) of Provisioned Throughput (1m commitment)" in bought.describe()
    deployed = provisioning.plan(doc, "nova-lite", 1, "none", on_demand=True)
    assert (deployed.kind, deployed.hourly_usd) == ("bedrock-custom-deployment", 0.75)


@pytest.mark.parametrize(
    ("alias", "changes", "on_demand", "says"),
    [
        ("nova-lite", {"backend": {"type": "bedrock-imported", "arn": "x", "hourlyUsd": 1}}, False, "no Provisioned Throughput"),
        ("nova-lite", {"capacityPrices": {"provisionedUnitHourlyUsd": {"none": 1}}}, True, "only for some base models"),
        ("nova-lite", {"capacityPrices": {}}, False, "provisionedUnitHourlyUsd.none is not in the catalog"),
        ("gpt-9", {}, False, "not in the catalog"),
    ],
)
def test_what_cannot_be_bought_is_refused_with_the_reason(doc, alias, changes, on_demand, says):
    if alias in doc["models"]:
        doc["models"][alias].update(changes)
    with pytest.raises(ProvisioningError, match=says):
        provisioning.plan(doc, alias, 1, "none", on_demand)


class FakeControl:
    def __init__(self, statuses: list[str]):
        self.statuses, self.created, self.deleted = list(statuses), [], []

    def create(self, kind, name, model, units, commitment):
        self.created.append((kind, name, model, units, commitment))
        return "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456"

    def status(self, kind, arn):
        return self.statuses.pop(0), "no capacity left"

    def delete(self, kind, arn):
        self.deleted.append(arn)


def test_buying_waits_until_in_service(doc):
    control, seen = FakeControl(["Creating", "Creating", "InService"]), []
    purchase = provisioning.plan(doc, "nova-lite", 1, "6m", on_demand=False)
    arn = provisioning.buy(control, purchase, "fmgw-nova-lite", lambda status, _: seen.append(status), sleep=lambda _: None)
    assert arn.endswith("provisioned-model/abc123def456") and seen == ["Creating", "Creating", "InService"]
    assert control.created == [("bedrock-provisioned", "fmgw-nova-lite", CUSTOM, 1, "SixMonths")] and control.deleted == []


def test_a_failed_purchase_is_deleted_so_nothing_bills(doc):
    control = FakeControl(["Creating", "Failed"])
    with pytest.raises(ProvisioningError, match="failed: no capacity left .deleted; the configuration is unchanged"):
        provisioning.buy(control, provisioning.plan(doc, "nova-lite", 1, "none", False), "n", sleep=lambda _: None)
    assert len(control.deleted) == 1


def test_switch_then_restore_is_the_same_configuration(doc):
    purchase = provisioning.plan(doc, "nova-lite", 2, "none", on_demand=False)
    switched = provisioning.switched(doc, purchase, "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc")
    backend = switched["models"]["nova-lite"]["backend"]
    assert backend == {"type": "bedrock-provisioned", "arn": "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
                       "unitHourlyUsd": 39.6, "units": 2, "commitment": "none"}  # fmt: skip
    restored, leaving = provisioning.restored(switched, "nova-lite")
    assert restored == doc and leaving == backend
    with pytest.raises(ProvisioningError, match="not on capacity this command bought"):
        provisioning.restored(doc, "nova-lite")


def test_the_file_deployer_refuses_a_file_changed_meanwhile_and_a_document_that_would_not_load(tmp_path, doc):
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(doc))
    deployer = FileDeployer(path)
    current, version = deployer.current()
    path.write_text(json.dumps({**doc, "version": "someone-else"}))
    with pytest.raises(Conflict, match="changed since it was read"):
        deployer.deploy(current, version, "mine")
    current, version = deployer.current()
    with pytest.raises(ValueError, match="config"):
        deployer.deploy({**current, "tiers": {"simple": ["nope"]}}, version, "bad")
    done = deployer.deploy({**current, "version": "mine"}, version, "good")
    assert json.loads(path.read_text())["version"] == "mine" and done.state == "COMPLETE"


# ---- AppConfig, with botocore's Stubber -----------------------------------------------------------------------------

TARGET = AppConfigTarget("app1234", "env1234", "prof123", "strat12")
IDS = {"ApplicationId": "app1234", "ConfigurationProfileId": "prof123"}


def body(doc: dict) -> StreamingBody:
    data = json.dumps(doc).encode()
    return StreamingBody(io.BytesIO(data), len(data))


@pytest.fixture
def appconfig():
    client = boto3.client("appconfig", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def read_latest(stubber, doc, number=7):
    stubber.add_response("list_hosted_configuration_versions", {"Items": [{"VersionNumber": number}]}, {**IDS, "MaxResults": 1})
    stubber.add_response("get_hosted_configuration_version", {"Content": body(doc), "VersionNumber": number},
                         {**IDS, "VersionNumber": number})  # fmt: skip


def test_appconfig_creates_a_version_with_the_lock_deploys_it_and_polls_until_complete(appconfig, doc):
    client, stubber = appconfig
    read_latest(stubber, doc)
    stubber.add_response("create_hosted_configuration_version", {"VersionNumber": 8},
                         {**IDS, "Content": ANY, "ContentType": "application/json", "Description": "switch",
                          "LatestVersionNumber": 7})  # fmt: skip
    stubber.add_response("start_deployment", {"DeploymentNumber": 3},
                         {"ApplicationId": "app1234", "EnvironmentId": "env1234", "DeploymentStrategyId": "strat12",
                          "ConfigurationProfileId": "prof123", "ConfigurationVersion": "8", "Description": "switch"})  # fmt: skip
    for state in ("DEPLOYING", "BAKING", "COMPLETE"):
        stubber.add_response("get_deployment", {"State": state},
                             {"ApplicationId": "app1234", "EnvironmentId": "env1234", "DeploymentNumber": 3})  # fmt: skip
    deployer = AppConfigDeployer(client, TARGET, sleep=lambda _: None)
    current, version = deployer.current()
    assert current == doc and version == "7"
    assert deployer.deploy(current, version, "switch").version == "8"


def test_appconfig_a_version_created_meanwhile_is_a_conflict_not_an_overwrite(appconfig, doc):
    client, stubber = appconfig
    stubber.add_client_error("create_hosted_configuration_version", "ConflictException", "LatestVersionNumber mismatch")
    with pytest.raises(Conflict, match="another configuration version was created after version 7"):
        AppConfigDeployer(client, TARGET).deploy(doc, "7", "switch")


def test_appconfig_a_deployment_in_progress_is_reported(appconfig, doc):
    client, stubber = appconfig
    stubber.add_response("create_hosted_configuration_version", {"VersionNumber": 8})
    stubber.add_client_error("start_deployment", "ConflictException", "deployment in progress")
    with pytest.raises(Conflict, match="a deployment is in progress in environment env1234: version 8 was created"):
        AppConfigDeployer(client, TARGET).deploy(doc, "7", "switch")


def test_appconfig_a_rolled_back_deployment_fails(appconfig, doc):
    client, stubber = appconfig
    stubber.add_response("create_hosted_configuration_version", {"VersionNumber": 8})
    stubber.add_response("start_deployment", {"DeploymentNumber": 4})
    stubber.add_response("get_deployment", {"State": "ROLLED_BACK"})
    with pytest.raises(DeploymentFailed, match="ended ROLLED_BACK"):
        AppConfigDeployer(client, TARGET, sleep=lambda _: None).deploy(doc, "7", "switch")
