"""The embedding models of the catalog (config ``embeddings``): what each alias is, its vector space, dimensions,
batch and input limits, price, and the routes (fallback chains) that serve ``/v1/embeddings``.

A vector is only comparable with vectors of the same embedding space, so a chain never crosses spaces: the
configuration is refused when a route mixes them, and an explicit model falls back only to models of its own space.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fmgateway.values.errors import ConfigError
from fmgateway.values.model import Model

FAMILIES = {"amazon.titan-embed-text": "titan-embed", "cohere.embed": "cohere-embed"}


class EmbeddingModel(NamedTuple):
    model: Model  # the catalog view the candidate loop, breaker and cost accounting take
    space: str  # vectors of one space are comparable; fallback never leaves it
    family: str  # titan-embed | cohere-embed: the native body it takes
    dimensions: tuple[int, ...]
    default_dimensions: int
    max_input_tokens: int
    max_input_chars: int
    max_batch: int  # texts per call

    @property
    def alias(self) -> str:
        return self.model.alias

    def describe(self) -> dict[str, Any]:
        return {
            **self.model.describe(),
            "kind": "embedding",
            "embeddingSpace": self.space,
            "dimensions": list(self.dimensions),
            "defaultDimensions": self.default_dimensions,
            "maxInputTokens": self.max_input_tokens,
            "maxInputChars": self.max_input_chars,
            "maxBatch": self.max_batch,
        }

    @classmethod
    def from_config(cls, alias: str, entry: dict[str, Any]) -> EmbeddingModel:
        family = next((name for prefix, name in FAMILIES.items() if entry["modelId"].startswith(prefix)), None)
        if family is None:
            raise ConfigError(f"config.embeddings.models.{alias}.modelId: no embedding body is known for '{entry['modelId']}'")
        dimensions = tuple(entry["dimensions"])
        default = entry.get("defaultDimensions", max(dimensions))
        if default not in dimensions:
            raise ConfigError(f"config.embeddings.models.{alias}.defaultDimensions: {default} is not one of {list(dimensions)}")
        model = Model(
            alias=alias,
            model_id=entry["modelId"],
            provider=entry["provider"],
            profile_scope=entry["profileScope"],
            context_window=entry["maxInputTokens"],
            max_output_tokens=1,
            input_modalities=frozenset({"text"}),
            languages=frozenset(entry.get("languages", ["*"])),
            price_input_per_1k=entry["pricePer1k"]["input"],
            price_output_per_1k=0.0,
            lifecycle=entry.get("lifecycle", "active"),
            successor=None,
        )
        return cls(
            model,
            entry["embeddingSpace"],
            family,
            dimensions,
            default,
            entry["maxInputTokens"],
            entry.get("maxInputChars", entry["maxInputTokens"] * 4),
            entry.get("maxBatch", 1),
        )


class EmbeddingCatalog:
    def __init__(self, models: dict[str, EmbeddingModel], routes: dict[str, tuple[str, ...]], default_route: str | None):
        self.models, self.routes, self.default_route = models, routes, default_route
        self._by_id: dict[str, EmbeddingModel] = {}
        for entry in models.values():
            self._by_id.setdefault(entry.model.model_id, entry)
            self._by_id.setdefault(entry.model.invoke_id, entry)

    def find(self, name: str) -> EmbeddingModel | None:
        """An alias, a Bedrock model id or an inference profile id."""
        return self.models.get(name) or self._by_id.get(name)

    def chain(self, name: str) -> tuple[str, list[EmbeddingModel]] | None:
        """The route name and its ordered models for a route name, or a model (first) and the rest of its space."""
        if name in self.routes:
            return name, [self.models[alias] for alias in self.routes[name]]
        requested = self.find(name)
        if requested is None:
            return None
        same_space = [entry for entry in self.models.values() if entry.space == requested.space and entry is not requested]
        return requested.alias, [requested, *(entry for entry in same_space if entry.model.lifecycle != "retired")]


def parse(section: dict[str, Any] | None) -> EmbeddingCatalog:
    """The ``embeddings`` section (already schema-checked); ``ConfigError`` names a bad reference or a mixed route."""
    section = section or {}
    models = {alias: EmbeddingModel.from_config(alias, entry) for alias, entry in section.get("models", {}).items()}
    routes: dict[str, tuple[str, ...]] = {}
    for name, chain in section.get("routes", {}).items():
        for index, alias in enumerate(chain):
            if alias not in models:
                raise ConfigError(f"config.embeddings.routes.{name}[{index}]: unknown embedding model '{alias}'")
        spaces = {models[alias].space for alias in chain}
        if len(spaces) > 1:
            raise ConfigError(
                f"config.embeddings.routes.{name}: mixes embedding spaces {sorted(spaces)}; vectors of different spaces "
                "are not comparable, so a route (a fallback chain) must stay within one"
            )
        routes[name] = tuple(chain)
    default = section.get("defaultRoute")
    if default is not None and default not in routes:
        raise ConfigError(f"config.embeddings.defaultRoute: unknown route '{default}'")
    return EmbeddingCatalog(models, routes, default)
