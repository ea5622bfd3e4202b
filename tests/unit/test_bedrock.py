import base64
import time

import botocore.exceptions
import pytest

from fmgateway.aws.bedrock import BedrockInvoker, classify, with_binary_content
from fmgateway.values.errors import InvocationError


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "Converse")


@pytest.mark.parametrize(
    ("code", "status", "kind", "transient"),
    [
        ("ThrottlingException", 429, "throttled", True),
        ("ServiceUnavailableException", 503, "unavailable", True),
        ("InternalServerException", 500, "unavailable", True),
        ("ModelNotReadyException", 429, "unavailable", True),
        ("ModelTimeoutException", 408, "timeout", True),
        ("ModelErrorException", 424, "model_error", True),
        ("ValidationException", 400, "invalid", False),
        ("AccessDeniedException", 403, "access", False),
        ("ResourceNotFoundException", 404, "access", False),
        ("SomethingNew", 502, "unavailable", True),
        ("SomethingNew", 400, "invalid", False),
    ],
)
def test_classification(code, status, kind, transient):
    error = classify(client_error(code, status))
    assert (error.kind, error.transient, error.code) == (kind, transient, code)


def test_connection_errors_are_transient():
    assert classify(botocore.exceptions.ReadTimeoutError(endpoint_url="http://x")).kind == "timeout"
    assert classify(botocore.exceptions.EndpointConnectionError(endpoint_url="http://x")).kind == "unavailable"


def test_client_is_rebuilt_only_when_timeouts_change():
    built = []
    invoker = BedrockInvoker(lambda config: built.append(config) or object())
    invoker.configure({"timeouts": {"connectSeconds": 1, "readSeconds": 10}, "retries": {"maxAttempts": 2}})
    assert len(built) == 1  # the defaults already match
    invoker.configure({"timeouts": {"connectSeconds": 1, "readSeconds": 5}, "retries": {"maxAttempts": 2}})
    assert len(built) == 2
    assert built[1].read_timeout == 5 and built[1].retries == {"mode": "standard", "total_max_attempts": 1}
    invoker.configure({"timeouts": {"connectSeconds": 1, "readSeconds": 5}, "retries": {"maxAttempts": 3}})
    assert len(built) == 2  # retries are the candidate loop's (Gateway.retry_delay); botocore makes one attempt per call


def test_converse_errors_are_classified():
    class Client:
        def converse(self, **kwargs):
            raise client_error("ThrottlingException", 429)

    with pytest.raises(InvocationError) as raised:
        BedrockInvoker(lambda config: Client()).converse("m", {"messages": []})
    assert raised.value.kind == "throttled"


def test_binary_content_is_decoded_for_boto3():
    request = {
        "messages": [{"role": "user", "content": [{"text": "x"}, {"image": {"format": "png", "source": {"bytes": "aGk="}}}]}]
    }
    decoded = with_binary_content(request)
    assert decoded["messages"][0]["content"][1]["image"]["source"]["bytes"] == base64.b64decode("aGk=")
    assert request["messages"][0]["content"][1]["image"]["source"]["bytes"] == "aGk="  # input left alone
    text_only = {"messages": [{"role": "user", "content": [{"text": "x"}]}]}
    assert with_binary_content(text_only) is text_only


def test_boto3_parameter_validation_is_the_callers_error():
    error = classify(botocore.exceptions.ParamValidationError(report="Invalid length for parameter text"))
    assert error.kind == "invalid" and not error.transient


def test_a_call_never_outlives_the_request_budget():
    built = []
    invoker = BedrockInvoker(lambda config: built.append(config) or config)
    assert invoker.client_within(None) is invoker.client
    assert invoker.client_within(time.perf_counter() + 30) is invoker.client  # 2 x (1 + 10) s fits
    short = invoker.client_within(time.perf_counter() + 6.5)
    assert short.read_timeout == 5 and short.retries["total_max_attempts"] == 1
    assert invoker.client_within(time.perf_counter() + 6.5) is short  # built once per read timeout
    assert invoker.client_within(time.perf_counter() + 0.2).read_timeout == 1  # never below 1 s


class ScriptedClient:
    """A bedrock-runtime client that fails with the given exceptions, then answers."""

    def __init__(self, *failures: Exception):
        self.failures, self.calls = list(failures), 0

    def converse(self, **kwargs):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}}}


def scripted_invoker(client):
    return BedrockInvoker(lambda config: client, {"retries": {"maxAttempts": 3}})


@pytest.mark.parametrize(
    "failure",
    [
        client_error("ThrottlingException", 429),
        client_error("ServiceUnavailableException", 503),
        botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"),
        client_error("ModelTimeoutException", 408),
        client_error("ModelErrorException", 424),
        client_error("ValidationException", 400),
    ],
)
def test_the_invoker_makes_one_attempt_and_leaves_retries_to_the_candidate_loop(failure):
    """A throttle is a routing signal (README "Throttling"): the loop moves to the next candidate or retries the last one
    within the retry budget (tests/unit/test_gateway_retries.py); the invoker itself never waits or calls twice."""
    client = ScriptedClient(failure)
    invoker = scripted_invoker(client)
    with pytest.raises(InvocationError):
        invoker.converse("m", {"messages": []})
    assert client.calls == 1
    assert invoker.converse("m", {"messages": []})["output"] and client.calls == 2
