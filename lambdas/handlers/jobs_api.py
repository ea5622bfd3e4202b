"""Jobs API: POST /v1/jobs, GET /v1/jobs/{id}, DELETE /v1/jobs/{id}. The caller's API key is the tenant."""

from __future__ import annotations

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    import botocore.exceptions
    from aws_lambda_powertools.logging import correlation_paths

    from fmgateway import runtime
    from fmgateway.aws import http
    from fmgateway.aws.telemetry import lambda_entry, logger
    from fmgateway.converse import validation
    from fmgateway.values.errors import Forbidden, InvalidRequest, NotFound

MAX_IDEMPOTENCY_KEY = 200


def tenant_of(event: dict) -> str:
    """The API key's id: from the key authorizer's context (API key source AUTHORIZER) or, with the header key
    source, from API Gateway's identity. Both are set by API Gateway, never by the client."""
    context = event.get("requestContext") or {}
    tenant = (context.get("authorizer") or {}).get("apiKeyId") or (context.get("identity") or {}).get("apiKeyId")
    if not tenant:
        raise Forbidden("an API key is required")
    return tenant


def submit(event: dict) -> dict:
    tenant = tenant_of(event)
    config = runtime.config_source().get()
    body = validation.chat_body(http.json_body(event, config.max_request_bytes), config.s3_input_buckets)
    key = http.header(event, "Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY):
        raise InvalidRequest(f"Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    jobs = runtime.jobs()
    job, created = jobs.submit(tenant, body, key)
    logger.info("job submitted" if created else "job resubmitted", extra={"jobId": job["jobId"], "tenant": tenant})
    status_url = f"/v1/jobs/{job['jobId']}"
    payload = {"jobId": job["jobId"], "status": job["status"], "statusUrl": status_url}
    return http.respond(202, payload, {"Location": status_url})


def get(event: dict) -> dict:
    jobs = runtime.jobs()
    return http.respond(200, jobs.view(jobs.get(tenant_of(event), _job_id(event))))


def cancel(event: dict) -> dict:
    jobs = runtime.jobs()
    return http.respond(200, jobs.view(jobs.cancel(tenant_of(event), _job_id(event))))


def _job_id(event: dict) -> str:
    job_id = (event.get("pathParameters") or {}).get("id", "")
    if not job_id.isalnum() or len(job_id) > 64:
        raise NotFound(f"no job {job_id}")
    return job_id


ROUTES: dict[str, dict[str, http.Route]] = {"/v1/jobs": {"POST": submit}, "/v1/jobs/{id}": {"GET": get, "DELETE": cancel}}


# A DynamoDB, SQS or S3 call that fails (throttled, unreachable, 5xx after boto's retries) is a 503.
DEPENDENCY_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


handler = lambda_entry(
    lambda event, context: http.dispatch(event, ROUTES, dependency_errors=DEPENDENCY_ERRORS), correlation_paths.API_GATEWAY_REST
)
