"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (a JSON answer, or with ``stream: true`` OpenAI's
``chat.completion.chunk`` server-sent events) and ``GET /v1/models`` (the catalog with live breaker state and health).
The translation both ways is ``fmgateway.openai_surface``."""

from __future__ import annotations

import time
from typing import Any

from fmgateway import runtime
from fmgateway.aws import http
from fmgateway.health.figures import HealthFigures
from fmgateway.openai_surface import answer as openai_answer
from fmgateway.openai_surface import fields as openai_fields
from fmgateway.openai_surface import request as openai_request
from fmgateway.serving.answers import run
from fmgateway.serving.streams import open_stream, streamed
from fmgateway.values.candidates import Candidate


def live_health(figures: HealthFigures | None, window_seconds: float) -> dict:
    """A model's merged recent window (README "Routing strategies"): nulls where nothing was measured."""
    figures = figures or HealthFigures(window_seconds=window_seconds)
    measured = figures.calls > 0
    return {
        "calls": figures.calls,
        "errorRate": round(figures.error_rate, 4) if measured else None,
        "throttleRate": round(figures.throttle_rate, 4) if measured else None,
        "p50Ms": figures.p50_ms,
        "p99Ms": figures.p99_ms,
        "ttftP50Ms": figures.ttft_p50_ms,
        "windowSeconds": figures.window_seconds,
    }


def list_models(event: dict) -> dict:
    gateway = runtime.gateway()
    config = gateway.config.get()
    models = list(config.catalog.models.values())
    embedding = list(config.embeddings.models.values())
    invoke_ids = [model.invoke_id for model in models] + [entry.model.invoke_id for entry in embedding]
    states = gateway.breaker.current(invoke_ids, config.breaker)
    window = float(config.breaker.get("windowSeconds", 60))
    data = []
    for model in models:
        figures = gateway.health_view.figures(Candidate(model).health_key)
        listed: dict[str, Any] = {
            "id": model.alias,
            "object": "model",
            "created": 0,
            "owned_by": model.provider,
            **model.describe(),
            "tiers": [tier for tier, chain in config.tiers.items() if model.alias in chain],
            "breaker": gateway.breaker.display_state(states[model.invoke_id]),
            "health": live_health(figures, window),
        }
        if model.backend.paid_by_the_hour:  # README "Backends": the hour's price over the requests it served
            calls, seconds = (figures.calls, figures.window_seconds) if figures is not None else (0, window)
            listed["amortisedCostPerRequestUsd"] = model.amortised_cost_usd(calls, seconds)
        data.append(listed)
    for entry in embedding:  # /v1/embeddings and embedding bodies on /model/{modelId}/invoke
        data.append(
            {
                "id": entry.alias,
                "object": "model",
                "created": 0,
                "owned_by": entry.model.provider,
                **entry.describe(),
                "routes": [name for name, chain in config.embeddings.routes.items() if entry.alias in chain],
                "breaker": gateway.breaker.display_state(states[entry.model.invoke_id]),
                "health": live_health(gateway.health_view.figures(Candidate(entry.model).health_key), window),
            }
        )
    return http.respond(200, {"object": "list", "data": data, "configVersion": config.version})


def chat_completions(event: dict) -> dict:
    """The JSON answer (the API function serves only this form; ``stream: true`` is refused there)."""
    gateway = runtime.gateway()
    config = gateway.config.get()
    body = http.json_body(event, config.max_request_bytes)
    translation = openai_request.translate(body, config.catalog)
    result = run(translation.request, event, translation.step(gateway.converse_step))
    payload = openai_answer.to_response(result, http.request_id(event), int(time.time()), translation)
    return http.respond(200, payload, {**openai_answer.gateway_headers(result), **_unused(body)})


def _unused(body: dict[str, Any]) -> dict[str, str]:
    """``x-gateway-unused-fields``: the fields accepted but not used (README's OpenAI field table)."""
    unused = openai_fields.unused_fields(body)
    return {openai_fields.UNUSED_HEADER: ", ".join(unused)} if unused else {}


def chat_completions_or_stream(event: dict) -> dict[str, Any]:
    """The streaming function's route: API Gateway sends the whole of ``/v1/chat/completions`` there, so a request
    without ``stream: true`` gets the JSON answer, as from the API function."""
    config = runtime.gateway().config.get()
    body = http.json_body(event, config.max_request_bytes)
    if not isinstance(body, dict) or not body.get("stream"):
        return chat_completions(event)  # the same SDK sends both kinds here
    translation = openai_request.translate(body, config.catalog, streaming=True)
    stream = open_stream(event, translation.request, wrap=translation.step)
    frames = openai_answer.openai_frames(stream, http.request_id(event), openai_request.include_usage(body), translation)
    response = streamed(stream, frames)
    response["headers"].update(_unused(body))
    return response
