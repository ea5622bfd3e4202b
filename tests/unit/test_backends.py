"""Backends in the catalog (issue 23): the ``backend`` object read and checked (its own fields, and the deployment's
allowed ARNs and endpoint prefix), the candidate travelling whole, the dispatch on the backend kind, cost per call and
amortised, and the SageMaker container formats with stream parts cut anywhere."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmgateway.aws.stores import MemoryBreakerStore
from fmgateway.config.gateway_config import parse_config
from fmgateway.core.gateway import Gateway
from fmgateway.health.breaker import CircuitBreaker
from fmgateway.native import containers
from fmgateway.native.bodies import Untranslatable
from fmgateway.routing.planner import Plan
from fmgateway.values.backends import Allowed, Backend
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import ConfigError
from fmgateway.values.exchange import ChatRequest
from tests.fakes import FakeInvoker, StaticSource, answer

PT_ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456"
HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]


def with_backend(config_doc: dict, alias: str, backend: dict) -> dict:
    config_doc["models"][alias]["backend"] = backend
    return config_doc


def test_an_entry_without_backend_is_bedrock_on_demand_and_unchanged(config_doc):
    model = parse_config(config_doc).catalog.models["nova-lite"]
    assert model.backend == Backend() and model.invoke_id == "us.amazon.nova-lite-v1:0"


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ({"type": "bedrock-provisioned", "arn": PT_ARN}, "hourlyUsd (or unitHourlyUsd and units)"),
        ({"type": "bedrock-provisioned", "arn": PT_ARN.replace("provisioned-model", "imported-model"), "hourlyUsd": 1},
         "a provisioned-model ARN"),
        ({"type": "sagemaker", "endpoint": "fmgw-x", "hourlyUsd": 1}, "container: one of tgi-messages, lmi-chat"),
        ({"type": "sagemaker", "endpoint": "-bad", "container": "lmi-chat", "hourlyUsd": 1}, "must match pattern"),
        ({"type": "bedrock-provisioned", "arn": "arn:aws:bedrock:us-east-1:1:provisioned-model/x", "hourlyUsd": 1},
         "must match pattern"),
        ({"type": "bogus"}, "must be one of"),
    ],
)  # fmt: skip
def test_a_bad_backend_is_refused_naming_the_field(config_doc, backend, says):
    with pytest.raises(ConfigError, match="config.models.nova-lite.backend") as raised:
        parse_config(with_backend(config_doc, "nova-lite", backend))
    assert says in str(raised.value)


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ({"type": "bedrock-provisioned", "arn": PT_ARN.replace("us-east-1", "eu-west-1"), "hourlyUsd": 20},
         "region eu-west-1, but this deployment may invoke only us-east-1"),
        ({"type": "bedrock-imported", "arn": PT_ARN.replace("provisioned-model", "imported-model").replace("1234", "9999"),
          "hourlyUsd": 5}, "account 999956789012"),
        ({"type": "sagemaker", "endpoint": "team-x", "container": "tgi-messages", "hourlyUsd": 1.2},
         "team-x does not start with 'fmgw-'"),
    ],
)  # fmt: skip
def test_an_arn_or_endpoint_outside_the_deployments_patterns_is_refused_at_load(config_doc, backend, says):
    allowed = Allowed("us-east-1", "123456789012", "fmgw-")
    with pytest.raises(ConfigError, match=says):
        parse_config(with_backend(config_doc, "nova-lite", backend), allowed)


def test_units_times_the_unit_price_is_the_hourly_price_and_calls_cost_nothing_more(config_doc):
    backend = {"type": "bedrock-provisioned", "arn": PT_ARN, "unitHourlyUsd": 39.6, "units": 2}
    model = parse_config(with_backend(config_doc, "nova-lite", backend), Allowed("us-east-1", "123456789012")).catalog.models[
        "nova-lite"
    ]
    assert model.invoke_id == PT_ARN and model.backend.hourly_usd == 79.2
    assert model.cost_usd(1000, 1000) == 0.0
    assert model.amortised_cost_usd(requests=120, seconds=60) == round(79.2 / 60 / 120, 8)
    assert model.amortised_cost_usd(requests=0, seconds=60) is None


def test_a_candidate_travels_whole_even_when_its_model_is_not_in_the_catalog(config_doc):
    base = parse_config(config_doc).catalog.models["nova-lite"]
    custom = base._replace(alias="support-bot-v4", backend=Backend("sagemaker", endpoint="fmgw-bot", container="lmi-chat",
                                                                      inference_component="lora-v4", hourly_usd=1.5))  # fmt: skip
    candidate = Candidate(custom, version="v4")
    travelled = Candidate.from_json(json.loads(json.dumps(candidate.describe())))
    assert travelled == candidate and travelled.invoke_id == "sagemaker/fmgw-bot/lora-v4"
    plan = Plan("alias", "simple", [candidate], [])
    assert Plan.from_json(parse_config(config_doc), json.loads(json.dumps(plan.to_json()))).candidates == [candidate]


class FakeEndpoints:
    """An EndpointInvoker: records what it was bound to and answers through a FakeInvoker."""

    def __init__(self):
        self.bound: list[Backend] = []
        self.settings: dict = {}
        self.invoker = FakeInvoker()

    def bind(self, backend):
        self.bound.append(backend)
        return self.invoker

    def configure(self, settings):
        self.settings = settings


def test_the_step_dispatches_on_the_backend_and_the_gateway_block_names_it(config_doc, clock):
    backend = {"type": "sagemaker", "endpoint": "fmgw-bot", "container": "tgi-messages", "hourlyUsd": 1.2}
    config = parse_config(with_backend(config_doc, "nova-lite", backend))
    bedrock, endpoints = FakeInvoker(), FakeEndpoints()
    endpoints.invoker.responses["sagemaker/"] = answer("from the endpoint")
    gw = Gateway(
        StaticSource(config), bedrock, CircuitBreaker(MemoryBreakerStore(), clock=clock), endpoints={"sagemaker": endpoints}
    )
    result = gw.chat(ChatRequest(messages=HELLO, model="nova-lite"))
    assert result.message["content"][0]["text"] == "from the endpoint" and result.cost_usd == 0.0
    assert endpoints.bound[0].endpoint == "fmgw-bot" and bedrock.calls == [] and endpoints.settings["timeouts"]
    endpoints.invoker.fail["sagemaker/"] = ("unavailable", "ModelError")
    fell_back = gw.chat(
        ChatRequest(messages=HELLO + [{"role": "assistant", "content": [{"text": "x"}]}, *HELLO], model="nova-lite")
    )
    assert fell_back.model.alias != "nova-lite" and fell_back.attempts[0].code == "ModelError"


def test_a_backend_without_an_invoker_is_an_access_failure_of_that_candidate(config_doc, clock):
    backend = {"type": "sagemaker", "endpoint": "fmgw-bot", "container": "tgi-messages", "hourlyUsd": 1.2}
    gw = Gateway(StaticSource(parse_config(with_backend(config_doc, "nova-lite", backend))), FakeInvoker(),
                 CircuitBreaker(MemoryBreakerStore(), clock=clock))  # fmt: skip
    with pytest.raises(Exception, match="no invoker for sagemaker backends"):
        gw.chat(ChatRequest(messages=HELLO, model="nova-lite", pinned=True))


# ---- container formats ---------------------------------------------------------------------------------------------


def test_a_converse_request_becomes_a_chat_body_and_back():
    body = containers.to_chat(
        {"system": [{"text": "Be brief."}], "messages": HELLO, "inferenceConfig": {"maxTokens": 50, "topP": 0.9}}, stream=True
    )
    assert body == {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
                    "max_tokens": 50, "top_p": 0.9, "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    reply = {"choices": [{"message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}],
             "usage": {"prompt_tokens": 3, "completion_tokens": 1}}  # fmt: skip
    assert containers.from_chat(reply)["stopReason"] == "max_tokens"
    assert containers.from_chat(reply)["usage"] == {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}


@pytest.mark.parametrize(
    "request_body",
    [
        {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "AA=="}}}]}]},
        {"messages": HELLO, "toolConfig": {"tools": []}},
    ],
)
def test_what_a_chat_container_cannot_take_is_refused_by_name(request_body):
    with pytest.raises(Untranslatable, match="SageMaker chat container"):
        containers.to_chat(request_body)


def chunks(texts: list[str]) -> list[dict]:
    parts = [{"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]} for text in texts]
    return [
        *parts,
        {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2, "completion_tokens": len(texts)},
        },
    ]


def framed(container: str, items: list[dict]) -> bytes:
    if container == "tgi-messages":
        return b"".join(b"data: " + json.dumps(item).encode() + b"\n\n" for item in items) + b"data: [DONE]\n\n"
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


@given(
    st.sampled_from(["tgi-messages", "lmi-chat"]),
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6),
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=50),
)
def test_parts_cut_anywhere_reassemble_into_the_same_stream(container, texts, cuts):
    data = framed(container, chunks(texts))
    reader, found, position, index = containers.Reassembler(containers.FRAMING[container]), [], 0, 0
    while position < len(data):
        size = cuts[index % len(cuts)]
        found += list(reader.feed(data[position : position + size]))
        position, index = position + size, index + 1
    found += list(reader.close())
    events = list(containers.stream_events(found))
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "".join(texts) and events[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == len(texts)
