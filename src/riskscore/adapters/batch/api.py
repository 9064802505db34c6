"""The library facade: ``riskscore.rescore(source, ...)`` streams outcomes in input order.

```python
import riskscore

for outcome in riskscore.rescore("applications.jsonl", model_version="V2", workers=2):
    if isinstance(outcome, riskscore.rescore.RescoreFailure):
        print(outcome.index, outcome.type, outcome.detail)
    else:
        print(outcome.index, outcome.policy_number, outcome.risk_score, outcome.risk_class)
```

Everything is set up (settings read, model loaded, source opened) when ``rescore`` is called, so a
wrong version or a missing file raises at once; scoring happens while the iterator is consumed, a
few chunks ahead of the consumer at most.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from riskscore.adapters.batch.jobs import OutcomesJob, decode_outcomes
from riskscore.adapters.batch.runner import (
    Chunk,
    ChunkRunner,
    RunSpec,
    default_workers,
    evidence_chunks,
    stored_chunks,
)
from riskscore.adapters.batch.sources import (
    BatchedSource,
    ConnectionFactory,
    RescoreSource,
    looks_like_query,
    open_source,
)
from riskscore.domain.usecases.ids import new_prediction_id
from riskscore.domain.usecases.rescore import RescoreOutcome
from riskscore.ports.feature_store import FeatureStore
from riskscore.ports.model_registry import ModelRegistry, ScoringModel
from riskscore.settings import Settings, load_settings

if TYPE_CHECKING:
    from riskscore.container import Container

DEFAULT_BATCH_SIZE = 1000


def new_batch_run_id(now: dt.datetime) -> str:
    """``rescore-<uuid7>``: sortable by start time, unique per run."""
    return f"rescore-{new_prediction_id(now)}"


def load_models(
    registry: ModelRegistry, name: str, versions: Sequence[str | None]
) -> tuple[ScoringModel, ...]:
    """Each version (None: the default) loaded once; raises the registry's ``ModelNotFound``."""
    return tuple(registry.load(name, version) for version in versions)


class Resources:
    """What a run opened for itself (and closes), plus the container it built them with."""

    def __init__(self, settings: Settings) -> None:
        from riskscore.container import build_container

        self.settings = settings
        self.container: Container = build_container(settings)
        self._owned: list[Any] = []

    def registry(self, given: ModelRegistry | None) -> ModelRegistry:
        if given is not None:
            return given
        registry: ModelRegistry = self.container.model_registry()
        return registry

    def source(
        self,
        source: object,
        *,
        feature_store: FeatureStore | None,
        connections: ConnectionFactory | None,
    ) -> RescoreSource:
        if source == "feature-store" and feature_store is None:
            feature_store = self.container.feature_store()
            self._owned.append(feature_store)
        if isinstance(source, str) and looks_like_query(source) and connections is None:
            from riskscore.adapters.snowflake import snowflake_connection_factory

            connections = snowflake_connection_factory(self.settings)
        return open_source(source, feature_store=feature_store, connections=connections)

    def close(self) -> None:
        owned, self._owned = self._owned, []
        for resource in owned:
            resource.close()


def rescore(
    source: object,
    *,
    model_version: str | None = None,
    as_of: dt.date | None = None,
    workers: int | None = None,
    registry: ModelRegistry | None = None,
    settings: Settings | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    explain: int | None = None,
    batch_run_id: str | None = None,
    feature_store: FeatureStore | None = None,
    connections: ConnectionFactory | None = None,
) -> Iterator[RescoreOutcome]:
    """Re-score every application of ``source`` with one model version; outcomes in input order.

    ``source``: a ``RescoreSource``, a ``riskscore generate`` directory, a JSON Lines file, a
    ``FeatureStore`` (or ``"feature-store"`` for the configured one), a ``SELECT`` for the configured
    Snowflake account, or an iterable of requests/mappings (see ``sources.open_source``).
    ``model_version``: None for the registry's default. ``as_of``: re-score every application as of
    this date (stored vectors computed as of another date are refused per row); None keeps each
    application's own. ``workers``: processes (None: one per core, 1: in this process).
    ``explain``: reason codes per result (default ``settings.reason_codes``, the real-time value).
    Yields ``RescoreResult`` and ``RescoreFailure`` (a bad row never stops the run).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if workers is not None and workers < 1:
        raise ValueError("workers must be >= 1")
    settings = settings if settings is not None else load_settings()
    resources = Resources(settings)
    try:
        models = load_models(resources.registry(registry), settings.model_name, [model_version])
        opened = resources.source(source, feature_store=feature_store, connections=connections)
    except BaseException:
        resources.close()
        raise
    now = dt.datetime.now(dt.UTC)
    spec = RunSpec(
        settings=settings,
        models=models,
        batch_run_id=batch_run_id or new_batch_run_id(now),
        run_started_at=now,
        thresholds=resources.container.thresholds(),
        explain=settings.reason_codes if explain is None else explain,
        as_of=as_of,
    )
    count = default_workers() if workers is None else workers
    runner = ChunkRunner(spec, OutcomesJob(packed=count > 1), workers=count)
    return _outcomes(runner, opened, batch_size, resources)


def _outcomes(
    runner: ChunkRunner[Any], source: RescoreSource, batch_size: int, resources: Resources
) -> Iterator[RescoreOutcome]:
    try:
        for _, _, data in runner.run(_chunks(runner, source, batch_size)):
            yield from decode_outcomes(data)
    finally:
        resources.close()


def _chunks(runner: ChunkRunner[Any], source: RescoreSource, batch_size: int) -> Iterator[Chunk]:
    if isinstance(source, BatchedSource):
        return stored_chunks(source, runner.feature_rows(batch_size))
    return evidence_chunks(source, batch_size)
