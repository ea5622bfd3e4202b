"""The API function: /v1/health, /v1/openapi.json, /v1/models, /v1/chat, the static task routes, /v1/chat/completions,
and /v1/embeddings with the non-stream Bedrock Runtime paths (/model/{modelId}/converse, /invoke). The routes are
``fmgateway.serving``'s; this module picks them.

A dict lookup dispatches the routes: Powertools' APIGatewayRestResolver would add ~170 ms of imports to
every cold start for routing API Gateway has already done.
"""

from __future__ import annotations

from fmgateway.aws.coldstart import paused_gc

with paused_gc():  # no GC passes over boto3's objects while the sandbox initialises
    from aws_lambda_powertools.logging import correlation_paths

    from fmgateway.aws import http
    from fmgateway.aws.telemetry import lambda_entry
    from fmgateway.serving import answers, converse_routes, openai_routes

ROUTES: dict[str, dict[str, http.Route]] = {
    "/v1/health": {"GET": converse_routes.health},
    "/v1/openapi.json": {"GET": converse_routes.api_description},
    "/v1/models": {"GET": openai_routes.list_models},
    "/v1/chat": {"POST": converse_routes.chat},
    "/v1/chat/completions": {"POST": openai_routes.chat_completions},
}

# The Bedrock Runtime paths and /v1/embeddings: imported on their first request, so the other routes' cold start does
# not pay for them.
BEDROCK_PATHS = frozenset({"/model/{modelId}/converse", "/model/{modelId}/invoke", "/v1/embeddings"})


def more_routes(path: str) -> dict[str, http.Route] | None:
    """The Bedrock Runtime paths, then the configuration's static task routes."""
    if path in BEDROCK_PATHS:
        from fmgateway.serving import bedrock_routes

        return bedrock_routes.ROUTES[path]
    return converse_routes.task_route(path)


def _handle(event: dict, context) -> dict:
    answers.count_request()
    return http.dispatch(event, ROUTES, more_routes, dependency_errors=answers.DEPENDENCY_ERRORS)


handler = lambda_entry(_handle, correlation_paths.API_GATEWAY_REST)
