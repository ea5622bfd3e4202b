"""Model catalog: what each alias is, what it can do, what it costs, and where it is in its lifecycle."""

from __future__ import annotations

from fmgateway.values.model import Model


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
