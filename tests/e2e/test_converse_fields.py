"""Issue 10 end to end: Converse request fields over real HTTP (httpx) against local mode and its Bedrock simulator.

The gateway runs with one change to config/gateway.json: llama3-3-70b is listed without tool use, and the medium
tier is nova-pro then llama3-3-70b, the complex tier llama3-3-70b alone, so that "the only tool-capable candidate is
down" and "no candidate can call tools" are one request each.
"""

from __future__ import annotations

import json

import fastjsonschema
import httpx
import pytest

from tests.conftest import CONFIG_FILE
from tests.e2e.conftest import start_gateway, stop_gateway, wait_until
from tests.e2e.test_streaming import sse_events

WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city", "unit"],
            }
        },
    }
}
TOOLS = {"tools": [WEATHER], "toolChoice": {"any": {}}}
ASK = {"role": "user", "content": [{"text": "What is the weather in Paris?"}]}
NOVA_PRO = "us.amazon.nova-pro-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"
GATEWAY_KEYS = {"fmgw-tenant", "fmgw-route", "fmgw-tier", "fmgw-model", "fmgw-request-id"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    config = json.loads(CONFIG_FILE.read_text())
    config["models"]["llama3-3-70b"]["capabilities"] = ["guardrails"]
    config["tiers"]["medium"] = ["nova-pro", "llama3-3-70b"]
    config["tiers"]["complex"] = ["llama3-3-70b"]
    path = tmp_path_factory.mktemp("config") / "gateway.json"
    path.write_text(json.dumps(config))
    gateway = start_gateway(path)
    gateway.config = config
    yield gateway
    stop_gateway(gateway)


@pytest.fixture
def client(gw):
    gw.reset_faults()  # also clears the simulator's request log
    with gw.client() as http:
        yield http


def received(gw) -> list[dict]:
    return httpx.get(f"{gw.simulator}/_sim/requests", timeout=5).json()["requests"]


def test_tool_choice_any_gets_a_tool_use_block_then_the_tool_result_a_final_answer(gw, client):
    first = client.post("/v1/chat", json={"tier": "simple", "messages": [ASK], "toolConfig": TOOLS})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["stopReason"] == "tool_use"
    (block,) = body["output"]["message"]["content"]
    tool_use = block["toolUse"]
    assert tool_use["name"] == "get_weather" and tool_use["toolUseId"].startswith("tooluse_")
    assert tool_use["input"] == {"city": "sample", "unit": "celsius"}  # generated from the tool's input schema
    result = {"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"json": {"temperature": 21}}]}}
    turn = [ASK, body["output"]["message"], {"role": "user", "content": [result]}]
    second = client.post("/v1/chat", json={"tier": "simple", "messages": turn, "toolConfig": TOOLS})
    assert second.status_code == 200, second.text
    final = second.json()
    assert final["stopReason"] == "end_turn"
    assert final["output"]["message"]["content"][0]["text"] == 'Tool result received: {"temperature": 21}'


def test_every_forwarded_field_reaches_the_model_through_boto3(gw, client):
    """botocore's own parameter validation and the simulator accept every field the gateway forwards."""
    from tests.unit.test_converse_fields import FULL

    response = client.post("/v1/chat", json=FULL)
    assert response.status_code == 200, response.text
    assert response.json()["output"]["message"]["content"][0]["text"].startswith("Tool result received:")
    (call,) = received(gw)
    forwarded = {"system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields"}
    forwarded |= {"additionalModelResponseFieldPaths", "requestMetadata", "promptVariables", "performanceConfig"}
    assert call["fields"] == sorted(forwarded | {"serviceTier", "outputConfig"})


def test_request_metadata_reaches_the_model_merged_with_the_five_gateway_keys(gw, client):
    tags = {"team": "search", "use-case": "faq bot: v2"}
    response = client.post("/v1/chat", json={"tier": "simple", "messages": [ASK], "requestMetadata": tags})
    assert response.status_code == 200, response.text
    (call,) = received(gw)
    sent = call["requestMetadata"]
    assert set(sent) == set(tags) | GATEWAY_KEYS
    assert {key: sent[key] for key in tags} == tags
    assert sent["fmgw-route"] == "tier:simple" and sent["fmgw-tier"] == "simple"
    assert sent["fmgw-model"] == response.json()["gateway"]["model"] == "claude-haiku-4-5"
    assert sent["fmgw-request-id"] == response.headers["x-amzn-RequestId"]
    assert sent["fmgw-tenant"] not in ("", "unknown")
    with gw.client(gw.keys[0]) as other:  # another key, another tenant
        assert other.post("/v1/chat", json={"tier": "simple", "messages": [ASK]}).status_code == 200
    assert received(gw)[-1]["requestMetadata"]["fmgw-tenant"] != sent["fmgw-tenant"]


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"fmgw-model": "mine"}, ["body.requestMetadata['fmgw-model']: keys starting with 'fmgw-' are reserved"]),
        ({"team": "a;b"}, ["body.requestMetadata", "team", "pattern"]),  # API Gateway's model refuses it first
        ({f"k{i}": "v" for i in range(12)}, ["body.requestMetadata", "11"]),
    ],
)
def test_bad_request_metadata_is_a_400_naming_it(gw, client, metadata, named):
    response = client.post("/v1/chat", json={"tier": "simple", "messages": [ASK], "requestMetadata": metadata})
    assert response.status_code == 400
    assert all(part in response.json()["error"]["message"] for part in named), response.text
    assert received(gw) == []


def test_a_guardrail_intervention_comes_back_with_its_trace(gw, client):
    guardrail = {"guardrailIdentifier": "gr1abc", "guardrailVersion": "1", "trace": "enabled"}
    blocked = {"role": "user", "content": [{"text": "Please BLOCKME now"}]}
    response = client.post("/v1/chat", json={"tier": "simple", "messages": [blocked], "guardrailConfig": guardrail})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stopReason"] == "guardrail_intervened"
    assert body["output"]["message"]["content"] == [{"text": "Sorry, the model cannot answer this question."}]
    words = body["trace"]["guardrail"]["inputAssessment"]["gr1abc"]["wordPolicy"]["customWords"]
    assert words[0]["match"] == "BLOCKME" and words[0]["action"] == "BLOCKED"


def test_cache_point_usage_is_reported_and_costed(gw, client):
    system = [{"text": "You answer questions about this long handbook. " * 60}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
    bodies = [
        {"tier": "simple", "system": system, "messages": [{"role": "user", "content": [{"text": question}]}]}
        for question in ("What is chapter one about?", "And chapter two?")
    ]
    first, second = (client.post("/v1/chat", json=body) for body in bodies)
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    write, read = first.json()["usage"], second.json()["usage"]
    assert write["cacheWriteInputTokens"] > 0 and "cacheReadInputTokens" not in write
    assert read["cacheReadInputTokens"] == write["cacheWriteInputTokens"] and "cacheWriteInputTokens" not in read
    assert write["cacheDetails"] == [{"ttl": "1h", "inputTokens": write["cacheWriteInputTokens"]}]  # the TTL asked for
    prices = gw.config["models"]["claude-haiku-4-5"]["pricePer1k"]
    for usage, response in ((write, first), (read, second)):
        expected = (
            usage["inputTokens"] * prices["input"]
            + usage["outputTokens"] * prices["output"]
            + usage.get("cacheReadInputTokens", 0) * prices["cacheRead"]
            + usage.get("cacheWriteInputTokens", 0) * prices["cacheWrite1h"]  # one-hour writes
        ) / 1000
        assert response.json()["gateway"]["costUsd"] == pytest.approx(expected, abs=1e-9)
        assert response.json()["gateway"]["usage"] == usage


def test_native_structured_output_matches_the_schema(gw, client):
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}, "tags": {"type": "array"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    output = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "book"}}}}
    response = client.post("/v1/chat", json={"tier": "simple", "messages": [ASK], "outputConfig": output})
    assert response.status_code == 200, response.text
    assert response.json()["gateway"]["model"] == "claude-haiku-4-5"  # the simple tier's only structured-output model
    document = json.loads(response.json()["output"]["message"]["content"][0]["text"])
    fastjsonschema.compile(schema)(document)
    assert set(document) == {"title", "year", "tags"}


def test_a_tool_request_never_falls_back_to_a_model_without_tools(gw, client):
    gw.fault("*nova-pro*", down=True)
    tool = client.post("/v1/chat", json={"tier": "medium", "messages": [ASK], "toolConfig": TOOLS})
    assert tool.status_code == 503 and "Retry-After" in tool.headers
    assert {call["modelId"] for call in received(gw)} == {NOVA_PRO}  # llama3-3-70b was never asked
    plain = client.post("/v1/chat", json={"tier": "medium", "messages": [ASK]})  # remembered as the last good answer
    assert plain.status_code == 200 and plain.json()["gateway"]["model"] == "llama3-3-70b"

    gw.fault("*llama3-3-70b*", down=True)  # now every medium model is down
    degraded = client.post("/v1/chat", json={"tier": "medium", "messages": [ASK]})
    assert degraded.status_code == 200 and degraded.json()["gateway"]["degraded"] is True
    tool = client.post("/v1/chat", json={"tier": "medium", "messages": [ASK], "toolConfig": TOOLS})
    assert tool.status_code == 503  # never the prose cached for the request without tools
    assert all(not call["toolConfig"] for call in received(gw) if call["modelId"] == LLAMA)


def test_a_tool_request_no_candidate_can_serve_is_a_400_naming_the_capability(gw, client):
    response = client.post("/v1/chat", json={"tier": "complex", "messages": [ASK], "toolConfig": TOOLS})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "llama3-3-70b: capability: does not support toolUse, toolChoice" in message
    assert received(gw) == []


def test_orchestrated_route_passes_the_tool_config_and_metadata_through(gw, client):
    body = {"tier": "simple", "messages": [ASK], "toolConfig": TOOLS, "requestMetadata": {"team": "search"}}
    response = client.post("/v1/chat/orchestrated", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["stopReason"] == "tool_use" and "toolUse" in answer["output"]["message"]["content"][0]
    assert answer["gateway"]["executionArn"]
    call = received(gw)[-1]
    assert call["toolConfig"] is True
    assert set(call["requestMetadata"]) == {"team"} | GATEWAY_KEYS
    assert call["requestMetadata"]["fmgw-request-id"] == response.headers["x-amzn-RequestId"]


def test_stream_route_streams_the_tool_use(gw, client):
    body = {"tier": "simple", "messages": [ASK], "toolConfig": TOOLS, "requestMetadata": {"team": "search"}}
    with client.stream("POST", "/v1/chat/stream", json=body) as response:
        assert response.status_code == 200
        events = sse_events(response)
    names = [name for name, _ in events]
    assert names == [
        "messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop",
        "messageStop", "metadata", "gateway",
    ]  # fmt: skip
    start = events[1][1]["start"]["toolUse"]
    arguments = "".join(data["delta"]["toolUse"]["input"] for name, data in events if name == "contentBlockDelta")
    assert start["name"] == "get_weather" and json.loads(arguments) == {"city": "sample", "unit": "celsius"}
    assert events[5][1]["stopReason"] == "tool_use"
    assert received(gw)[-1]["operation"] == "converse-stream"
    assert received(gw)[-1]["requestMetadata"]["fmgw-model"] == events[-1][1]["model"]


def test_jobs_carry_the_fields_and_the_job_id_as_request_id(gw, client):
    body = {"tier": "simple", "messages": [ASK], "toolConfig": TOOLS, "requestMetadata": {"team": "batch"}, "metadata": {"n": 1}}
    submitted = client.post("/v1/jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["jobId"]
    assert wait_until(lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "SUCCEEDED", timeout=60)
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["metadata"] == {"n": 1}  # the job's own bookkeeping stays the job's
    assert job["result"]["stopReason"] == "tool_use"
    sent = received(gw)[-1]["requestMetadata"]
    assert sent["team"] == "batch" and sent["fmgw-request-id"] == job_id and set(sent) == {"team"} | GATEWAY_KEYS
    refused = client.post("/v1/jobs", json={**body, "requestMetadata": {"fmgw-tenant": "x"}})
    assert refused.status_code == 400 and "fmgw-tenant" in refused.json()["error"]["message"]
