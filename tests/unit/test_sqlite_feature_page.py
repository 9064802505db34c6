"""``SqliteFeaturePage.read``: one row of aggregates per page, and the per-row read whenever that
row cannot be trusted. Every case compares with ``iter_records`` row by row, and checks which
read served the page (a spy on ``_aggregated``), so a fallback that never runs cannot pass."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from riskscore.adapters.sqlite import feature_store as module
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.ports.feature_store import FeatureBatch

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
Row = tuple[str, str, str, str, bytes]


def record(
    i: int, *, policy: str | None = None, values: tuple[float, ...] | None = None
) -> FeatureRecord:
    return FeatureRecord(
        prediction_id=f"id-{i * 7919 % 1000:04d}",  # written out of key order
        policy_number=f"POL-{i}" if policy is None else policy,
        as_of=dt.date(2024, 1, 1) + dt.timedelta(days=i % 40),
        feature_ts=T0 + dt.timedelta(seconds=i // 3),  # ties broken by prediction_id
        vector=FeatureVector(
            schema_version="schema-b" if i % 4 == 0 else "schema-a",
            values=(float(i), math.nan, -0.0, 1e-300) if values is None else values,
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteFeatureStore]:
    opened = SqliteFeatureStore(tmp_path / "features.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def aggregated(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each page read was served by the aggregate row (True) or row by row (False)."""
    served: list[bool] = []
    real = module._aggregated

    def spy(*args: object) -> FeatureBatch | None:
        batch = real(*args)  # type: ignore[arg-type]
        served.append(batch is not None)
        return batch

    monkeypatch.setattr(module, "_aggregated", spy)
    return served


def expected(store: SqliteFeatureStore) -> list[Row]:
    return [
        (
            r.prediction_id,
            r.policy_number,
            r.as_of.isoformat(),
            r.vector.schema_version,
            np.array(r.vector.values, dtype="<f8").tobytes(),
        )
        for r in store.iter_records()
    ]


def pages_read(store: SqliteFeatureStore, batch_size: int) -> list[Row]:
    batches = [batch for page in store.pages(batch_size=batch_size) for batch in page.read()]
    return [
        (
            batch.prediction_ids[i],
            batch.policy_numbers[i],
            batch.as_of[i],
            batch.schema_versions[i],
            batch.matrix[i].astype("<f8").tobytes(),
        )
        for batch in batches
        for i in range(len(batch))
    ]


def test_aggregated_pages_hold_the_rows_in_key_order_bit_for_bit(
    store: SqliteFeatureStore, aggregated: list[bool]
) -> None:
    store.write_many([record(i) for i in range(1000)])
    assert pages_read(store, 300) == expected(store)
    assert aggregated == [True] * 4


def test_a_page_with_a_nul_in_a_text_is_read_row_by_row(
    store: SqliteFeatureStore, aggregated: list[bool]
) -> None:
    store.write_many([record(i, policy="POL\x00X" if i == 5 else None) for i in range(20)])
    rows = pages_read(store, 10)
    assert rows == expected(store)
    assert "POL\x00X" in [row[1] for row in rows]
    assert sorted(aggregated) == [False, True]


def test_a_page_of_two_vector_lengths_is_read_row_by_row(
    store: SqliteFeatureStore, aggregated: list[bool]
) -> None:
    store.write_many([record(i, values=(1.0,) * (2 if i >= 7 else 3)) for i in range(20)])
    assert pages_read(store, 20) == expected(store)
    assert aggregated == [False]


def test_empty_vectors_and_an_empty_text_aggregate(
    store: SqliteFeatureStore, aggregated: list[bool]
) -> None:
    store.write_many([record(i, policy="", values=()) for i in range(3)])
    assert pages_read(store, 1) == expected(store)
    assert pages_read(store, 3) == expected(store)
    assert aggregated == [True] * 4
