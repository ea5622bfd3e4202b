"""Streaming through the one candidate loop (DESIGN.md "Candidates"): ConverseStream is another invocation step.

The step opens ConverseStream on a candidate and reads until the first token (or the end of a tokenless answer),
holding back what it read: until then nothing has reached the caller, so a failure moves to the next candidate
invisibly, with the loop's breaker, failure isolation and fallback. ``ChatStream`` then hands the events on; the
outcome is recorded when it is known:

- the stream ends well: breaker success, the assembled answer goes to the degraded cache, cost from the final usage;
- it fails after tokens were sent: breaker failure (transient errors), and an explicit error event ends the stream;
- it runs past ``timeouts.streamBudgetSeconds``: an error event (the budget is ours: nothing counted on the model);
- the caller leaves (``close``): the upstream read stops; nothing is counted, a probe slot is given back.

Every candidate refusing before the first token raises the loop's own errors (503 + Retry-After) before any byte
is sent; a degraded cached answer is streamed as one chunk.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any, NamedTuple

from fmgateway.converse import fields as converse_fields
from fmgateway.core.gateway import Gateway, InvocationStep
from fmgateway.core.prepared import Prepared
from fmgateway.health.breaker import PROBE
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import GatewayError, InvocationError, ModelError, UpstreamTimeout
from fmgateway.values.exchange import ChatResult, Chosen

DEFAULT_STREAM_BUDGET_SECONDS = 300
# Events that may come before the first token: a failure while only these were read is still invisible to the caller.
PRELUDE = frozenset({"messageStart", "contentBlockStart"})

Event = tuple[str, dict[str, Any]]  # (event type, payload) as ConverseStream names them


class Opened(NamedTuple):
    """A ConverseStream whose first token (or end) has arrived: what was read so far, and the rest to read."""

    head: list[dict[str, Any]]
    upstream: Any  # the invoker's stream: an iterator of events with close()
    first_token_at: float  # time.perf_counter()


def stream_budget_seconds(prepared: Prepared) -> float:
    return float(prepared.config.section("timeouts").get("streamBudgetSeconds", DEFAULT_STREAM_BUDGET_SECONDS))


def converse_stream_step(gateway: Gateway):
    """The invocation step for streams: ConverseStream through the candidate's inference profile, read up to the first
    token."""

    def step(candidate: Candidate, body: dict[str, Any], deadline: float) -> Opened:
        upstream = gateway.invokers.for_candidate(candidate).converse_stream(candidate.invoke_id, body, deadline=deadline)
        head: list[dict[str, Any]] = []
        try:
            for event in upstream:
                head.append(event)
                if not PRELUDE.issuperset(event):
                    break
        except InvocationError:
            _close(upstream)
            raise
        return Opened(head, upstream, time.perf_counter())

    return step


def open_stream(
    gateway: Gateway, prepared: Prepared, wrap: Callable[[InvocationStep], InvocationStep] | None = None
) -> ChatStream:
    """Run the candidate loop with the streaming step (``wrap``: adapts it, e.g. per candidate's capabilities). Raises
    the error contract's exceptions (nothing sent yet)."""
    step = converse_stream_step(gateway)
    outcome = gateway.choose(prepared, wrap(step) if wrap else step, record_success=False)
    if isinstance(outcome, ChatResult):
        return ChatStream(gateway, prepared, cached=outcome)
    return ChatStream(gateway, prepared, chosen=outcome)


class ChatStream:
    """One streamed answer: ``events()`` yields the native events, ending either normally (then ``result`` holds the
    accounting) or with one ``("error", ...)`` event (then ``error`` says why)."""

    def __init__(self, gateway: Gateway, prepared: Prepared, *, chosen: Chosen | None = None, cached: ChatResult | None = None):
        self.gateway, self.prepared, self.chosen, self.cached = gateway, prepared, chosen, cached
        self.result: ChatResult | None = None
        self.error: GatewayError | None = None
        self.closed = False
        chosen_model = chosen.candidate.model if chosen else None
        self.model = chosen_model or (cached.model if cached else None)
        self.attempts = chosen.attempts if chosen else (cached.attempts if cached else [])
        self.degraded = cached is not None
        first = chosen.response.first_token_at if chosen else time.perf_counter()
        self.time_to_first_token_ms = (first - prepared.started) * 1000

    @property
    def route(self) -> str:
        return self.prepared.plan.route

    def events(self) -> Iterator[Event]:
        if self.cached is not None:
            yield from self._cached_events(self.cached)
            self.result = self.cached
            return
        assert self.chosen is not None
        chosen, opened = self.chosen, self.chosen.response
        budget_end = self.prepared.started + stream_budget_seconds(self.prepared)
        assembler = converse_fields.Assembler()  # text and toolUse blocks, for the cache and the result
        stop_reason, usage = "end_turn", {}
        try:
            for event in chain(opened.head, opened.upstream):
                ((name, data),) = event.items()
                assembler.feed(name, data)
                if name == "messageStop":
                    stop_reason = data.get("stopReason", stop_reason)
                elif name == "metadata":
                    usage = data.get("usage", {})
                yield name, data
                if self.closed:
                    return
                if time.perf_counter() > budget_end:
                    _close(opened.upstream)
                    self._give_back_probe()
                    self.error = UpstreamTimeout(
                        f"the stream ran past its budget of {stream_budget_seconds(self.prepared):g} s "
                        "(timeouts.streamBudgetSeconds); the answer is incomplete"
                    )
                    yield "error", self.error.fields()
                    return
        except InvocationError as err:
            if self.closed:  # the caller left and closing the connection broke the read: says nothing of the model
                return
            candidate = chosen.candidate
            if err.transient:
                self.gateway.record_failure(candidate, self.prepared.config, kind=err.kind, caller=self.prepared.request.caller)
            else:
                self._give_back_probe()
            self.error = ModelError(
                f"{candidate.alias} failed after the answer had started ({err.code}): {err.message}; the answer is incomplete"
            )
            yield "error", self.error.fields()
            return
        config = self.prepared.config
        ended = time.perf_counter()
        ttft_ms = chosen.attempts[-1].ms if chosen.attempts else None
        self.gateway.record_success(
            chosen.candidate,
            config,
            latency_ms=(ttft_ms or 0.0) + (ended - opened.first_token_at) * 1000,
            ttft_ms=ttft_ms,
            output_tokens=int((usage or {}).get("outputTokens") or 0),
            generation_ms=(ended - opened.first_token_at) * 1000,
            caller=self.prepared.request.caller,
        )
        response = {"output": {"message": assembler.message()}, "stopReason": stop_reason, "usage": usage, **assembler.fields}
        model_seconds = chosen.model_seconds + (time.perf_counter() - opened.first_token_at)
        self.result = self.gateway.answer(self.prepared, chosen.candidate, response, chosen.attempts, model_seconds)

    def close(self) -> None:
        """The caller left: stop reading upstream (the model stops generating for nobody)."""
        if self.closed or self.chosen is None:
            self.closed = True
            return
        self.closed = True
        _close(self.chosen.response.upstream)
        if self.result is None and self.error is None:
            self._give_back_probe()

    def _give_back_probe(self) -> None:
        if self.chosen is not None and self.chosen.decision == PROBE:
            self.gateway.breaker.release(self.chosen.candidate.breaker_key, self.prepared.config.breaker)

    @staticmethod
    def _cached_events(result: ChatResult) -> Iterator[Event]:
        """A degraded cached answer, each block as one chunk, in the shape of a live stream."""
        yield from converse_fields.replay(result.message, result.stop_reason, result.usage)

    def gateway_block(self) -> dict[str, Any]:
        """The final ``gateway`` event: the result's block plus time to first token (what is known after an error)."""
        if self.result is not None:
            block = self.result.gateway_block()
        else:
            block = {
                "model": self.model.alias if self.model else None,
                "modelId": self.model.invoke_id if self.model else None,
                "backend": self.model.backend.kind if self.model else None,
                "route": self.route,
                "attempts": [attempt.describe() for attempt in self.attempts],
                "degraded": self.degraded,
            }
        return {**block, "timeToFirstTokenMs": round(self.time_to_first_token_ms, 1)}


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data`` as compact JSON (a string as it is), named ``event`` if given."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


def _close(upstream: Any) -> None:
    close = getattr(upstream, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):  # closing a connection that is already broken: nothing left to stop
            close()
