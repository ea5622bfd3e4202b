"""The authorizer's rules (fmgateway.aws.access): which header wins, what is 401 and what 403, the key cache."""

from __future__ import annotations

import pytest

from fmgateway.aws.access import ApiKey, KeyDirectory, Unauthorized, authorize, presented_key

KEYS = [ApiKey("id-free", "k-free", True, "free"), ApiKey("id-off", "k-off", False, "free")]
ARN = "arn:aws:execute-api:us-east-1:123456789012:api1/dev/POST/v1/chat"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def directory(keys=KEYS, clock=None) -> KeyDirectory:
    calls = []

    def load(api_id, stage):
        calls.append((api_id, stage))
        return list(keys)

    found = KeyDirectory(load, ttl=60, miss_refresh=10, clock=clock or Clock())
    found.calls = calls  # type: ignore[attr-defined]
    return found


def event(headers: dict) -> dict:
    return {"type": "REQUEST", "methodArn": ARN, "headers": headers, "requestContext": {"apiId": "api1", "stage": "dev"}}


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": "k1"}, "k1"),
        ({"X-Api-Key": "k1", "Authorization": "Bearer k2"}, "k1"),  # x-api-key wins
        ({"x-api-key": "k1", "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/..., Signature=abc"}, "k1"),
        ({"authorization": "Bearer k2"}, "k2"),
        ({"Authorization": "bearer   k2  "}, "k2"),
        ({"x-api-key": "  ", "Authorization": "Bearer k2"}, "k2"),  # a blank x-api-key is no key
    ],
)
def test_presented_key(headers, key):
    assert presented_key(headers) == key


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no x-api-key"),
        (None, "no x-api-key"),
        ({"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261129/us-east-1/bedrock/aws4_request"}, "not Bearer"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "not Bearer"),
        ({"Authorization": "Bearer"}, "without a single token"),
        ({"Authorization": "Bearer a b"}, "without a single token"),
    ],
)
def test_no_usable_key_is_unauthorized(headers, reason):
    with pytest.raises(Unauthorized, match=reason):
        presented_key(headers)


def test_a_known_key_is_allowed_with_the_key_as_usage_identifier():
    answer = authorize(event({"Authorization": "Bearer k-free"}), directory())
    assert answer["principalId"] == "id-free"
    assert answer["usageIdentifierKey"] == "k-free"
    assert answer["context"] == {"apiKeyId": "id-free", "plan": "free"}
    [statement] = answer["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN}


@pytest.mark.parametrize("key", ["k-off", "k-unknown"])
def test_an_unknown_or_disabled_key_is_denied(key):
    answer = authorize(event({"x-api-key": key}), directory())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "usageIdentifierKey" not in answer and "context" not in answer


def test_keys_are_loaded_for_the_requests_api_and_stage_and_cached():
    clock = Clock()
    keys = directory(clock=clock)
    for _ in range(5):
        assert keys.find("k-free", "api1", "dev").id == "id-free"
    assert keys.calls == [("api1", "dev")]
    clock.now = 59
    keys.find("k-free", "api1", "dev")
    assert keys.loads == 1
    clock.now = 60  # the snapshot's time to live is over
    keys.find("k-free", "api1", "dev")
    assert keys.loads == 2
    keys.find("k-free", "api1", "prod")  # another stage has its own keys
    assert keys.calls[-1] == ("api1", "prod")


def test_an_unknown_key_reloads_at_most_once_per_miss_interval():
    clock = Clock()
    current = list(KEYS)
    keys = KeyDirectory(lambda api_id, stage: list(current), ttl=60, miss_refresh=10, clock=clock)
    assert keys.find("k-new", "api1", "dev") is None
    for _ in range(100):  # a flood of wrong keys: no reload within the interval
        assert keys.find("k-new", "api1", "dev") is None
    assert keys.loads == 1
    current.append(ApiKey("id-new", "k-new", True, "pro"))  # a key created after the snapshot
    clock.now = 10
    assert keys.find("k-new", "api1", "dev").plan == "pro"
    assert keys.loads == 2
