"""``SqliteFeaturePage.read``: the compiled reader (``_pageread``, row by row through SQLite's C
API), else one row of aggregates per page, and the per-row read whenever neither can be trusted.
Every case runs with the compiled reader and without it, compares with ``iter_records`` row by row,
and checks which read served each page (spies), so a fallback that never runs cannot pass."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from riskscore.adapters.sqlite import feature_store as module
from riskscore.adapters.sqlite.feature_store import SqliteFeaturePage, SqliteFeatureStore
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.ports.feature_store import FeatureBatch, FeatureStoreError

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


def compiled_reader_runs() -> bool:
    return module._compiled_reader() is not None


compiled_only = pytest.mark.skipif(
    not compiled_reader_runs(),
    reason="the compiled page reader was not built (no C compiler) or cannot use this SQLite",
)


@pytest.fixture(params=["compiled", "aggregate"])
def served(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which read served each page: ``compiled``, ``aggregate`` or ``rows``. Parametrized: with
    the compiled reader, and without it (the aggregate is then the first read tried)."""
    if request.param == "aggregate":
        monkeypatch.setattr(module, "_compiled_reader", lambda: None)
    elif not compiled_reader_runs():
        pytest.skip("the compiled page reader was not built or cannot use this SQLite")
    found: list[str] = []
    real_compiled = SqliteFeaturePage._read_compiled
    real_aggregated = module._aggregated

    def compiled(self: SqliteFeaturePage, *args: object) -> FeatureBatch | None:
        batch = real_compiled(self, *args)  # type: ignore[arg-type]
        if batch is not None:
            found.append("compiled")
        return batch

    def aggregated(*args: object) -> FeatureBatch | None:
        batch = real_aggregated(*args)  # type: ignore[arg-type]
        found.append("rows" if batch is None else "aggregate")
        return batch

    monkeypatch.setattr(SqliteFeaturePage, "_read_compiled", compiled)
    monkeypatch.setattr(module, "_aggregated", aggregated)
    found.append(request.param)  # the first item says which reader was tried first
    return found


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


def test_pages_hold_the_rows_in_key_order_bit_for_bit(
    store: SqliteFeatureStore, served: list[str]
) -> None:
    store.write_many([record(i) for i in range(1000)])  # texts outgrow the first buffers
    assert pages_read(store, 300) == expected(store)
    first, *reads = served
    assert reads == [first] * 4


def test_a_page_with_a_nul_in_a_text_is_read_row_by_row(
    store: SqliteFeatureStore, served: list[str]
) -> None:
    store.write_many([record(i, policy="POL\x00X" if i == 5 else None) for i in range(20)])
    rows = pages_read(store, 10)
    assert rows == expected(store)
    assert "POL\x00X" in [row[1] for row in rows]
    first, *reads = served
    assert sorted(reads) == sorted([first, "rows"])


def test_a_page_of_two_vector_lengths_is_read_row_by_row(
    store: SqliteFeatureStore, served: list[str]
) -> None:
    store.write_many([record(i, values=(1.0,) * (2 if i >= 7 else 3)) for i in range(20)])
    assert pages_read(store, 20) == expected(store)
    assert served[1:] == ["rows"]


def test_empty_vectors_and_an_empty_text_are_read_at_once(
    store: SqliteFeatureStore, served: list[str]
) -> None:
    store.write_many([record(i, policy="", values=()) for i in range(3)])
    assert pages_read(store, 1) == expected(store)
    assert pages_read(store, 3) == expected(store)
    first, *reads = served
    assert reads == [first] * 4


def test_a_page_whose_records_are_gone_fails_with_the_stores_error(
    store: SqliteFeatureStore, served: list[str]
) -> None:
    store.write_many([record(i) for i in range(10)])
    pages = list(store.pages(batch_size=5))
    store.purge_policy("POL-3")
    outcomes = []
    for page in pages:
        try:
            page.read()
            outcomes.append("read")
        except FeatureStoreError as exc:
            outcomes.append(str(exc))
    changed = "the feature store changed while it was read: a page of 5 records now holds 4"
    assert sorted(outcomes) == sorted(["read", changed])


@compiled_only
def test_a_utf16_database_is_read_by_the_compiled_reader(tmp_path: Path, served: list[str]) -> None:
    path = tmp_path / "utf16.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA encoding = 'UTF-16le'")
        conn.execute("CREATE TABLE made_utf16 (x)")  # the encoding is fixed by the first table
    conn.close()
    store = SqliteFeatureStore(path)
    try:
        store.write_many([record(i, policy=f"PÓL-{i}-\u20ac") for i in range(12)])
        assert pages_read(store, 5) == expected(store)
    finally:
        store.close()
    first, *reads = served
    # the aggregate would join the BLOBs as UTF-16 text, so without the compiled reader it is
    # never trusted there
    reader = "compiled" if first == "compiled" else "rows"
    assert reads == [reader] * 3


def test_a_text_that_is_not_utf8_is_the_stores_error_whichever_reader_meets_it(
    store: SqliteFeatureStore, served: list[str]
) -> None:
    store.write_many([record(i) for i in range(4)])
    with sqlite3.connect(store.path) as conn:  # as another program could have written it
        conn.execute("UPDATE online_features SET policy_number = CAST(x'ff50' AS TEXT)")
    conn.close()
    (page,) = store.pages(batch_size=4)
    with pytest.raises(FeatureStoreError, match="decode"):
        page.read()
    assert served[1:] == []  # neither fast read served it: the Python read raised


def test_a_sqlite_failure_in_the_compiled_reader_is_reported_as_the_stores_error(
    tmp_path: Path, served: list[str]
) -> None:
    path = tmp_path / "no-table.sqlite3"
    sqlite3.connect(path).close()
    page = SqliteFeaturePage(
        path=str(path), last_id=9, schema_version=None, after=("", ""), until=None, rows=3
    )
    with pytest.raises(FeatureStoreError, match="no such table"):
        page.read()
    assert served[1:] == []  # neither fast read served it: the Python read raised


@compiled_only
def test_the_compiled_reader_binds_only_the_sqlite_that_pythons_module_calls() -> None:
    pageread = module._pageread
    (library,) = module.loaded_sqlite_libraries()
    # a module that does not call that library (this one links no SQLite): refused
    with pytest.raises(ImportError, match="does not run on the SQLite of"):
        pageread.load(library, pageread.__file__)
    import _sqlite3

    assert pageread.load(library, _sqlite3.__file__) == sqlite3.sqlite_version


@compiled_only
def test_the_compiled_reader_refuses_a_sqlite_of_another_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module.sqlite3, "sqlite_version", "0.0.1")
    assert module._compiled_reader.__wrapped__() is None
    monkeypatch.undo()
    assert module._compiled_reader.__wrapped__() is not None
