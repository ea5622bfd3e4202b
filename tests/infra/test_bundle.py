"""The Lambda bundle (``infra/bundle.py``) holds the Lambda code and nothing of the command line, and works on its own:
schemas, the router artifact and the OpenAPI document all load from the staged directory.

Staged into tmp_path, not build/: concurrent synths share build/lambda under ``build_lock``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from infra import openapi
from infra.bundle import stage_lambda_bundle
from infra.settings import validate_config
from tests.conftest import CONFIG_FILE

IMPORTS_FMGW = re.compile(r"^\s*(?:from\s+fmgw(?:\.|\s)|import\s+fmgw\b)", re.MULTILINE)
CLI_MODULES = {"cli.py", "score_cli.py", "__main__.py"}

# Runs in the staged bundle, as Lambda does (/var/task on the path, nothing else of this checkout): prints what loaded.
PROBE = textwrap.dedent(
    """
    import json, sys, uuid
    from fmgateway.config.schemas import load_schema, schema_dir
    from fmgateway.routing import difficulty
    import handlers.api

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "fmgw-api", 1024, "bundle-probe"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fmgw-api"

    event = {"resource": "/v1/openapi.json", "path": "/v1/openapi.json", "httpMethod": "GET", "headers": {},
             "body": None, "isBase64Encoded": False, "requestContext": {"requestId": str(uuid.uuid4()), "stage": "test"}}
    response = handlers.api.handler(event, Context())
    model = difficulty.bundled_model()
    print(json.dumps({
        "schemaDir": str(schema_dir()),
        "schemaHasProperties": "properties" in load_schema("gateway-config"),
        "artifact": str(difficulty.BUNDLED_ARTIFACT),
        "artifactThresholds": model.thresholds,
        "scores": 0.0 <= model.score("Prove that there are infinitely many primes.") <= 1.0,
        "openapiStatus": response["statusCode"],
        "openapi": response["body"],
        "modules": {name: getattr(module, "__file__", None) for name, module in sys.modules.items()
                    if name.split(".")[0] in ("fmgateway", "handlers", "fmgw", "typer", "infra", "local")},
    }))
    """
)


@pytest.fixture(scope="module")
def openapi_text() -> str:
    config = validate_config(json.loads(CONFIG_FILE.read_text()), source=str(CONFIG_FILE))
    return json.dumps(openapi.document(config, title="FM Gateway (bundle test)"))  # as infra/stack.py generates it


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, openapi_text):
    return stage_lambda_bundle(tmp_path_factory.mktemp("bundle") / "lambda", generated={"openapi.json": openapi_text})


def test_the_bundle_has_no_command_line_code(bundle):
    assert sorted(path.name for path in bundle.iterdir()) == ["fmgateway", "handlers", "openapi.json", "schemas"]
    assert not list(bundle.rglob("fmgw")), "the fmgw package must never ship in a Lambda"
    python = list(bundle.rglob("*.py"))
    assert python
    assert not [str(p.relative_to(bundle)) for p in python if p.name in CLI_MODULES]
    assert not [str(p.relative_to(bundle)) for p in python if IMPORTS_FMGW.search(p.read_text())]


def test_the_bundle_alone_loads_schemas_router_artifact_and_openapi(bundle, openapi_text):
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "FMGW_SCHEMA_DIR", "FMGW_OPENAPI_FILE", "FMGW_CONFIG_FILE")
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=bundle,
        env={**env, "PYTHONPATH": str(bundle)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.splitlines()[-1])
    assert probe["schemaDir"] == str(bundle / "schemas") and probe["schemaHasProperties"]
    assert probe["artifact"] == str(bundle / "fmgateway" / "routing" / "difficulty_model.json")
    assert set(probe["artifactThresholds"]) == {"medium", "complex"} and probe["scores"]
    assert probe["openapiStatus"] == 200 and json.loads(probe["openapi"]) == json.loads(openapi_text)
    modules = probe["modules"]
    assert "handlers.api" in modules and "fmgateway.routing.difficulty" in modules
    outside = {name: path for name, path in modules.items() if path is not None and not path.startswith(f"{bundle}{os.sep}")}
    assert not outside, "the bundle's code must come from the bundle (not the checkout, not an installed fmgw)"
