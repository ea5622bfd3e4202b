"""Which invoker answers a candidate (issue 23): Bedrock's for on demand and every Bedrock ARN kind (Provisioned
Throughput, a custom model deployment, an imported model: the ARN is the model id), the backend kind's own for the
rest (a SageMaker endpoint, bound to its container and inference component). One map, built where the gateway is
wired (``fmgateway.runtime``); the invocation steps ask it for every call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fmgateway.values.backends import BEDROCK_KINDS
from fmgateway.values.candidates import Candidate
from fmgateway.values.errors import InvocationError
from fmgateway.values.ports import EndpointInvoker, ModelInvoker


class Invokers:
    def __init__(self, bedrock: ModelInvoker, endpoints: Mapping[str, EndpointInvoker] | None = None):
        self.bedrock = bedrock
        self.endpoints: Mapping[str, EndpointInvoker] = endpoints or {}

    def for_candidate(self, candidate: Candidate) -> ModelInvoker:
        backend = candidate.model.backend
        if backend.kind in BEDROCK_KINDS:
            return self.bedrock
        endpoints = self.endpoints.get(backend.kind)
        if endpoints is None:
            raise InvocationError("access", "BackendNotConfigured", f"this gateway has no invoker for {backend.kind} backends")
        return endpoints.bind(backend)

    def configure(self, settings: dict[str, Any]) -> None:
        """The live configuration's timeouts and retries, to every invoker."""
        self.bedrock.configure(settings)
        for endpoints in self.endpoints.values():
            endpoints.configure(settings)
