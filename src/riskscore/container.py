"""The composition root: one dependency-injector container that builds every adapter from ``Settings``.

Selectors pick the adapters from the settings:

- ``backend``: ``local`` gives the SQLite feature store and prediction log on ``settings.sqlite_path``
  (migrations applied when they open); ``snowflake`` gives the Snowflake ones, imported only when
  selected, so the embedded setup never imports the Snowflake connector.
- ``model_client``: ``inprocess`` serves the registry's default model in this process
  (``ServingModel`` over ``LocalFsModelRegistry``, polled for promotions); ``http`` talks to the model
  service at ``settings.model_url`` (retries, timeout and circuit breaker from the settings).

Lifecycles are ``Resource`` providers: the audit trail starts (replaying an earlier process's
undelivered entries), and at shutdown drains then closes; the model client (and the ``ServingModel``
behind an in-process one) starts and closes. ``await container.init_resources()`` /
``await container.shutdown_resources()`` run them; the API's lifespan does that.

Tests swap adapters with ``container.<provider>.override(fake)``: an overridden resource is never
initialised, so a test with a fake model client needs no registry.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from riskscore.adapters.system_clock import SystemClock
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.extract import extract_features
from riskscore.domain.scoring import RiskClassThresholds
from riskscore.domain.usecases.score_policy import ScorePolicy
from riskscore.ports.audit_trail import AuditTrail
from riskscore.ports.evidence_parser import EvidenceParser
from riskscore.ports.feature_store import FeatureStore
from riskscore.ports.model_client import ModelClient
from riskscore.ports.model_registry import ModelRegistry
from riskscore.ports.prediction_log import PredictionLog
from riskscore.settings import Settings, load_settings

_OPTIONAL_INTEGRATIONS = ("fastapi", "starlette", "werkzeug", "yaml")
"""What dependency-injector imports, if installed, for features riskscore does not use: its wiring
recognises those web frameworks' markers in ``@inject``ed functions (riskscore wires nothing: every
provider is called explicitly), and ``Configuration`` reads YAML (riskscore's settings are its own).
FastAPI with pydantic cost 0.35-0.55 s to import (measured with bytecode compiled; more without),
PyYAML 10-20 ms: every ``riskscore`` command, server process and library import paid that on a
machine that has them. (Not pydantic itself: dependency-injector's compiled module would take a
hidden pydantic for the real one and fail.)"""


@contextmanager
def _hidden(names: tuple[str, ...]) -> Iterator[None]:
    """While in the block, importing one of ``names`` fails (ImportError), unless it is imported
    already; afterwards it imports as usual."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import of <name> halted"
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


with _hidden(_OPTIONAL_INTEGRATIONS):
    from dependency_injector import containers, providers

if TYPE_CHECKING:
    from riskscore.adapters.treemodel.serving import ServingModel

T = TypeVar("T")

DRAIN_TIMEOUT_S = 10.0
"""How long shutdown waits for the audit trail to deliver; what is left is replayed at next start."""


def _lxml_parser(settings: Settings) -> EvidenceParser:
    from riskscore.adapters.lxml import LxmlEvidenceParser

    return LxmlEvidenceParser(max_bytes=settings.max_xml_bytes, max_depth=settings.max_xml_depth)


def _thresholds(settings: Settings) -> RiskClassThresholds:
    return RiskClassThresholds(
        preferred=settings.threshold_preferred,
        standard=settings.threshold_standard,
        substandard=settings.threshold_substandard,
    )


def _sqlite_feature_store(settings: Settings) -> FeatureStore:
    from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore

    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteFeatureStore(settings.sqlite_path)


def _sqlite_prediction_log(settings: Settings) -> PredictionLog:
    from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog

    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return SqlitePredictionLog(settings.sqlite_path)


def _snowflake_feature_store(settings: Settings) -> FeatureStore:
    from riskscore.adapters.snowflake import snowflake_feature_store

    return snowflake_feature_store(settings)


def _snowflake_prediction_log(settings: Settings) -> PredictionLog:
    from riskscore.adapters.snowflake import snowflake_prediction_log

    return snowflake_prediction_log(settings)


def _journal_dir(settings: Settings) -> Path:
    return settings.journal_dir


def _audit_trail(
    settings: Settings,
    journal_dir: Path,
    feature_store: FeatureStore,
    prediction_log: PredictionLog,
) -> Iterator[AuditTrail]:
    from riskscore.adapters.localfs.audit_trail import JournaledAuditTrail

    trail = JournaledAuditTrail.in_slot(  # one journal per process: `serve --workers N`
        journal_dir,
        feature_store,
        prediction_log,
        workers=settings.workers,
        batch_size=settings.audit_batch_size,
        flush_interval_s=settings.audit_flush_interval_s,
        fsync=settings.audit_fsync,
    )
    trail.start()
    try:
        yield trail
    finally:
        try:
            trail.drain(DRAIN_TIMEOUT_S)
        finally:
            trail.close()


def _model_registry(settings: Settings) -> ModelRegistry:
    from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry

    return LocalFsModelRegistry(settings.registry_dir, expected_schema_version=SCHEMA.version)


def _serving_model(settings: Settings, registry: ModelRegistry) -> ServingModel:
    from riskscore.adapters.treemodel.serving import ServingModel

    return ServingModel(registry, schema=SCHEMA, model_name=settings.model_name)


def _inprocess_client(serving: ServingModel) -> ModelClient:
    from riskscore.adapters.treemodel.inprocess_client import InProcessModelClient

    return InProcessModelClient(serving)


def _http_client(settings: Settings) -> ModelClient:
    from riskscore.adapters.httpx.model_client import HttpxModelClient

    return HttpxModelClient(
        settings.model_url,
        timeout_s=settings.model_timeout_s,
        retries=settings.model_retries,
        breaker_failures=settings.breaker_failures,
        breaker_reset_s=settings.breaker_reset_s,
        explain=settings.reason_codes,
        http_transport=settings.model_http_transport,
    )


async def _model_client(
    client: ModelClient, serving: ServingModel | None
) -> AsyncIterator[ModelClient]:
    """Start the served model (in-process mode) before the client is used; close both after."""
    if serving is not None:
        serving.start()
    try:
        yield client
    finally:
        try:
            await client.aclose()
        finally:
            if serving is not None:
                serving.stop()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    parser = providers.Singleton(_lxml_parser, settings)
    extract = providers.Object(extract_features)
    thresholds = providers.Singleton(_thresholds, settings)

    feature_store = providers.Selector(
        settings.provided.backend,
        local=providers.Singleton(_sqlite_feature_store, settings),
        snowflake=providers.Singleton(_snowflake_feature_store, settings),
    )
    prediction_log = providers.Selector(
        settings.provided.backend,
        local=providers.Singleton(_sqlite_prediction_log, settings),
        snowflake=providers.Singleton(_snowflake_prediction_log, settings),
    )
    journal_dir = providers.Callable(_journal_dir, settings)
    audit_trail = providers.Resource(
        _audit_trail, settings, journal_dir, feature_store, prediction_log
    )

    model_registry = providers.Singleton(_model_registry, settings)
    serving_model = providers.Singleton(_serving_model, settings, model_registry)
    model_client_impl = providers.Selector(
        settings.provided.model_client,
        inprocess=providers.Singleton(_inprocess_client, serving_model),
        http=providers.Singleton(_http_client, settings),
    )
    served_model = providers.Selector(
        settings.provided.model_client,
        inprocess=serving_model,
        http=providers.Object(None),
    )
    model_client = providers.Resource(_model_client, model_client_impl, served_model)

    score_policy = providers.Singleton(
        ScorePolicy,
        parser=parser,
        extract=extract,
        model_client=model_client,
        audit_trail=audit_trail,
        clock=clock,
        thresholds=thresholds,
        explain=settings.provided.reason_codes,
    )


def build_container(settings: Settings | None = None) -> Container:
    """The container for ``settings`` (default: read from the ``RISKSCORE_*`` environment now)."""
    return Container(settings=settings if settings is not None else load_settings())


async def start(container: Container) -> None:
    """Initialise every (non-overridden) resource: sync ones at once, async ones awaited."""
    pending = container.init_resources()
    if inspect.isawaitable(pending):
        await pending


async def stop(container: Container) -> None:
    """Shut the resources down (audit trail drained and closed, model client closed)."""
    pending = container.shutdown_resources()
    if inspect.isawaitable(pending):
        await pending


async def resolve(provider: Any, expected: type[T]) -> T:
    """Call a provider, awaiting it when it is async (it depends on an async resource)."""
    value = provider()
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, expected):
        raise TypeError(f"the container gave {type(value).__name__}, not {expected.__name__}")
    return value
