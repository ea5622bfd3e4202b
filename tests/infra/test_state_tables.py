"""DynamoDB state tables and the stack KMS key; least-privilege access for the API function."""

from __future__ import annotations

from infra.constructs.state_tables import KEY_ACTIONS, TABLE_ACTIONS
from tests.infra.conftest import api_function, as_list, statements_of


def state_tables(synth) -> dict[str, dict]:
    """The breaker, cache and health tables (the jobs tables are covered by test_jobs.py)."""
    return {key: res for key, res in synth.resources("AWS::DynamoDB::Table").items() if key.startswith("State")}


def test_three_tables_on_demand_pitr_kms(synth):
    tables = state_tables(synth)
    assert len(tables) == 3
    key_id, _ = synth.one("AWS::KMS::Key")
    for table in tables.values():
        props = table["Properties"]
        assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"] == {
            "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
            "SSEEnabled": True,
            "SSEType": "KMS",
        }
        # cdk.json: retain=true
        assert table["DeletionPolicy"] == "Retain"
        assert table["UpdateReplacePolicy"] == "Retain"


def test_cache_table_ttl_on_expires_at(synth):
    ttls = [
        t["Properties"]["TimeToLiveSpecification"]
        for t in state_tables(synth).values()
        if "TimeToLiveSpecification" in t["Properties"]
    ]
    assert ttls == [{"AttributeName": "expiresAt", "Enabled": True}] * 2  # the cache and the health table


def test_key_rotation_and_retention(synth):
    _, key = synth.one("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    synth.template.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/fm-gateway-dev"})


def test_function_gets_item_level_access_to_both_tables_only(synth):
    _, function = api_function(synth)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = statements_of(synth, role_id)
    dynamo = [
        st
        for st in statements
        if any(a.startswith("dynamodb:") for a in as_list(st["Action"])) and st.get("Sid") != "GatewayHealthTable"
    ]
    assert len(dynamo) == 1
    assert sorted(as_list(dynamo[0]["Action"])) == sorted(TABLE_ACTIONS)
    for forbidden in ("dynamodb:Scan", "dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:*", "dynamodb:BatchWriteItem"):
        assert forbidden not in as_list(dynamo[0]["Action"])
    tables = sorted(key for key in state_tables(synth) if "Health" not in key)
    assert sorted(as_list(dynamo[0]["Resource"])) == sorted(f"${{{t}.Arn}}" for t in tables)

    key_id, _ = synth.one("AWS::KMS::Key")
    # (CustomModelsKey: Bedrock decrypts the custom models the customization workflow made: test_model_customization.py)
    kms = [
        st for st in statements if any(a.startswith("kms:") for a in as_list(st["Action"])) and st.get("Sid") != "CustomModelsKey"
    ]
    assert len(kms) == 1
    assert sorted(as_list(kms[0]["Action"])) == sorted(KEY_ACTIONS)
    assert kms[0]["Resource"] == f"${{{key_id}.Arn}}"
    assert kms[0]["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.${AWS::URLSuffix}"}}
