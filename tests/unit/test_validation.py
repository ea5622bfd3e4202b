"""Strict JSON parsing (fmgateway.aws.http) and Converse request validation (fmgateway.converse.validation)."""

import base64
import json
import re

import pytest

from fmgateway.aws import http
from fmgateway.aws.jobs_store import DynamoJobStore
from fmgateway.converse import validation
from fmgateway.core.cache import request_key
from fmgateway.values.errors import InvalidRequest, PayloadTooLarge

USER = {"role": "user", "content": [{"text": "hi"}]}
ASSISTANT = {"role": "assistant", "content": [{"text": "hello"}]}


def event(body: str, **extra) -> dict:
    return {"body": body, **extra}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": Infinity}', "Infinity is not JSON"),
        ('{"a": -Infinity}', "-Infinity is not JSON"),
        ('{"a": 1e400}', "out of range"),
        ('{"a": ' + "9" * 4301 + "}", "out of range"),
        ('{"a": 9223372036854775808}', "out of range"),
        ('{"a": "\\ud800"}', "body.a: contains a lone UTF-16 surrogate"),
        ('{"\\udfff": 1}', "lone UTF-16 surrogate"),
        ('{"m": [{"x": "ok \\udc00"}]}', "body.m[0].x: contains a lone"),
        ("[" * 50_000, "nested deeper than 32 levels"),
        ('{"a": ' + "[" * 40 + "]" * 40 + "}", "body.a" + "[0]" * 31 + ": JSON nested deeper than 32 levels"),
        ('{"a": 1', "invalid JSON"),
        ("[]", "must be a JSON object"),
        ("  ", "a JSON object is required"),
    ],
)
def test_json_body_refuses_what_rfc_8259_or_unicode_does_not_allow(raw, says):
    with pytest.raises(InvalidRequest) as err:
        http.json_body(event(raw), 10_000_000)
    assert says in err.value.message


def test_json_body_accepts_the_limits_themselves():
    nested = '{"a": ' + "[" * 31 + "]" * 31 + "}"  # the body is level 1: 32 levels in all
    assert http.json_body(event(nested), 10_000)["a"]
    assert http.json_body(event('{"a": 9223372036854775807, "b": -1.5e300, "c": "\\ud83d\\ude00"}'), 10_000) == {
        "a": 2**63 - 1,
        "b": -1.5e300,
        "c": "\U0001f600",
    }


def test_json_body_base64_and_utf8():
    encoded = base64.b64encode('{"a": "é"}'.encode()).decode()
    assert http.json_body(event(encoded, isBase64Encoded=True), 100) == {"a": "é"}
    for bad in ("é不", "!!!!", base64.b64encode(b'{"a": "\xff"}').decode()):
        with pytest.raises(InvalidRequest, match="base64-encoded UTF-8"):
            http.json_body(event(bad, isBase64Encoded=True), 100)
    with pytest.raises(PayloadTooLarge):
        http.json_body(event('{"a": "' + "é" * 60 + '"}'), 100)
    with pytest.raises(InvalidRequest, match="not valid UTF-8"):
        http.parse_json(b'{"a": "\xc3\x28"}')


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("aGk=", True),
        ("aGVsbG8=", True),
        ("AAAA", True),
        ("aGk", False),  # unpadded
        ("aGl=", False),  # non-zero unused bits: not canonical
        ("aG k=", False),
        ("aGk=aGk=", False),  # padding in the middle
        ("aGk-", False),  # URL-safe alphabet
        ("aGké", False),  # non-ASCII: was a 500
        ("", False),
        ("====", False),
    ],
)
def test_strict_base64(text, ok):
    assert validation.is_strict_base64(text) is ok


def chat(*messages, **extra) -> dict:
    return {"messages": list(messages), **extra}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (chat(ASSISTANT, USER), "body.messages[0].role: the first message must be from 'user'"),
        (chat(USER, USER), "body.messages[1].role: roles must alternate"),
        (chat(USER, ASSISTANT, ASSISTANT), "body.messages[2].role: roles must alternate"),
        (chat({"role": "user", "content": [{"text": "  \n"}]}), "body.messages[0].content[0].text: must not be blank"),
        (chat(USER, system=[{"text": " "}]), "body.system[0].text: must not be blank"),
        (chat(), "body.messages"),
        (chat({"role": "user", "content": []}), "body.messages[0].content"),
        (
            chat({"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "aGl="}}}]}),
            "body.messages[0].content[0].image.source.bytes: must be standard base64",
        ),
        (
            chat({"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "aGké"}}}]}),
            "body.messages[0].content[0].image.source.bytes",
        ),
        (chat(USER, inferenceConfig={"temperature": 1.5}), "body.inferenceConfig.temperature must be smaller than or equal to 1"),
        (chat(USER, inferenceConfig={"maxTokens": 0}), "body.inferenceConfig.maxTokens"),
        (chat(USER, inferenceConfig={"topP": "1"}), "body.inferenceConfig.topP must be number"),
        (chat(USER, unknown=1), "must not contain {'unknown'}"),
        (chat({"role": "user", "content": [{"text": "a", "image": {}}]}), "body.messages[0].content[0]"),
    ],
)
def test_chat_body_refusals_name_the_field(body, says):
    with pytest.raises(InvalidRequest) as err:
        validation.chat_body(body)
    assert says in err.value.message


def test_tool_results_must_answer_the_tool_use_just_before():
    use = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]}
    result = {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "42"}]}}]}
    validation.conversation([USER, use, result])
    with pytest.raises(InvalidRequest, match=r"messages\[2\].content\[0\].toolResult"):
        validation.conversation([USER, ASSISTANT, result])
    with pytest.raises(InvalidRequest, match=r"messages\[0\].content\[0\].toolResult"):
        validation.conversation([result])


def test_a_valid_conversation_passes_and_max_tokens_must_be_an_integer():
    body = chat(USER, ASSISTANT, USER, inferenceConfig={"maxTokens": 10})
    assert validation.chat_body(body) is body
    with pytest.raises(InvalidRequest, match="body.inferenceConfig.maxTokens must be integer"):
        validation.chat_body(chat(USER, inferenceConfig={"maxTokens": 10.0}))  # boto3 would refuse a float


def test_odd_text_never_breaks_the_cache_key_or_the_job_record():
    assert len(request_key("tier:simple", [{"role": "user", "content": [{"text": "\ud800"}]}], None, None)) == 64
    store = DynamoJobStore(client=None, table="t")
    item = store._item("job#1", {"request": {"text": "\ud800 é"}, "metadata": {"k": "ü"}})
    item["request"]["S"].encode("utf-8")  # storable as UTF-8
    assert json.loads(item["request"]["S"]) == {"text": "\ud800 é"}
    assert item["metadata"]["S"] == '{"k":"ü"}'  # ordinary non-ASCII stays unescaped


def _s3_image(uri: str, **extra) -> dict:
    location = {"uri": uri, **extra}
    return {
        "messages": [
            {
                "role": "user",
                "content": [{"text": "what is this?"}, {"image": {"format": "png", "source": {"s3Location": location}}}],
            }
        ]
    }


def test_s3_location_from_an_allowed_bucket_passes():
    body = _s3_image("s3://team-inputs/scans/a.png", bucketOwner="123456789012")
    assert validation.chat_body(body, {"team-inputs"}) is body
    document = {"document": {"format": "pdf", "name": "report", "source": {"s3Location": {"uri": "s3://team-inputs/r.pdf"}}}}
    validation.chat_body({"messages": [{"role": "user", "content": [document]}]}, {"team-inputs"})


@pytest.mark.parametrize(
    ("buckets", "says"),
    [
        ({"team-inputs"}, "bucket 'other-bucket' is not allowed for inputs; allowed buckets: team-inputs"),
        (set(), "bucket 'other-bucket' is not allowed for inputs; allowed buckets: none is configured"),
    ],
)
def test_s3_location_from_another_bucket_is_400_naming_it(buckets, says):
    with pytest.raises(InvalidRequest, match=re.escape(says)) as raised:
        validation.chat_body(_s3_image("s3://other-bucket/a.png"), buckets)
    assert raised.value.message.startswith("body.messages[0].content[1].image.source.s3Location.uri")


@pytest.mark.parametrize(
    "source",
    [
        {"bytes": "aGk=", "s3Location": {"uri": "s3://team-inputs/a.png"}},  # both
        {},  # neither
        {"s3Location": {"uri": "https://team-inputs.s3.amazonaws.com/a.png"}},
        {"s3Location": {"uri": "s3://team-inputs/a.png", "bucketOwner": "me"}},
    ],
)
def test_binary_source_is_bytes_or_one_s3_location(source):
    body = {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": source}}]}]}
    with pytest.raises(InvalidRequest):
        validation.chat_body(body, {"team-inputs"})


def test_a_body_over_the_limit_says_to_send_large_inputs_by_s3():
    with pytest.raises(PayloadTooLarge, match="s3Location"):
        http.json_body({"body": '{"a": "' + "x" * 300 + '"}'}, 100)
