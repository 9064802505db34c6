"""The adapters the store contract suites run against, as ``(id, factory)`` pairs.

A factory takes a fresh directory and returns a context manager yielding a ready store (closed on
exit). Factories of the two ports with the same id given the same directory must point at the same
storage location (the SQLite ones share one file), so the suites can check the stores coexist.

To run the suites against another adapter, append a pair to each list, e.g. from the Snowflake
package: ``FEATURE_STORE_FACTORIES.append(("snowflake", snowflake_feature_store))``.

Optional capability: ``FEATURE_STORE_OUTAGES[id]`` / ``PREDICTION_LOG_OUTAGES[id]`` is a context manager ``(store, directory)`` during which the
store's *writes* fail with its retryable ``...Unavailable`` error; adapters without one skip that test.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

from riskscore.adapters.memory.feature_store import InMemoryFeatureStore, SupportsOutage
from riskscore.adapters.memory.prediction_log import InMemoryPredictionLog
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord, PredictionRecord, ReasonCode, RiskClass
from riskscore.ports.feature_store import FeatureStore, FeatureStoreUnavailable
from riskscore.ports.prediction_log import PredictionLog, PredictionLogUnavailable

FeatureStoreFactory = Callable[[Path], AbstractContextManager[FeatureStore]]
PredictionLogFactory = Callable[[Path], AbstractContextManager[PredictionLog]]
Outage = Callable[[object, Path], AbstractContextManager[None]]

SQLITE_FILE = "riskscore.sqlite3"
SQLITE_BUSY_S = 0.1  # short, so the lock-based outage fails fast


S = TypeVar("S", FeatureStore, PredictionLog)


def closing(build: Callable[[Path], S]) -> Callable[[Path], AbstractContextManager[S]]:
    """A factory yielding ``build(directory)`` and closing it afterwards."""

    @contextmanager
    def factory(directory: Path) -> Iterator[S]:
        store = build(directory)
        try:
            yield store
        finally:
            store.close()

    return factory


def memory_outage(error: Exception) -> Outage:
    """``fail_with``, the outage switch of the in-memory fakes."""

    @contextmanager
    def outage(store: object, _: Path) -> Iterator[None]:
        assert isinstance(store, SupportsOutage)
        store.fail_with(error)
        try:
            yield
        finally:
            store.fail_with(None)

    return outage


@contextmanager
def sqlite_outage(_: object, directory: Path) -> Iterator[None]:
    """Another connection holds the write lock: a real SQLITE_BUSY for the store's writes."""
    holder = sqlite3.connect(directory / SQLITE_FILE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


FEATURE_STORE_FACTORIES: list[tuple[str, FeatureStoreFactory]] = [
    ("memory", closing(lambda _: InMemoryFeatureStore())),
    (
        "sqlite",
        closing(lambda d: SqliteFeatureStore(d / SQLITE_FILE, busy_timeout_s=SQLITE_BUSY_S)),
    ),
]
PREDICTION_LOG_FACTORIES: list[tuple[str, PredictionLogFactory]] = [
    ("memory", closing(lambda _: InMemoryPredictionLog())),
    (
        "sqlite",
        closing(lambda d: SqlitePredictionLog(d / SQLITE_FILE, busy_timeout_s=SQLITE_BUSY_S)),
    ),
]
FEATURE_STORE_OUTAGES: dict[str, Outage] = {
    "memory": memory_outage(FeatureStoreUnavailable("simulated outage")),
    "sqlite": sqlite_outage,
}
PREDICTION_LOG_OUTAGES: dict[str, Outage] = {
    "memory": memory_outage(PredictionLogUnavailable("simulated outage")),
    "sqlite": sqlite_outage,
}


# Records the suites store: every field set, overridable one at a time.
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def feature_record(
    prediction_id: str,
    *,
    policy_number: str = "POL-1",
    feature_ts: dt.datetime = T0,
    schema_version: str = "schema-a",
    values: tuple[float, ...] = (0.0, 1.5, -2.25, 1e-300, 3.0),
    as_of: dt.date = dt.date(2024, 4, 30),
) -> FeatureRecord:
    return FeatureRecord(
        prediction_id=prediction_id,
        policy_number=policy_number,
        as_of=as_of,
        feature_ts=feature_ts,
        vector=FeatureVector(schema_version=schema_version, values=values),
    )


def prediction_record(
    prediction_id: str,
    *,
    policy_number: str = "POL-1",
    scored_at: dt.datetime = T0,
    risk_score: float = 0.12,
    risk_class: RiskClass = "standard",
    model_version: str = "V1",
    total_ms: float = 1.25,
    batch_run_id: str | None = None,
    reason_codes: tuple[ReasonCode, ...] = (
        ReasonCode(feature="rx_opioid_fill_count_12m", contribution=0.31, value=4.0),
        ReasonCode(feature="mib_code_count", contribution=-0.05, value=None),
    ),
) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=prediction_id,
        policy_number=policy_number,
        risk_score=risk_score,
        risk_class=risk_class,
        model_name="EVIDENCE_RISK_MODEL",
        model_version=model_version,
        feature_schema_version="schema-a",
        feature_hash="0123456789abcdef0123456789abcdef",
        reason_codes=reason_codes,
        scored_at=scored_at,
        as_of=dt.date(2024, 4, 30),
        inference_ms=0.04,
        total_ms=total_ms,
        source="api",
        batch_run_id=batch_run_id,
    )


# The Snowflake adapters on a fakesnow server (tests/contract/snowflake_factories.py).
from snowflake_factories import (  # noqa: E402 - appended after the local adapters on purpose
    snowflake_feature_store,
    snowflake_outage,
    snowflake_prediction_log,
)

FEATURE_STORE_FACTORIES.append(("snowflake", snowflake_feature_store))
PREDICTION_LOG_FACTORIES.append(("snowflake", snowflake_prediction_log))
FEATURE_STORE_OUTAGES["snowflake"] = snowflake_outage
PREDICTION_LOG_OUTAGES["snowflake"] = snowflake_outage
