"""The streaming function (issue 9): Web Adapter layer and environment, streamed integrations and their timeout, its
role's Bedrock streaming permission, and its bundle (wheels for python3.13 on arm64, importable from the bundle)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra.bundle import STREAMING_DIR, WHEEL_PYTHON_VERSION, build_lock, stage_streaming_bundle
from infra.constructs.streaming import stream_timeout
from tests.infra.conftest import api_function, as_list, render, statements_of

STREAMED_PATHS = ["/v1/chat/completions", "/v1/chat/stream", "/v1/classify/stream", "/v1/generate/stream", "/v1/analyze/stream"]


def streaming_function(synth):
    return api_function(synth, handler="run.sh")


def method_path(synth, method: dict) -> str:
    """The full path of a method's resource, from its chain of AWS::ApiGateway::Resource parents."""
    parts, resource_id = [], method["Properties"]["ResourceId"]
    while isinstance(resource_id, dict) and "Ref" in resource_id:
        resource = synth.doc["Resources"][resource_id["Ref"]]
        parts.append(resource["Properties"]["PathPart"])
        resource_id = resource["Properties"]["ParentId"]
    return "/" + "/".join(reversed(parts))


def methods_by_path(synth) -> dict[str, dict]:
    return {
        method_path(synth, method): method
        for method in synth.resources("AWS::ApiGateway::Method").values()
        if method["Properties"]["HttpMethod"] == "POST"
    }


def test_streaming_methods_stream_to_the_streaming_function_with_its_timeout(synth, gateway_config):
    function_id, function = streaming_function(synth)
    timeout = function["Properties"]["Timeout"]
    assert timeout == stream_timeout(gateway_config).to_seconds() == gateway_config["timeouts"]["streamBudgetSeconds"] + 30
    assert timeout <= 900
    methods = methods_by_path(synth)
    for path in STREAMED_PATHS:
        integration = methods[path]["Properties"]["Integration"]
        assert integration["ResponseTransferMode"] == "STREAM", path
        assert integration["TimeoutInMillis"] == timeout * 1000, path
        uri = render(integration["Uri"])
        assert function_id in uri and uri.endswith("/response-streaming-invocations"), path
        assert methods[path]["Properties"]["ApiKeyRequired"] is True


def test_other_routes_stay_buffered_on_the_sync_handler(synth):
    sync_id, _ = api_function(synth)
    for path in ("/v1/chat", "/v1/classify", "/v1/generate", "/v1/analyze"):
        integration = methods_by_path(synth)[path]["Properties"]["Integration"]
        assert integration.get("ResponseTransferMode", "BUFFERED") == "BUFFERED", path
        assert sync_id in render(integration["Uri"]), path


def test_web_adapter_layer_and_environment(synth):
    _, function = streaming_function(synth)
    properties = function["Properties"]
    assert properties["Architectures"] == ["arm64"] and properties["Runtime"] == "python3.13"
    layers = [render(layer) for layer in properties["Layers"]]
    assert any(":753240598075:layer:LambdaAdapterLayerArm64:" in str(layer) for layer in layers), layers
    assert len(layers) == 2  # Powertools, then the adapter
    environment = properties["Environment"]["Variables"]
    assert environment["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert environment["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert environment["AWS_LWA_READINESS_CHECK_PATH"] == "/v1/health"
    assert {"FMGW_BREAKER_TABLE", "FMGW_CACHE_TABLE"} <= set(environment)


def test_streaming_role_may_invoke_models_with_response_stream(synth):
    _, function = streaming_function(synth)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    sync_role = api_function(synth)[1]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert role_id != sync_role  # its own role
    statements = statements_of(synth, role_id)
    bedrock = [s for s in statements if "bedrock:InvokeModelWithResponseStream" in as_list(s["Action"])]
    assert bedrock, statements
    assert all("inference-profile/" in arn or "foundation-model/" in arn for arn in as_list(bedrock[0]["Resource"]))


# ---- the bundle ------------------------------------------------------------------------------------------------


def staged() -> Path:
    with build_lock():
        return stage_streaming_bundle()


def wheel_tags(dist_info: Path) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in (dist_info / "WHEEL").read_text().splitlines() if line.startswith("Tag:")]


def tag_fits_lambda(tag: str) -> bool:
    """A wheel tag python3.13 on arm64 Linux can load: pure Python, or built for CPython 3.13 / the stable ABI."""
    python, abi, platform = tag.split("-")
    version = WHEEL_PYTHON_VERSION.replace(".", "")
    python_ok = python in ("py3", f"py{version}", f"cp{version}") or (abi == "abi3" and python.startswith("cp3"))
    platform_ok = platform == "any" or (platform.startswith(("manylinux", "musllinux")) and platform.endswith("aarch64"))
    abi_ok = abi in ("none", "abi3", f"cp{version}")
    return python_ok and platform_ok and abi_ok


def test_tag_check_refuses_foreign_wheels():
    assert tag_fits_lambda("py3-none-any") and tag_fits_lambda("cp313-cp313-manylinux_2_17_aarch64")
    assert not tag_fits_lambda("cp313-cp313-manylinux_2_17_x86_64")
    assert not tag_fits_lambda("cp311-cp311-manylinux_2_17_aarch64")


def test_every_bundled_distribution_fits_python313_arm64_and_the_requirements_are_all_there():
    bundle = staged()
    dist_infos = sorted(bundle.glob("*.dist-info"))
    names = {path.name.split("-")[0].lower() for path in dist_infos}
    assert names == {"uvicorn", "h11", "click"}
    for dist_info in dist_infos:
        tags = wheel_tags(dist_info)
        assert tags and all(tag_fits_lambda(tag) for tag in tags), (dist_info.name, tags)
    assert (bundle / "run.sh").stat().st_mode & 0o111  # executable: the Web Adapter runs it
    assert "handlers.streaming_app:app" in (bundle / "run.sh").read_text()


def test_the_app_imports_from_the_bundle(tmp_path):
    """uvicorn and the app come from the bundle, not from this environment's site-packages (pure Python: it runs here)."""
    bundle = staged()
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1]];"
        "import uvicorn, h11, handlers.streaming_app as app;"
        "print(uvicorn.__file__); print(h11.__file__); print(app.__file__)"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(bundle)], capture_output=True, text=True, check=True, cwd=tmp_path)
    for line in result.stdout.split():
        assert line.startswith(str(STREAMING_DIR)), result.stdout
