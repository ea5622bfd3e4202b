"""Powertools logging, metrics and (opt-in) tracing shared by every Lambda entry point.

Lambda's active tracing records each invocation in X-Ray without any SDK. Powertools' Tracer adds
subsegments for every AWS call, but constructing it imports the X-Ray SDK, whose recorder builds two
botocore clients: ~130 ms on every cold start (see ``make bench``). So the Tracer is built only when
``POWERTOOLS_TRACE_DISABLED`` is not true; the stack sets that from its ``xraySdk`` context flag.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
# Routes that only read (health, job status) emit no metric; Powertools would warn on every such call.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in ("1", "true")


def lambda_entry(handler: Callable, correlation_id_path: str | None = None) -> Callable:
    """Wrap a handler with structured logging (correlation id), EMF metrics and, if enabled, tracing."""
    wrapped = metrics.log_metrics(handler)
    if tracing_enabled():
        from aws_lambda_powertools import Tracer

        # capture_response=False: completions never go into traces
        wrapped = Tracer().capture_lambda_handler(wrapped, capture_response=False)
    return logger.inject_lambda_context(wrapped, correlation_id_path=correlation_id_path)
