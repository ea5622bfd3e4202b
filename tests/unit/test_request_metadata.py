"""Issue 10: the requestMetadata convention (caller pairs + exactly the gateway's five keys), as properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmgateway.aws import http
from fmgateway.converse import request_metadata
from fmgateway.values.errors import InvalidRequest

BEDROCK = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,.-]*")
ALLOWED_CHARS = st.sampled_from("abcXYZ019 \t\n:_@$#=/+,.-")
KEYS = st.text(ALLOWED_CHARS, min_size=1, max_size=256).filter(lambda k: not k.lower().startswith("fmgw-"))
VALUES = st.text(ALLOWED_CHARS, max_size=256)
CALLER = st.dictionaries(KEYS, VALUES, max_size=request_metadata.MAX_CALLER_PAIRS)


@given(CALLER)
@settings(deadline=None)
def test_valid_caller_metadata_is_accepted_unchanged(metadata):
    assert request_metadata.check(metadata) == metadata


@given(CALLER, st.text(min_size=1, max_size=80), st.text(max_size=80), st.text(max_size=40), st.text(max_size=40))
@settings(deadline=None, max_examples=200)
def test_what_reaches_bedrock_is_the_caller_pairs_plus_exactly_the_five_keys(metadata, tenant, request_id, route, model):
    sent = request_metadata.for_call(request_metadata.with_identity(metadata, tenant, request_id), route, "medium", model)
    assert set(sent) == set(metadata) | set(request_metadata.GATEWAY_KEYS)
    assert {key: sent[key] for key in metadata} == metadata
    assert len(sent) <= request_metadata.BEDROCK_MAX_PAIRS
    for key, value in sent.items():  # whatever the tenant or request id holds, Bedrock accepts every pair
        assert 1 <= len(key) <= 256 and BEDROCK.fullmatch(key)
        assert len(value) <= 256 and BEDROCK.fullmatch(value)


@given(st.dictionaries(KEYS, VALUES, min_size=request_metadata.MAX_CALLER_PAIRS + 1, max_size=20))
@settings(deadline=None)
def test_more_than_eleven_pairs_is_a_400(metadata):
    with pytest.raises(InvalidRequest, match=r"body.requestMetadata: at most 11 pairs"):
        request_metadata.check(metadata)


@given(st.sampled_from(["fmgw-", "FMGW-", "Fmgw-"]), st.text(ALLOWED_CHARS, max_size=20), VALUES)
@settings(deadline=None)
def test_a_reserved_key_is_a_400_naming_it(prefix, rest, value):
    key = prefix + rest
    with pytest.raises(InvalidRequest, match="reserved for the gateway") as caught:
        request_metadata.check({"ok": "1", key: value})
    assert repr(key if len(key) <= 40 else key[:40] + "...") in caught.value.message


BAD = st.text(min_size=1, max_size=30).filter(lambda text: not BEDROCK.fullmatch(text))


@given(KEYS, BAD)
@settings(deadline=None)
def test_a_bad_value_character_is_a_400_naming_the_pair(key, bad):
    with pytest.raises(InvalidRequest, match="the value may only contain") as caught:
        request_metadata.check({key: "x" + bad})
    assert caught.value.message.startswith("body.requestMetadata[")


@given(BAD)
@settings(deadline=None)
def test_a_bad_key_character_is_a_400_naming_the_pair(bad):
    with pytest.raises(InvalidRequest, match="the key may only contain") as caught:
        request_metadata.check({"team" + bad: "v"})
    assert caught.value.message.startswith("body.requestMetadata[") and "team" in caught.value.message


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"": "v"}, "a key must be 1 to 256 characters"),
        ({"k" * 257: "v"}, "a key must be 1 to 256 characters"),
        ({"k": "v" * 257}, "a value must be 0 to 256 characters"),
        ({"k": None}, "must be a string"),
        (["k", "v"], "body.requestMetadata: must be an object"),
    ],
)
def test_lengths_and_types(metadata, message):
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        request_metadata.check(metadata)


def test_gateway_values_are_cleaned_and_a_missing_identity_is_unknown():
    sent = request_metadata.for_call({"team": "a"}, "tier:medium", None, "claude-sonnet-4-5")
    assert sent == {
        "team": "a",
        "fmgw-tenant": "unknown",
        "fmgw-route": "tier:medium",
        "fmgw-tier": "none",
        "fmgw-model": "claude-sonnet-4-5",
        "fmgw-request-id": "unknown",
    }
    assert request_metadata.with_identity(None, "key;id", "req|1") == {"fmgw-tenant": "key_id", "fmgw-request-id": "req_1"}


def test_tenant_is_the_api_key_id_from_the_authorizer_or_the_identity():
    assert http.tenant_of({"requestContext": {"authorizer": {"apiKeyId": "k1"}}}) == "k1"
    assert http.tenant_of({"requestContext": {"identity": {"apiKeyId": "k2"}}}) == "k2"
    assert http.tenant_of({}) == "unknown"
