"""statemachines/*.asl.json validated by asl-validator (pinned in package.json; ``make test`` installs it) in the
form that deploys: placeholders filled as CloudFormation fills them."""

from __future__ import annotations

import json
import subprocess

import pytest

from local import customization
from local.orchestration import definition
from tests.conftest import ROOT

VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"
TABLE = "FmGateway-dev-StateBreakerTable-1A2B3C4D5E6F"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:FmGateway-dev-FunctionsRoutingTasks-AbCdEf123456"


def validate(text: str, tmp_path) -> subprocess.CompletedProcess:
    if not VALIDATOR.exists():
        pytest.fail("asl-validator is not installed: run `make test` (it runs `npm ci`) or `npm ci`")
    path = tmp_path / "definition.asl.json"
    path.write_text(text)
    return subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60)


def test_routing_definition_is_valid_asl(tmp_path):
    result = validate(definition(TABLE, FUNCTION), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_customization_definition_is_valid_asl(tmp_path):
    tasks = "arn:aws:lambda:us-east-1:123456789012:function:FmGateway-dev-CustomizationTasks-AbCdEf123456"
    topic = "arn:aws:sns:us-east-1:123456789012:FmGateway-dev-CustomizationTopic-AbCdEf123456"
    result = validate(customization.definition(tasks, topic), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_broken_definition(tmp_path):
    doc = json.loads(definition(TABLE, FUNCTION))
    doc["States"]["Start"]["Next"] = "NoSuchState"
    result = validate(json.dumps(doc), tmp_path)
    assert result.returncode != 0
