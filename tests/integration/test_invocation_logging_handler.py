"""The invocation-logging custom resource (handlers.invocation_logging, fmgateway.aws.invocation_logging) against moto's
Bedrock control plane: create, update and delete of the one setting per account and region, a configuration of someone
else's refused or replaced, and every answer PUT to the event's ResponseURL (a local HTTP server, or a recorded
sender), FAILED with the reason when anything goes wrong."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fmgateway.aws import invocation_logging as resource
from fmgateway.aws.invocation_logging import NOTHING_BEFORE, PREVIOUS, UNCHANGED, decode_previous, handle

OURS, OURS_NEXT, THEIRS = "fmgateway-dev-invocationlogs-1a2b3c", "fmgateway-dev-invocationlogs-9z8y7x", "team-a-bedrock-logs"
THEIR_CONFIG = {
    "s3Config": {"bucketName": THEIRS, "keyPrefix": "bedrock/"},
    "textDataDeliveryEnabled": True,
    "imageDataDeliveryEnabled": True,
    "embeddingDataDeliveryEnabled": True,
}


# ---- fixtures and helpers -------------------------------------------------------------------------------------------


@pytest.fixture
def bedrock() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("bedrock", region_name="us-east-1")


class Recorder:
    """The sender that CloudFormation's pre-signed URL would receive, in memory."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body) -> None:
        json.dumps(body)  # what goes over the wire must be JSON
        self.sent.append((url, dict(body)))

    @property
    def last(self) -> dict[str, Any]:
        return self.sent[-1][1]


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


class Capture(http.server.BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    status = 200

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        Capture.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(Capture.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[str]:
    """A local stand-in for CloudFormation's pre-signed S3 URL, recording each PUT."""
    Capture.requests, Capture.status = [], 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cloudformation-response?X-Amz-Signature=abc"
    finally:
        server.shutdown()
        server.server_close()


def properties(bucket: str = OURS, *, replace: bool = False, cloudwatch: bool = False) -> dict[str, Any]:
    """As CloudFormation hands them to the function: every value a string."""
    config: dict[str, Any] = {
        "s3Config": {"bucketName": bucket},
        "textDataDeliveryEnabled": "true",
        "imageDataDeliveryEnabled": "false",
        "embeddingDataDeliveryEnabled": "false",
        "videoDataDeliveryEnabled": "false",
    }
    if cloudwatch:
        config["cloudWatchConfig"] = {
            "logGroupName": "FmGateway-dev-InvocationLoggingLogs71B3E1B3-abc",
            "roleArn": "arn:aws:iam::123456789012:role/FmGateway-dev-InvocationLoggingDeliveryRole-abc",
        }
    return {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:fmgw-invocation-logging",
        "LoggingConfig": config,
        "Replace": "true" if replace else "false",
    }


def event(request_type: str, props: dict, *, physical_id: str | None = None, old: dict | None = None, url: str = "") -> dict:
    body = {
        "RequestType": request_type,
        "ServiceToken": props["ServiceToken"],
        "ResponseURL": url or "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/FmGateway-dev/0b7e3a10-0000-0000-0000-000000000000",
        "RequestId": str(uuid.uuid4()),
        "ResourceType": "Custom::BedrockInvocationLogging",
        "LogicalResourceId": "InvocationLoggingSettingB7DC4948",
        "ResourceProperties": props,
    }
    if physical_id is not None:
        body["PhysicalResourceId"] = physical_id
    if old is not None:
        body["OldResourceProperties"] = old
    return body


def in_place(bedrock) -> dict[str, Any]:
    return bedrock.get_model_invocation_logging_configuration().get("loggingConfig") or {}


def run(bedrock, sent: Recorder, request: dict) -> dict[str, Any]:
    answer = handle(request, lambda: bedrock, send=sent)
    assert sent.last == answer
    assert answer["RequestId"] == request["RequestId"] and answer["StackId"] == request["StackId"]
    assert answer["LogicalResourceId"] == request["LogicalResourceId"]
    assert len(json.dumps(answer).encode()) < 4096  # CloudFormation's limit for a response
    return answer


# ---- create, update, delete -----------------------------------------------------------------------------------------


def test_create_sets_text_delivery_to_the_stacks_bucket(bedrock, sent):
    answer = run(bedrock, sent, event("Create", properties()))
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == NOTHING_BEFORE
    assert in_place(bedrock) == {
        "s3Config": {"bucketName": OURS},
        "textDataDeliveryEnabled": True,  # the strings CloudFormation passes become booleans again
        "imageDataDeliveryEnabled": False,
        "embeddingDataDeliveryEnabled": False,
        "videoDataDeliveryEnabled": False,
    }


def test_update_changes_the_setting_and_keeps_the_physical_id(bedrock, sent):
    created = run(bedrock, sent, event("Create", properties()))["PhysicalResourceId"]
    # CloudWatch Logs added, and the bucket replaced (a new bucket name): still this stack's.
    update = event("Update", properties(OURS_NEXT, cloudwatch=True), physical_id=created, old=properties())
    answer = run(bedrock, sent, update)
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == created  # a new id would mean "replaced"
    config = in_place(bedrock)
    assert config["s3Config"] == {"bucketName": OURS_NEXT}
    assert config["cloudWatchConfig"]["logGroupName"].startswith("FmGateway-dev-InvocationLoggingLogs")


def test_delete_removes_the_setting_when_there_was_none_before(bedrock, sent):
    created = run(bedrock, sent, event("Create", properties()))["PhysicalResourceId"]
    answer = run(bedrock, sent, event("Delete", properties(), physical_id=created))
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == created
    assert in_place(bedrock) == {}


def test_a_foreign_configuration_is_refused_naming_it_and_left_alone(bedrock, sent):
    bedrock.put_model_invocation_logging_configuration(loggingConfig=THEIR_CONFIG)
    answer = run(bedrock, sent, event("Create", properties()))
    assert answer["Status"] == "FAILED"
    assert f"s3://{THEIRS}/bedrock/" in answer["Reason"]
    assert "us-east-1" in answer["Reason"] and "invocationLoggingReplace=true" in answer["Reason"]
    assert answer["PhysicalResourceId"] == UNCHANGED
    assert in_place(bedrock) == THEIR_CONFIG
    # The rollback's delete changes nothing either.
    assert run(bedrock, sent, event("Delete", properties(), physical_id=UNCHANGED))["Status"] == "SUCCESS"
    assert in_place(bedrock) == THEIR_CONFIG


def test_a_cloudwatch_only_configuration_is_named_too(bedrock, sent):
    theirs = {
        "cloudWatchConfig": {"logGroupName": "/team-b/bedrock", "roleArn": "arn:aws:iam::123456789012:role/team-b-logs"},
        "textDataDeliveryEnabled": True,
    }
    bedrock.put_model_invocation_logging_configuration(loggingConfig=theirs)
    answer = run(bedrock, sent, event("Create", properties()))
    assert answer["Status"] == "FAILED" and "CloudWatch Logs group /team-b/bedrock" in answer["Reason"]


def test_replace_records_the_foreign_configuration_and_delete_puts_it_back(bedrock, sent):
    bedrock.put_model_invocation_logging_configuration(loggingConfig=THEIR_CONFIG)
    created = run(bedrock, sent, event("Create", properties(replace=True)))
    assert created["Status"] == "SUCCESS"
    assert created["PhysicalResourceId"].startswith(PREVIOUS)
    assert len(created["PhysicalResourceId"].encode()) <= 1024
    assert decode_previous(created["PhysicalResourceId"]) == THEIR_CONFIG
    assert in_place(bedrock)["s3Config"] == {"bucketName": OURS}
    # An update keeps the record of what was there before the stack.
    update = event(
        "Update",
        properties(replace=True, cloudwatch=True),
        physical_id=created["PhysicalResourceId"],
        old=properties(replace=True),
    )
    assert run(bedrock, sent, update)["PhysicalResourceId"] == created["PhysicalResourceId"]
    deleted = run(
        bedrock, sent, event("Delete", properties(replace=True, cloudwatch=True), physical_id=created["PhysicalResourceId"])
    )
    assert deleted["Status"] == "SUCCESS"
    assert in_place(bedrock) == THEIR_CONFIG


def test_update_refuses_a_configuration_someone_put_in_place_since(bedrock, sent):
    created = run(bedrock, sent, event("Create", properties()))["PhysicalResourceId"]
    bedrock.put_model_invocation_logging_configuration(loggingConfig=THEIR_CONFIG)
    refused = run(bedrock, sent, event("Update", properties(cloudwatch=True), physical_id=created, old=properties()))
    assert refused["Status"] == "FAILED" and THEIRS in refused["Reason"]
    assert refused["PhysicalResourceId"] == created  # the same resource: CloudFormation rolls the update back
    assert in_place(bedrock) == THEIR_CONFIG
    replaced = run(bedrock, sent, event("Update", properties(replace=True), physical_id=created, old=properties()))
    assert replaced["Status"] == "SUCCESS" and in_place(bedrock)["s3Config"] == {"bucketName": OURS}


def test_delete_leaves_a_configuration_that_is_no_longer_the_stacks(bedrock, sent):
    created = run(bedrock, sent, event("Create", properties()))["PhysicalResourceId"]
    bedrock.put_model_invocation_logging_configuration(loggingConfig=THEIR_CONFIG)
    assert run(bedrock, sent, event("Delete", properties(), physical_id=created))["Status"] == "SUCCESS"
    assert in_place(bedrock) == THEIR_CONFIG


def test_a_retried_create_finds_its_own_setting_and_records_nothing_before(bedrock, sent):
    run(bedrock, sent, event("Create", properties()))
    again = run(bedrock, sent, event("Create", properties()))
    assert again["Status"] == "SUCCESS" and again["PhysicalResourceId"] == NOTHING_BEFORE


def test_a_configuration_too_large_to_record_is_refused_before_anything_changes(bedrock, sent):
    large = {
        # 1,000 random characters (a prefix may have 1,024): they do not compress below the physical id's 1 KB
        "s3Config": {"bucketName": THEIRS, "keyPrefix": secrets.token_urlsafe(768)[:1000]},
        "textDataDeliveryEnabled": True,
    }
    bedrock.put_model_invocation_logging_configuration(loggingConfig=large)
    answer = run(bedrock, sent, event("Create", properties(replace=True)))
    assert answer["Status"] == "FAILED" and "too large" in answer["Reason"] and answer["PhysicalResourceId"] == UNCHANGED
    assert in_place(bedrock) == large


def test_when_the_previous_configuration_cannot_be_put_back_the_setting_is_deleted(bedrock, sent):
    bedrock.put_model_invocation_logging_configuration(loggingConfig=THEIR_CONFIG)
    created = run(bedrock, sent, event("Create", properties(replace=True)))["PhysicalResourceId"]

    class RefusesTheirs:
        """moto stores anything; Bedrock refuses a destination that is gone (here: their bucket)."""

        meta = bedrock.meta

        def __getattr__(self, name):
            return getattr(bedrock, name)

        def put_model_invocation_logging_configuration(self, loggingConfig):
            if loggingConfig["s3Config"]["bucketName"] == THEIRS:
                raise ClientError({"Error": {"Code": "ValidationException", "Message": "bucket not found"}}, "Put")
            return bedrock.put_model_invocation_logging_configuration(loggingConfig=loggingConfig)

    answer = handle(event("Delete", properties(replace=True), physical_id=created), RefusesTheirs, send=sent)
    assert answer["Status"] == "SUCCESS"
    assert in_place(bedrock) == {}  # not left delivering to a bucket that goes with the stack


def test_a_delivery_flag_this_botocore_does_not_know_is_left_out(bedrock, sent):
    props = properties()
    props["LoggingConfig"]["hologramDataDeliveryEnabled"] = "false"
    assert run(bedrock, sent, event("Create", props))["Status"] == "SUCCESS"
    assert "hologramDataDeliveryEnabled" not in in_place(bedrock)


# ---- failures are answered ------------------------------------------------------------------------------------------


def test_a_bedrock_error_is_answered_failed_with_its_reason(sent):
    class Denied:
        def get_model_invocation_logging_configuration(self):
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform GetModelInvocation"}},
                "GetModelInvocationLoggingConfiguration",
            )

    answer = handle(event("Create", properties()), Denied, send=sent)
    assert answer["Status"] == "FAILED" and answer["PhysicalResourceId"] == UNCHANGED
    assert "AccessDeniedException" in answer["Reason"] and "not authorized" in answer["Reason"]
    update = handle(event("Update", properties(), physical_id=NOTHING_BEFORE, old=properties()), Denied, send=sent)
    assert update["Status"] == "FAILED" and update["PhysicalResourceId"] == NOTHING_BEFORE


def test_a_client_that_cannot_be_built_is_answered_failed(sent):
    def no_client():
        raise RuntimeError("no region configured")

    answer = handle(event("Delete", properties(), physical_id=NOTHING_BEFORE), no_client, send=sent)
    assert answer["Status"] == "FAILED" and "RuntimeError: no region configured" in answer["Reason"]
    assert answer["PhysicalResourceId"] == NOTHING_BEFORE


@pytest.mark.parametrize(
    ("request_type", "props", "reason"),
    [
        ("Rename", properties(), "unknown RequestType 'Rename'"),
        ("Create", {"ServiceToken": "arn:x", "Replace": "false"}, "no s3Config.bucketName"),
    ],
)
def test_malformed_requests_are_answered_failed(bedrock, sent, request_type, props, reason):
    answer = run(bedrock, sent, event(request_type, props))
    assert answer["Status"] == "FAILED" and reason in answer["Reason"]


def test_a_long_reason_is_cut_to_fit_the_response(sent):
    class Verbose:
        def get_model_invocation_logging_configuration(self):
            raise RuntimeError("x" * 10_000)

    answer = handle(event("Create", properties()), Verbose, send=sent)
    assert answer["Reason"].endswith("...") and len(json.dumps(answer).encode()) < 4096


# ---- the answer on the wire -----------------------------------------------------------------------------------------


def test_the_handler_puts_its_answer_to_the_response_url(bedrock, response_url, monkeypatch):
    from handlers import invocation_logging as handler_module

    monkeypatch.setattr(handler_module, "_bedrock", lambda: bedrock)
    request = event("Create", properties(), url=response_url)
    handler_module.handler(request, None)
    [put] = Capture.requests
    assert put["path"] == "/cloudformation-response?X-Amz-Signature=abc"
    assert put["headers"]["Content-Type"] == ""  # the pre-signed URL's signature covers no content type
    assert int(put["headers"]["Content-Length"]) == len(json.dumps(put["body"]).encode())
    assert put["body"] == {
        "Status": "SUCCESS",
        "PhysicalResourceId": NOTHING_BEFORE,
        "StackId": request["StackId"],
        "RequestId": request["RequestId"],
        "LogicalResourceId": request["LogicalResourceId"],
        "NoEcho": False,
        "Data": {},
    }


def test_a_failure_goes_over_the_wire_with_its_reason(bedrock, response_url):
    bedrock.put_model_invocation_logging_configuration(loggingConfig=THEIR_CONFIG)
    handle(event("Create", properties(), url=response_url), lambda: bedrock)
    [put] = Capture.requests
    assert put["body"]["Status"] == "FAILED" and THEIRS in put["body"]["Reason"]


def test_an_unreachable_response_url_is_retried_then_logged_never_raised(bedrock, response_url, monkeypatch):
    monkeypatch.setattr(resource.time, "sleep", lambda seconds: None)
    Capture.status = 503
    answer = handle(event("Create", properties(), url=response_url), lambda: bedrock)
    assert answer["Status"] == "SUCCESS"  # the setting was made; CloudFormation just never heard
    assert len(Capture.requests) == resource.SEND_ATTEMPTS
    with pytest.raises(ValueError, match="not an http"):
        resource.send_response("file:///etc/passwd", answer)
    handle(event("Delete", properties(), physical_id=NOTHING_BEFORE, url="file:///etc/passwd"), lambda: bedrock)
