"""Settings for the infrastructure: CDK context plus the gateway configuration file, checked before any construct exists.

Context keys (cdk.json, overridable with ``cdk -c key=value``):
- ``environment`` ("dev"): stack ``FmGateway-<environment>``, API stage and AppConfig environment name;
- ``region`` ("us-east-1"): the stack region (the account comes from CDK_DEFAULT_ACCOUNT, else account-agnostic);
- ``configFile`` ("config/gateway.json"): the gateway configuration deployed to AppConfig;
- ``powertoolsVersion`` ("3.37.0"): version of the Powertools public layer (SSM parameter);
- ``retain`` (true): RETAIN (else DESTROY) tables, key and log groups on stack deletion;
- ``configRollout`` ("allAtOnce" for dev, "linear" otherwise): AppConfig deployment strategy;
- ``configRollbackAlarm`` (true): roll AppConfig deployments back when the API 5xx alarm fires;
- ``alarmEmail`` (unset): if set, alarms notify this address through a KMS-encrypted SNS topic;
- ``orchestratedLogLevel`` ("ERROR"): Step Functions logging of ``POST /v1/chat/orchestrated`` (ERROR or ALL).
- ``vpc`` (false): put the functions in private subnets behind VPC endpoints (``infra/constructs/network.py``);
- ``apiKeySource`` ("authorizer"): how callers present API keys. ``authorizer``: a Lambda REQUEST authorizer accepts
  ``x-api-key`` or ``Authorization: Bearer <key>`` and hands the key to the usage plans (API key source AUTHORIZER);
  ``header``: API Gateway's plain ``x-api-key`` header check, no authorizer (and none of its cost or latency);
- ``reservedConcurrency`` ({}): reserved concurrency per function construct id, e.g. ``{"ApiHandler": 100}`` (a JSON
  string on the command line: ``-c reservedConcurrency='{"ApiHandler": 100}'``); unset functions reserve none.
- ``invocationLogging`` (false) and its options: Bedrock model invocation logging (``infra/invocation_logging_settings.py``).
- ``customization`` (true): the model customization workflow (``infra/constructs/model_customization.py``).

The ``jobs`` section of the configuration sizes the async-jobs pipeline (``JobsSettings``): the worker takes
``WORKER_BATCH_SIZE`` messages per invocation and each job may run for ``jobs.timeouts.requestBudgetSeconds``, so
the synth fails when a full batch plus ``WORKER_MARGIN_SECONDS`` cannot finish within ``WORKER_TIMEOUT_SECONDS``.

Infra never imports the Lambda code (DESIGN): the configuration is validated here, against the same
``schemas/gateway-config.json`` the handlers and the AppConfig validator use, with ``jsonschema``'s Draft4Validator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

from infra.backend_access import DEFAULT_PREFIX, backend_problems, endpoint_prefix
from infra.context_values import ConfigError
from infra.context_values import as_bool as _as_bool
from infra.invocation_logging_settings import DEFAULTS as INVOCATION_LOGGING_DEFAULTS
from infra.invocation_logging_settings import InvocationLoggingSettings, invocation_logging_settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "schemas"
CONFIG_SCHEMA = SCHEMA_DIR / "gateway-config.json"
CDK_JSON = ROOT / "cdk.json"

GEO_SCOPES = ("us", "eu", "apac")
ROLLOUTS = ("linear", "allAtOnce")

DEFAULTS: dict[str, Any] = {
    "environment": "dev",
    "region": "us-east-1",
    "configFile": "config/gateway.json",
    "powertoolsVersion": "3.37.0",
    "retain": True,
    "configRollbackAlarm": True,
    # Powertools Tracer (X-Ray subsegments per AWS call) costs ~100 ms of cold start; Lambda's own active
    # tracing stays on either way. See README "Performance".
    "xraySdk": False,
    # Step Functions logging of the orchestrated route: ERROR (failed executions) or ALL (every state, with data)
    "orchestratedLogLevel": "ERROR",
    "vpc": False,
    "apiKeySource": "authorizer",
    "customization": True,
    **INVOCATION_LOGGING_DEFAULTS,
}
API_KEY_SOURCES = ("authorizer", "header")
# The async-jobs worker: SQS batch size, Lambda timeout (the maximum), and the time a batch needs besides the jobs
# themselves (cold start, idempotency records, result upload, notifications).
WORKER_BATCH_SIZE = 3
WORKER_TIMEOUT_SECONDS = 900
WORKER_MARGIN_SECONDS = 60
# AWS's advice for an SQS event source: a visibility timeout of at least six times the function timeout.
VISIBILITY_TIMEOUT_FACTOR = 6
# Defaults of the jobs section, as the Lambda core applies them when a key is absent.
JOBS_DEFAULTS: dict[str, Any] = {"retentionDays": 7, "maxReceives": 3}
DEFAULT_REQUEST_BUDGET_SECONDS = 26

# Without a configRollout context value: all at once (no bake) for dev, linear with bake time everywhere else.
DEV_ENVIRONMENTS = ("dev",)


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` block of cdk.json. The CDK CLI passes it to the app; ``python app.py`` and tests load it here."""
    return dict(json.loads(path.read_text()).get("context", {}))


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text())


# Settings of older configurations and what replaced them (the same table as
# fmgateway.config.gateway_config.REPLACED_SETTINGS; infra does not import the Lambda code): rejected at synth with
# the way forward, never mapped silently.
REPLACED_SETTINGS = {
    ("circuitBreaker", "failureThreshold"): (
        "replaced by failureRateThreshold (percent of the window's calls, e.g. 50) and minimumCalls (the fewest calls in "
        "the window before the rate counts, e.g. 20): the breaker opens on a failure rate, not a count"
    ),
}


def validate_config(doc: Any, source: str = "config") -> dict[str, Any]:
    """Validate a gateway configuration document against schemas/gateway-config.json (draft-04)."""
    if isinstance(doc, Mapping):
        replaced = [
            f"  {section}/{name}: {message}"
            for (section, name), message in REPLACED_SETTINGS.items()
            if isinstance(doc.get(section), Mapping) and name in doc[section]
        ]
        if replaced:
            raise ConfigError(f"{source} uses settings that were replaced:\n" + "\n".join(replaced))
    validator = Draft4Validator(load_schema(CONFIG_SCHEMA.name))
    errors = sorted(validator.iter_errors(doc), key=lambda err: list(err.absolute_path))
    if errors:
        lines = [f"  {'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}" for err in errors[:20]]
        raise ConfigError(f"{source} does not match {CONFIG_SCHEMA.name}:\n" + "\n".join(lines))
    return doc


def invocable_models(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Models the gateway may call: every configured model whose lifecycle is not ``retired``.

    Retired aliases are always remapped to their successors, so they are never invoked and get no IAM grant. The
    embedding models (``embeddings.models``: /v1/embeddings and InvokeModel embedding bodies) are invoked too.
    """
    models = {**config["models"], **config.get("embeddings", {}).get("models", {})}
    return {alias: model for alias, model in models.items() if model.get("lifecycle", "active") != "retired"}


def tier_candidates(config: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Each tier's candidates as (alias, health key): retired aliases replaced by their successors, as the router does;
    the health key is what the functions name a model in their metrics (``Candidate.health_key``: the inference
    profile id, or the model id in-region)."""
    models = config["models"]
    tiers: dict[str, list[tuple[str, str]]] = {}
    for tier, chain in config["tiers"].items():
        candidates: list[tuple[str, str]] = []
        for alias in chain:
            seen = {alias}
            while models[alias]["lifecycle"] == "retired" and models[alias].get("successor") not in (None, *seen):
                alias = models[alias]["successor"]
                seen.add(alias)
            model = models[alias]
            scope = model["profileScope"]
            key = model["modelId"] if scope == "in-region" else f"{scope}.{model['modelId']}"
            if (alias, key) not in candidates:
                candidates.append((alias, key))
        tiers[tier] = candidates
    return tiers


def router_artifact_objects(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """(bucket, key pattern) the functions may read a difficulty artifact from: the folder of the configured
    ``contentRouting.artifact``, so a newer artifact beside it goes live through AppConfig without a deploy."""
    uri = config.get("contentRouting", {}).get("artifact")
    if not uri:
        return None
    bucket, key = uri[len("s3://") :].split("/", 1)
    folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    return bucket, f"{folder}*" if folder else key


def strategy_problems(config: Mapping[str, Any]) -> list[str]:
    """The routing strategies' cross references (README "Routing strategies"); the Lambdas' own check
    (``fmgateway.config.strategy_checks.config_problems``) says the same at load, with the field path."""
    tiers = config["tiers"]
    problems: list[str] = []
    for tier, settings in config.get("tierStrategies", {}).items():
        if tier not in tiers:
            problems.append(f"tierStrategies names tier '{tier}', which is not configured")
            continue
        for section in ("weights", "quality"):
            for alias in settings.get(section, {}):
                if alias not in tiers[tier]:
                    problems.append(f"tierStrategies.{tier}.{section} names '{alias}', which is not a candidate of tier '{tier}'")
        if settings["strategy"] == "weighted" and not any(weight > 0 for weight in settings.get("weights", {}).values()):
            problems.append(f"tierStrategies.{tier}: strategy 'weighted' needs a weight above 0 for at least one candidate")
        if "minQuality" in settings and not any(
            settings.get("quality", {}).get(alias, 0) >= settings["minQuality"] for alias in tiers[tier]
        ):
            problems.append(f"tierStrategies.{tier}.minQuality: no candidate of tier '{tier}' reaches it")
    return problems


def check_config(config: Mapping[str, Any], region: str) -> None:
    """Cross-field checks JSON Schema cannot express, for a stack deployed in ``region``.

    Every geo-scoped (us/eu/apac) invocable model needs a geography whose ``sourceRegions`` include the stack
    region: a cross-region inference profile can only be called from its source regions.
    """
    models = config["models"]
    geographies = config.get("geographies", {})
    problems: list[str] = []
    for alias, model in invocable_models(config).items():
        scope = model["profileScope"]
        if scope not in GEO_SCOPES:
            continue
        geography = geographies.get(scope)
        if geography is None:
            problems.append(
                f"model '{alias}' ({model['modelId']}) uses profileScope '{scope}' but geographies.{scope} is not configured"
            )
        elif region not in geography["sourceRegions"]:
            problems.append(
                f"model '{alias}' ({model['modelId']}) uses the '{scope}' inference profile, which cannot be called from "
                f"{region} (geographies.{scope}.sourceRegions: {', '.join(geography['sourceRegions'])})"
            )
    for alias, model in models.items():
        successor = model.get("successor")
        if successor is not None and successor not in models:
            problems.append(f"model '{alias}' names successor '{successor}', which is not a configured model")
    for tier, chain in config["tiers"].items():
        for alias in chain:
            if alias not in models:
                problems.append(f"tier '{tier}' names model '{alias}', which is not configured")
    problems.extend(strategy_problems(config))
    if not invocable_models(config):
        problems.append("every configured model is retired: nothing can be invoked")
    if problems:
        raise ConfigError(f"gateway configuration cannot be deployed to {region}:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class JobsSettings:
    """Sizing of the async-jobs pipeline, from the configuration's ``jobs`` section."""

    retention_days: int
    max_receives: int
    request_budget_seconds: float
    batch_size: int = WORKER_BATCH_SIZE
    worker_timeout_seconds: int = WORKER_TIMEOUT_SECONDS

    @property
    def visibility_timeout_seconds(self) -> int:
        return VISIBILITY_TIMEOUT_FACTOR * self.worker_timeout_seconds


def jobs_settings(
    config: Mapping[str, Any],
    *,
    batch_size: int = WORKER_BATCH_SIZE,
    worker_timeout_seconds: int = WORKER_TIMEOUT_SECONDS,
) -> JobsSettings:
    """Read the ``jobs`` section (the core's defaults fill the gaps) and check that a worker batch fits its timeout.

    Without ``jobs.timeouts`` the worker runs jobs with the top-level ``timeouts``, as the core does.
    """
    jobs = {**JOBS_DEFAULTS, **config.get("jobs", {})}
    timeouts = jobs.get("timeouts") or config.get("timeouts", {})
    budget = timeouts.get("requestBudgetSeconds", DEFAULT_REQUEST_BUDGET_SECONDS)
    needed = batch_size * budget + WORKER_MARGIN_SECONDS
    if needed > worker_timeout_seconds:
        most = (worker_timeout_seconds - WORKER_MARGIN_SECONDS) / batch_size
        raise ConfigError(
            f"jobs worker: a batch of {batch_size} jobs of up to {budget:g} s each (jobs.timeouts.requestBudgetSeconds) "
            f"plus {WORKER_MARGIN_SECONDS} s needs {needed:g} s, more than the worker timeout of {worker_timeout_seconds} s; "
            f"lower jobs.timeouts.requestBudgetSeconds to at most {most:g}"
        )
    return JobsSettings(
        retention_days=int(jobs["retentionDays"]),
        max_receives=int(jobs["maxReceives"]),
        request_budget_seconds=budget,
        batch_size=batch_size,
        worker_timeout_seconds=worker_timeout_seconds,
    )


def _reserved_concurrency(value: Any) -> dict[str, int]:
    """``reservedConcurrency``: a mapping (or its JSON text) of function construct id -> reserved executions (>= 1).

    Zero is refused: a function with zero reserved concurrency is throttled on every invocation.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ConfigError(f"context 'reservedConcurrency' is not valid JSON: {err}") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"context 'reservedConcurrency' must map function names to integers, got {value!r}")
    reserved: dict[str, int] = {}
    for name, count in value.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"context 'reservedConcurrency': {name} must be an integer of at least 1, got {count!r}")
        reserved[str(name)] = count
    return reserved


@dataclass(frozen=True)
class Settings:
    environment: str
    region: str
    config_file: Path
    config: dict[str, Any] = field(repr=False)
    powertools_version: str
    retain: bool
    config_rollout: str
    config_rollback_alarm: bool
    jobs: JobsSettings
    alarm_email: str | None = None
    xray_sdk: bool = False
    orchestrated_log_level: str = "ERROR"
    vpc: bool = False
    reserved_concurrency: dict[str, int] = field(default_factory=dict)
    api_key_source: str = "authorizer"
    invocation_logging: InvocationLoggingSettings | None = None  # None: off (the default)
    sagemaker_endpoint_prefix: str = DEFAULT_PREFIX  # infra/backend_access.py
    customization: bool = True  # the model customization workflow

    @property
    def stack_name(self) -> str:
        return f"FmGateway-{self.environment}"

    @property
    def resource_prefix(self) -> str:
        return f"fm-gateway-{self.environment}"


def load_settings(context: Mapping[str, Any]) -> Settings:
    """Build and check the settings from CDK context values (``DEFAULTS`` fill the gaps)."""

    def get(key: str) -> Any:
        value = context.get(key)
        return DEFAULTS.get(key) if value is None else value

    environment = str(get("environment"))
    if not environment.replace("-", "").isalnum() or not environment[:1].isalpha() or len(environment) > 32:
        raise ConfigError(f"context 'environment' must be letters, digits and '-', starting with a letter: {environment!r}")
    region = str(get("region"))
    rollout = str(get("configRollout") or ("allAtOnce" if environment in DEV_ENVIRONMENTS else "linear"))
    if rollout not in ROLLOUTS:
        raise ConfigError(f"context 'configRollout' must be one of {', '.join(ROLLOUTS)}, got {rollout!r}")
    config_file = Path(str(get("configFile")))
    if not config_file.is_absolute():
        config_file = ROOT / config_file
    if not config_file.is_file():
        raise ConfigError(f"context 'configFile': {config_file} does not exist")
    try:
        doc = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{config_file} is not valid JSON: {err}") from None
    config = validate_config(doc, source=str(config_file))
    check_config(config, region)
    prefix = endpoint_prefix(context)
    if problems := backend_problems(config, region, prefix, context.get("account")):
        raise ConfigError(f"{config_file}: " + "; ".join(problems))
    jobs = jobs_settings(config)
    api_key_source = str(get("apiKeySource"))
    if api_key_source not in API_KEY_SOURCES:
        raise ConfigError(f"context 'apiKeySource' must be one of {', '.join(API_KEY_SOURCES)}, got {api_key_source!r}")
    email = context.get("alarmEmail")
    return Settings(
        environment=environment,
        region=region,
        config_file=config_file,
        config=config,
        powertools_version=str(get("powertoolsVersion")),
        retain=_as_bool(get("retain"), "retain"),
        config_rollout=rollout,
        config_rollback_alarm=_as_bool(get("configRollbackAlarm"), "configRollbackAlarm"),
        jobs=jobs,
        alarm_email=str(email) if email else None,
        xray_sdk=_as_bool(get("xraySdk"), "xraySdk"),
        orchestrated_log_level=_log_level(get("orchestratedLogLevel")),
        vpc=_as_bool(get("vpc"), "vpc"),
        reserved_concurrency=_reserved_concurrency(context.get("reservedConcurrency")),
        api_key_source=api_key_source,
        invocation_logging=invocation_logging_settings(context),
        sagemaker_endpoint_prefix=prefix,
        customization=_as_bool(get("customization"), "customization"),
    )


def _log_level(value: Any) -> str:
    level = str(value).upper()
    if level not in ("ERROR", "ALL"):
        raise ConfigError(f"context 'orchestratedLogLevel' must be ERROR or ALL, got {value!r}")
    return level
