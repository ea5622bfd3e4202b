"""langchain-aws against the gateway's native routes: ChatBedrockConverse and BedrockEmbeddings.

langchain guesses a model's streaming and tool_choice support from its id: the provider from the id's first part, tool
choice from the base model's name. A gateway alias tells it too little (``claude-haiku-4-5``: streaming off; ``auto``:
streaming off and no ``tool_choice``). README's workaround, tested here: ``provider="anthropic"`` with an alias, plus
``base_model_id`` (the Bedrock model id) for ``auto``; or a Bedrock / profile id as the model; or
``disable_streaming=False`` and ``supports_tool_choice_values`` set by hand.
"""

from __future__ import annotations

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from langchain_aws import BedrockEmbeddings, ChatBedrockConverse
from langchain_core.messages import HumanMessage, ToolMessage
from pydantic import BaseModel, Field

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.fixture(scope="module")
def runtime(url, key):
    """README's way to send the key: an unsigned client with the x-api-key hook, given to langchain as ``client``."""
    client = boto3.client("bedrock-runtime", endpoint_url=url, region_name="us-east-1", config=Config(signature_version=UNSIGNED))
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: request.headers.__setitem__("x-api-key", key)
    )
    return client


def chat(runtime, **options) -> ChatBedrockConverse:
    return ChatBedrockConverse(client=runtime, region_name="us-east-1", **options)


def test_invoke(runtime, unique):
    assert chat(runtime, model="us." + HAIKU).invoke(f"Say hi {unique}").content


def test_an_alias_alone_loses_streaming_and_tool_choice(runtime):
    """What the workaround is for: langchain's guess from the id (the gateway still answers)."""
    assert chat(runtime, model="claude-haiku-4-5").disable_streaming is True
    auto = chat(runtime, model="auto")
    assert auto.disable_streaming is True and not auto.supports_tool_choice_values


def test_stream_with_an_alias_and_the_workaround(runtime, unique):
    model = chat(runtime, model="claude-haiku-4-5", provider="anthropic")
    assert model.disable_streaming is False
    chunks = list(model.stream(f"Count to five {unique}"))
    assert len(chunks) > 1 and "".join(chunk.text for chunk in chunks)  # content blocks (anthropic) or strings


def test_auto_with_the_workaround(runtime, unique):
    model = chat(runtime, model="auto", provider="anthropic", base_model_id=HAIKU)
    assert model.disable_streaming is False and "tool" in model.supports_tool_choice_values
    assert len(list(model.stream(f"Hello {unique}"))) > 1


def test_or_disable_streaming_false_by_hand(runtime, unique):
    assert len(list(chat(runtime, model="auto", disable_streaming=False).stream(f"Hello {unique}"))) > 1


class Weather(BaseModel):
    """The weather in a city."""

    city: str = Field(description="the city")


def test_bind_tools_round_trip(runtime, unique):
    model = chat(runtime, model="claude-haiku-4-5", provider="anthropic").bind_tools([Weather], tool_choice="Weather")
    question = HumanMessage(f"What is the weather in Paris? {unique}")
    first = model.invoke([question])
    call = first.tool_calls[0]
    assert call["name"] == "Weather" and "city" in call["args"]
    second = model.invoke([question, first, ToolMessage("18 degrees, sunny", tool_call_id=call["id"])])
    assert second.content or second.tool_calls


class City(BaseModel):
    name: str
    population: int


def test_with_structured_output(runtime, unique):
    structured = chat(runtime, model="claude-haiku-4-5", provider="anthropic").with_structured_output(City)
    assert isinstance(structured.invoke(f"The largest city in France {unique}"), City)


def test_embeddings(runtime):
    embeddings = BedrockEmbeddings(client=runtime, model_id="amazon.titan-embed-text-v2:0", region_name="us-east-1")
    vectors = embeddings.embed_documents(["one", "two"])
    assert len(vectors) == 2 and len(vectors[0]) == len(embeddings.embed_query("three"))


def test_a_bedrock_api_key_over_https(tls_url, key, ca_file, unique):
    """langchain's own ``bedrock_api_key``, sent as a bearer token (HTTPS only): no hook, no AWS credentials."""
    import os

    os.environ["AWS_CA_BUNDLE"] = ca_file
    try:
        model = ChatBedrockConverse(model="us." + HAIKU, endpoint_url=tls_url, region_name="us-east-1", bedrock_api_key=key)
        assert model.invoke(f"Say hi {unique}").content
    finally:
        del os.environ["AWS_CA_BUNDLE"]
