"""A catalog model as a value: what an alias is, what it can do, what it costs, where it is in its lifecycle."""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.values.backends import Backend


class Model(NamedTuple):  # NamedTuple, not a dataclass: frozen dataclasses cost ~3 ms each at cold start
    alias: str
    model_id: str
    provider: str
    profile_scope: str  # us | eu | apac | global | in-region
    context_window: int
    max_output_tokens: int
    input_modalities: frozenset[str]
    languages: frozenset[str]
    price_input_per_1k: float
    price_output_per_1k: float
    lifecycle: str
    successor: str | None
    # Converse features the model supports (fmgateway.routing.capabilities); image / document follow input_modalities
    features: frozenset[str] = frozenset()
    price_cache_read_per_1k: float | None = None  # prompt caching: None when the model has no cache prices
    price_cache_write_per_1k: float | None = None
    price_cache_write_1h_per_1k: float | None = None  # writes with a one-hour TTL, where they cost more
    backend: Backend = Backend()  # how it is invoked (values.backends): Bedrock on demand unless the entry says

    @property
    def invoke_id(self) -> str:
        """The id the invoker is called with: the backend's (an ARN, a SageMaker endpoint), else Bedrock's cross-region
        inference profile, or the model id in-region."""
        if self.backend.kind != "bedrock-on-demand":
            return str(self.backend.invoke_id)
        return self.model_id if self.profile_scope == "in-region" else f"{self.profile_scope}.{self.model_id}"

    def speaks(self, language: str) -> bool:
        return "*" in self.languages or language in self.languages

    @property
    def capabilities(self) -> frozenset[str]:
        """What the capability filter matches a request against: the listed features plus image / document input."""
        return self.features | (self.input_modalities & {"image", "document"})

    def cost_usd(
        self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0, cache_write_1h: int = 0
    ) -> float:
        """Uncached input, output, and prompt-cache reads and writes (``cache_write_1h`` of them with a one-hour TTL),
        each at its price; cache tokens of a model with no cache price cost what input tokens cost (never free by
        omission), one-hour writes without their own price what other writes cost. Capacity paid by the hour
        (Provisioned Throughput, a custom deployment, an imported model, a SageMaker endpoint) costs nothing more per
        call: its price is the hour's (``amortised_cost_usd``)."""
        if self.backend.paid_by_the_hour:
            return 0.0
        read_price = self.price_input_per_1k if self.price_cache_read_per_1k is None else self.price_cache_read_per_1k
        write_price = self.price_input_per_1k if self.price_cache_write_per_1k is None else self.price_cache_write_per_1k
        hour_price = write_price if self.price_cache_write_1h_per_1k is None else self.price_cache_write_1h_per_1k
        hour_tokens = min(cache_write_1h, cache_write)
        cost = (
            input_tokens / 1000 * self.price_input_per_1k
            + output_tokens / 1000 * self.price_output_per_1k
            + cache_read / 1000 * read_price
            + (cache_write - hour_tokens) / 1000 * write_price
            + hour_tokens / 1000 * hour_price
        )
        return round(cost, 10)  # 1e-10 USD: exact for per-token prices, free of float noise

    def amortised_cost_usd(self, requests: int, seconds: float) -> float | None:
        """Capacity paid by the hour, per request: the hourly price times the hours, divided by the requests served
        in them (None when nothing was served, or the model is paid per token)."""
        if not self.backend.paid_by_the_hour or self.backend.hourly_usd is None or requests <= 0:
            return None
        return round(self.backend.hourly_usd * seconds / 3600 / requests, 8)

    def usage_cost(self, usage: dict) -> float:
        """``cost_usd`` of a Converse ``usage`` block (cache token counts included when present; ``cacheDetails`` breaks
        the writes down by TTL)."""
        details = usage.get("cacheDetails") or ()
        return self.cost_usd(
            int(usage.get("inputTokens", 0)),
            int(usage.get("outputTokens", 0)),
            int(usage.get("cacheReadInputTokens", 0)),
            int(usage.get("cacheWriteInputTokens", 0)),
            sum(int(detail.get("inputTokens", 0)) for detail in details if detail.get("ttl") == "1h"),
        )

    @classmethod
    def from_config(cls, alias: str, entry: dict) -> Model:
        return cls(
            alias=alias,
            model_id=entry["modelId"],
            provider=entry["provider"],
            profile_scope=entry["profileScope"],
            context_window=entry["contextWindow"],
            max_output_tokens=entry.get("maxOutputTokens", 4096),
            input_modalities=frozenset(entry["inputModalities"]),
            languages=frozenset(entry["languages"]),
            price_input_per_1k=entry["pricePer1k"]["input"],
            price_output_per_1k=entry["pricePer1k"]["output"],
            lifecycle=entry["lifecycle"],
            successor=entry.get("successor"),
            features=frozenset(entry.get("capabilities", ())),
            price_cache_read_per_1k=entry["pricePer1k"].get("cacheRead"),
            price_cache_write_per_1k=entry["pricePer1k"].get("cacheWrite"),
            price_cache_write_1h_per_1k=entry["pricePer1k"].get("cacheWrite1h"),
            backend=Backend.from_config(entry.get("backend")),
        )

    def prices(self) -> dict[str, float]:
        """``pricePer1k`` as the catalog writes it: input and output, and the cache prices the model has."""
        prices = {"input": self.price_input_per_1k, "output": self.price_output_per_1k}
        for name, value in (
            ("cacheRead", self.price_cache_read_per_1k),
            ("cacheWrite", self.price_cache_write_per_1k),
            ("cacheWrite1h", self.price_cache_write_1h_per_1k),
        ):
            if value is not None:
                prices[name] = value
        return prices

    def to_config(self) -> dict[str, Any]:
        """The catalog entry this model is read from (``from_config(alias, to_config())`` is the same model): how a
        candidate travels whole through the state machine, catalog entry or not."""
        entry: dict[str, Any] = {
            "modelId": self.model_id,
            "provider": self.provider,
            "profileScope": self.profile_scope,
            "contextWindow": self.context_window,
            "maxOutputTokens": self.max_output_tokens,
            "inputModalities": sorted(self.input_modalities),
            "languages": sorted(self.languages),
            "pricePer1k": self.prices(),
            "lifecycle": self.lifecycle,
            "capabilities": sorted(self.features),
        }
        if self.successor is not None:
            entry["successor"] = self.successor
        if self.backend.kind != "bedrock-on-demand":
            entry["backend"] = self.backend.describe()
        return entry

    def describe(self) -> dict:
        return {
            "alias": self.alias,
            "modelId": self.model_id,
            "invokeId": self.invoke_id,
            "provider": self.provider,
            "profileScope": self.profile_scope,
            "contextWindow": self.context_window,
            "maxOutputTokens": self.max_output_tokens,
            "inputModalities": sorted(self.input_modalities),
            "languages": sorted(self.languages),
            "capabilities": sorted(self.capabilities),
            "pricePer1k": self.prices(),
            "lifecycle": self.lifecycle,
            "successor": self.successor,
            "backend": self.backend.describe(),
        }
