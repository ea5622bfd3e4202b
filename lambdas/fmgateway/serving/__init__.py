"""The HTTP routes and what every handler shares: API Gateway proxy events in, proxy responses out.

``answers`` runs a request through the gateway and accounts for its answer (metrics and the log line), ``streams``
turns a started stream into a streamed proxy response; the routes are grouped by the API they speak:
``converse_routes`` (``/v1/chat``, the task routes and their ``/stream`` forms, health, the OpenAPI document),
``openai_routes`` (``/v1/chat/completions``, ``/v1/models``) and ``bedrock_routes`` (``/model/{modelId}/...`` and
``/v1/embeddings``). The handlers (``lambdas/handlers``) are thin Lambda or ASGI entry points that pick routes from
here; no handler imports another.

Sits above ``fmgateway.runtime`` (the wired gateway) and uses the request surfaces, ``fmgateway.aws.http`` and the
Powertools telemetry adapter.
"""
