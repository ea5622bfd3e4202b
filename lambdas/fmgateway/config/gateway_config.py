"""Gateway configuration: validation (schema + cross references) and the sources it is read from.

Lambdas read the document from AppConfig through Powertools parameters (cached in memory, so changes go
live within ``APPCONFIG_MAX_AGE`` seconds with no per-request AppConfig call); tests and local mode read
``config/gateway.json``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from fmgateway.config import embedding_catalog, schemas, strategy_checks
from fmgateway.config.catalog import Catalog
from fmgateway.values import backends
from fmgateway.values.backends import Allowed
from fmgateway.values.errors import ConfigError
from fmgateway.values.model import Model

TIERS = ("simple", "medium", "complex")
APPCONFIG_MAX_AGE = 45  # seconds; DESIGN: config changes live within 60 s


class GatewayConfig(NamedTuple):
    raw: dict[str, Any]
    catalog: Catalog
    tiers: dict[str, tuple[str, ...]]
    routes: dict[str, str]
    breaker: dict[str, Any]
    content_routing: dict[str, Any]
    embeddings: embedding_catalog.EmbeddingCatalog = embedding_catalog.EmbeddingCatalog({}, {}, None)

    @property
    def version(self) -> str:
        return self.raw["version"]

    def section(self, name: str) -> dict[str, Any]:
        return self.raw.get(name, {})

    @property
    def default_max_tokens(self) -> int:
        return self.section("defaults").get("maxTokens", 1024)

    @property
    def default_route(self) -> str:
        return self.section("defaults").get("route", "auto")

    @property
    def log_prompts(self) -> bool:
        return self.section("logging").get("logPrompts", False)

    @property
    def max_request_bytes(self) -> int:
        return self.section("limits").get("maxRequestBytes", 262144)

    @property
    def s3_input_buckets(self) -> frozenset[str]:
        """Buckets whose objects image/document blocks may reference (``source.s3Location``)."""
        return frozenset(self.section("limits").get("s3InputBuckets", ()))


# Settings that no longer exist, and what replaced them: rejected with this message rather than silently mapped, because
# a count cannot be turned into a rate without knowing the traffic (README "Circuit breaker: migration").
REPLACED_SETTINGS = {
    ("circuitBreaker", "failureThreshold"): (
        "replaced by failureRateThreshold (percent of the window's calls, e.g. 50) and minimumCalls (the fewest calls in "
        "the window before the rate counts, e.g. 20): the breaker opens on a failure rate, not a count"
    ),
}


def replaced_settings(doc: Any) -> list[str]:
    """One message per setting of an older configuration that must be replaced."""
    if not isinstance(doc, Mapping):
        return []
    return [
        f"config.{section}.{name}: {message}"
        for (section, name), message in REPLACED_SETTINGS.items()
        if isinstance(doc.get(section), Mapping) and name in doc[section]
    ]


def parse_config(doc: Any, allowed: Allowed = Allowed()) -> GatewayConfig:
    """Validate ``doc`` and build the runtime view; ``ConfigError`` names the first bad field. ``allowed``: the
    backends this deployment's IAM lets it invoke (an ARN or endpoint outside them is refused here, not at the call)."""
    if replaced := replaced_settings(doc):
        raise ConfigError(replaced[0])
    schemas.validate("gateway-config", doc, root="config", error=ConfigError)
    models = {alias: Model.from_config(alias, entry) for alias, entry in doc["models"].items()}
    for alias, model in models.items():
        where = f"config.models.{alias}.backend"
        if problem := backends.problem(model.backend, where) or allowed.refusal(model.backend, where):
            raise ConfigError(problem)

    for alias, model in models.items():
        if model.successor is not None and model.successor not in models:
            raise ConfigError(f"config.models.{alias}.successor: unknown model '{model.successor}'")
        if model.lifecycle == "retired" and model.successor is None:
            raise ConfigError(f"config.models.{alias}.successor: a retired model needs a successor")
        seen = {alias}
        current = model
        while current.lifecycle == "retired":
            current = models[current.successor]
            if current.alias in seen:
                raise ConfigError(f"config.models.{alias}.successor: successor chain loops back to '{current.alias}'")
            seen.add(current.alias)

    for alias, entry in doc["models"].items():
        customization = entry.get("customization") or {}
        if "DISTILLATION" in customization.get("types", ()) and not customization.get("teachers"):
            raise ConfigError(f"config.models.{alias}.customization.teachers: DISTILLATION needs the teachers Bedrock accepts")
        for index, teacher in enumerate(customization.get("teachers", ())):
            if teacher not in models:
                raise ConfigError(f"config.models.{alias}.customization.teachers[{index}]: unknown model '{teacher}'")

    for tier, chain in doc["tiers"].items():
        for index, alias in enumerate(chain):
            if alias not in models:
                raise ConfigError(f"config.tiers.{tier}[{index}]: unknown model '{alias}'")
    for path, tier in doc["routes"].items():
        if tier not in doc["tiers"]:
            raise ConfigError(f"config.routes.{path}: unknown tier '{tier}'")
    shares = doc.get("contentRouting", {}).get("shares")
    if shares and shares["medium"] + shares["complex"] > 1:
        raise ConfigError("config.contentRouting.shares: medium + complex must not exceed 1 (simple takes the rest)")
    content_routing = doc.get("contentRouting", {})
    classifier_model = content_routing.get("classifier", {}).get("model")
    if classifier_model is not None and classifier_model not in models:
        raise ConfigError(f"config.contentRouting.classifier.model: unknown model '{classifier_model}'")
    if content_routing.get("mode") == "classifier" and classifier_model is None:
        raise ConfigError("config.contentRouting.classifier: mode 'classifier' needs classifier.model")

    problems = strategy_checks.config_problems(doc)
    if problems:
        raise ConfigError(problems[0])

    return GatewayConfig(
        raw=doc,
        catalog=Catalog(models),
        tiers={tier: tuple(chain) for tier, chain in doc["tiers"].items()},
        routes=dict(doc["routes"]),
        breaker={
            "failureRateThreshold": 50,
            "minimumCalls": 20,
            "maxKeyShare": 1.0,
            "windowSeconds": 60,
            "cooldownSeconds": 30,
            "halfOpenMaxProbes": 1,
            "successesToClose": 2,
            "probeLeaseSeconds": 30,
            "stateCacheSeconds": 2,
            **doc["circuitBreaker"],
            "health": dict(doc.get("health", {})),  # the health window's settings travel with the breaker's
        },
        content_routing=doc.get("contentRouting", {}),
        embeddings=embedding_catalog.parse(doc.get("embeddings")),
    )


def load_file(path: str | Path, allowed: Allowed = Allowed()) -> GatewayConfig:
    return parse_config(json.loads(Path(path).read_text()), allowed)


class ConfigSource(Protocol):
    def get(self) -> GatewayConfig: ...


class FileConfigSource:
    """Reads a JSON file; re-reads it when its modification time changes (checked at most once a second).

    A file that turns invalid (bad JSON, a schema error, half-written, deleted) is logged once and the
    last good configuration stays in force, as with AppConfig; only the first read must succeed."""

    def __init__(self, path: str | Path, clock=time.monotonic, allowed: Allowed = Allowed()):
        self.path = Path(path)
        self.allowed = allowed
        self._clock = clock
        self._lock = threading.Lock()
        self._config: GatewayConfig | None = None
        self._mtime = 0.0
        self._checked = float("-inf")

    def get(self) -> GatewayConfig:
        now = self._clock()
        if self._config is not None and now - self._checked < 1.0:
            return self._config
        with self._lock:
            self._checked = now
            if self._config is None:
                self._mtime = self.path.stat().st_mtime
                self._config = load_file(self.path, self.allowed)
                return self._config
            try:
                mtime = self.path.stat().st_mtime
                if mtime != self._mtime:
                    self._mtime = mtime  # first: a bad version is reported once, not every second
                    self._config = load_file(self.path, self.allowed)
            except (OSError, ValueError) as exc:  # ConfigError and json's JSONDecodeError are ValueErrors
                logging.getLogger(__name__).error(
                    "ignoring invalid configuration file %s; keeping version %s: %s", self.path, self._config.version, exc
                )
            return self._config
