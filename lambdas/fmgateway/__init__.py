"""FM Gateway's Lambda code: one package per capability, dependencies pointing one way (top to bottom).

| layer | packages |
|---|---|
| what handlers share | ``serving``: API Gateway routes, running and accounting a request, streamed responses |
| wiring | ``runtime``: the one module that builds adapters (``aws``) into the loop |
| request surfaces | ``openai_surface``, ``embeddings``, ``jobs``, ``lifecycle``; then ``native`` |
| the loop | ``core``: the candidate loop, the state machine's steps, streams, the answer cache |
| decisions | ``routing`` (tier, plan, strategies), then ``health`` (breaker, live health) and ``converse`` (request checks) |
| configuration | ``config``: the gateway document, the catalogs, the JSON schemas |
| values | ``values``: candidates, requests and results, errors, ports |

``aws`` sits beside the layers: the adapters (Bedrock, DynamoDB, AppConfig, S3, Powertools telemetry, API Gateway
events). Nothing in the layers imports it, boto3, botocore or Powertools; ``pyproject.toml``'s import-linter
contracts hold all of this (``make lint``, ``make test``). Pure Python, no AWS call at import time.
"""
