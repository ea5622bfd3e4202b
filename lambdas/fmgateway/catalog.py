"""Model catalog: what each alias is, what it can do, what it costs, and where it is in its lifecycle."""

from __future__ import annotations

from typing import NamedTuple


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

    @property
    def invoke_id(self) -> str:
        """The id sent to Bedrock: the cross-region inference profile, or the model id in-region."""
        return self.model_id if self.profile_scope == "in-region" else f"{self.profile_scope}.{self.model_id}"

    def speaks(self, language: str) -> bool:
        return "*" in self.languages or language in self.languages

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        cost = input_tokens / 1000 * self.price_input_per_1k + output_tokens / 1000 * self.price_output_per_1k
        return round(cost, 10)  # 1e-10 USD: exact for per-token prices, free of float noise

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
        )

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
            "pricePer1k": {"input": self.price_input_per_1k, "output": self.price_output_per_1k},
            "lifecycle": self.lifecycle,
            "successor": self.successor,
        }


class Catalog:
    def __init__(self, models: dict[str, Model]):
        self.models = models
        self._by_id: dict[str, Model] = {}
        for model in models.values():
            self._by_id.setdefault(model.model_id, model)
            self._by_id.setdefault(model.invoke_id, model)

    def find(self, name: str) -> Model | None:
        """An alias, a Bedrock model id, or an inference profile id."""
        return self.models.get(name) or self._by_id.get(name)

    def current(self, model: Model) -> tuple[Model, list[str]]:
        """Follow ``successor`` from a retired model to a usable one; returns it and the aliases passed."""
        passed: list[str] = []
        while model.lifecycle == "retired" and model.successor:
            passed.append(model.alias)
            model = self.models[model.successor]
        return model, passed
