"""One synth for all template assertions: a plain App (no cdk-nag plugin, see tests/infra/test_nag.py) with the
context of cdk.json, account-agnostic, in the context's region."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from infra.settings import cdk_json_context

# Before the first aws_cdk import starts the jsii runtime (Node 20 here).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass
class Synth:
    stack: Any
    template: Any  # aws_cdk.assertions.Template
    doc: dict[str, Any]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {key: res for key, res in self.doc["Resources"].items() if res["Type"] == type_}

    def one(self, type_: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(type_)
        assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
        return next(iter(found.items()))


@pytest.fixture(scope="session")
def synth() -> Synth:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.stack import create_stack

    app = App(context=cdk_json_context())
    stack = create_stack(app, account=None)
    template = Template.from_stack(stack)
    return Synth(stack=stack, template=template, doc=template.to_json())


@pytest.fixture(scope="session")
def gateway_config(synth: Synth) -> dict[str, Any]:
    return synth.stack.settings.config


def render(value: Any) -> Any:
    """Flatten CloudFormation intrinsics into readable strings: Fn::Join -> joined text, Ref X -> ${X},
    Fn::GetAtt [X, Y] -> ${X.Y}. Lists and dicts are rendered element-wise."""
    if isinstance(value, list):
        return [render(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(render(part)) for part in parts)
        if set(value) == {"Ref"}:
            return "${" + value["Ref"] + "}"
        if set(value) == {"Fn::GetAtt"}:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
        return {key: render(item) for key, item in value.items()}
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(synth: Synth, role_logical_id: str) -> list[dict[str, Any]]:
    """Every policy statement attached to a role (inline policies and AWS::IAM::Policy resources), rendered."""
    found: list[dict[str, Any]] = []
    for res in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in res["Properties"].get("Roles", []):
            found.extend(render(res["Properties"]["PolicyDocument"]["Statement"]))
    role = synth.doc["Resources"][role_logical_id]
    for policy in role["Properties"].get("Policies", []):
        found.extend(render(policy["PolicyDocument"]["Statement"]))
    return found


def api_function(synth: Synth, handler: str = "handlers.api.handler") -> tuple[str, dict[str, Any]]:
    """The function running ``handler`` (by default the sync API function)."""
    found = [
        (key, res) for key, res in synth.resources("AWS::Lambda::Function").items() if res["Properties"]["Handler"] == handler
    ]
    assert len(found) == 1, f"expected one function with handler {handler}, found {[key for key, _ in found]}"
    return found[0]
