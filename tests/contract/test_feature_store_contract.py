"""The FeatureStore contract, run against every adapter in ``store_factories``."""

from __future__ import annotations

import datetime as dt
import math
import pickle
import struct
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import OutageSwitch
from store_factories import T0, feature_record

from riskscore.domain.scoring import FeatureRecord
from riskscore.ports.feature_store import (
    FeatureBatch,
    FeatureStore,
    FeatureStoreError,
    PagedFeatureStore,
)

PAGE_CROSSING = 1_205  # more rows than one streaming page of any adapter we ship (500)


def test_a_record_round_trips_every_field(feature_store: FeatureStore) -> None:
    record = feature_record(
        "p-1",
        feature_ts=dt.datetime(2023, 12, 31, 23, 59, 59, 123456, tzinfo=dt.UTC),
        as_of=dt.date(1999, 1, 2),
        values=(0.0, -0.0, 1.0 / 3.0, 1e308, -7.5, 42.0),
    )
    feature_store.write_many([record])
    assert feature_store.get("p-1") == record


def test_an_empty_vector_round_trips(feature_store: FeatureStore) -> None:
    record = feature_record("p-empty", values=())
    feature_store.write_many([record])
    assert feature_store.get("p-empty") == record


def test_nan_and_infinities_are_kept_exactly(feature_store: FeatureStore) -> None:
    feature_store.write_many([feature_record("p-nan", values=(math.nan, math.inf, -math.inf))])
    got = feature_store.get("p-nan")
    assert got is not None
    nan, pos, neg = got.vector.values
    assert math.isnan(nan)
    assert (pos, neg) == (math.inf, -math.inf)


def test_a_non_utc_timestamp_reads_back_as_the_same_instant_in_utc(
    feature_store: FeatureStore,
) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    feature_store.write_many(
        [feature_record("p-tz", feature_ts=dt.datetime(2024, 5, 1, 14, 0, tzinfo=plus_two))]
    )
    got = feature_store.get("p-tz")
    assert got is not None
    assert got.feature_ts == dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert got.feature_ts.utcoffset() == dt.timedelta(0)


def test_a_naive_timestamp_is_refused_and_the_batch_is_not_written(
    feature_store: FeatureStore,
) -> None:
    good = feature_record("p-good")
    naive = feature_record("p-naive", feature_ts=dt.datetime(2024, 5, 1, 12, 0))
    with pytest.raises(FeatureStoreError) as info:
        feature_store.write_many([good, naive])
    assert info.value.retryable is False
    assert feature_store.get("p-good") is None


def test_an_unknown_id_is_none(feature_store: FeatureStore) -> None:
    assert feature_store.get("nope") is None
    assert feature_store.latest("nobody") is None


def test_writing_an_id_again_is_a_no_op_and_the_first_write_wins(
    feature_store: FeatureStore,
) -> None:
    first = feature_record("p-1", values=(1.0,))
    feature_store.write_many([first])
    feature_store.write_many([feature_record("p-1", values=(2.0,)), feature_record("p-2")])
    feature_store.write_many([first, first])
    assert feature_store.get("p-1") == first
    assert [r.prediction_id for r in feature_store.iter_records()] == ["p-1", "p-2"]


def test_writing_nothing_is_fine(feature_store: FeatureStore) -> None:
    feature_store.write_many([])
    assert list(feature_store.iter_records()) == []


def test_latest_is_the_newest_of_the_policy_with_ties_broken_by_id(
    feature_store: FeatureStore,
) -> None:
    later = T0 + dt.timedelta(minutes=5)
    feature_store.write_many(
        [
            feature_record("a-old", feature_ts=T0),
            feature_record("a-new-1", feature_ts=later),
            feature_record("a-new-2", feature_ts=later),
            feature_record("b-newest", policy_number="POL-2", feature_ts=later + dt.timedelta(1)),
        ]
    )
    latest = feature_store.latest("POL-1")
    assert latest is not None
    assert latest.prediction_id == "a-new-2"
    other = feature_store.latest("POL-2")
    assert other is not None
    assert other.prediction_id == "b-newest"


def test_iter_records_orders_by_time_then_id_and_filters_by_schema(
    feature_store: FeatureStore,
) -> None:
    feature_store.write_many(
        [
            feature_record("c", feature_ts=T0 + dt.timedelta(seconds=2)),
            feature_record("b", feature_ts=T0, schema_version="schema-b"),
            feature_record("a", feature_ts=T0 + dt.timedelta(seconds=2)),
            feature_record("d", feature_ts=T0 - dt.timedelta(days=400)),
        ]
    )
    assert [r.prediction_id for r in feature_store.iter_records()] == ["d", "b", "a", "c"]
    assert [r.prediction_id for r in feature_store.iter_records("schema-a")] == ["d", "a", "c"]
    assert [r.prediction_id for r in feature_store.iter_records("schema-b")] == ["b"]
    assert list(feature_store.iter_records("schema-z")) == []


def test_iter_records_streams_across_pages_with_tied_timestamps(
    feature_store: FeatureStore,
) -> None:
    # Seven records share each timestamp and ids are shuffled against time, so page boundaries
    # fall inside runs of ties and only a (time, id) key pages correctly.
    records = [
        feature_record(
            f"p-{i * 389 % PAGE_CROSSING:05d}",
            feature_ts=T0 + dt.timedelta(seconds=i // 7),
            values=(float(i),),
        )
        for i in range(PAGE_CROSSING)
    ]
    for start in range(0, len(records), 300):
        feature_store.write_many(records[start : start + 300])
    stream = feature_store.iter_records()
    assert isinstance(stream, Iterator)
    first = next(stream)
    streamed = [first, *stream]
    assert streamed == sorted(records, key=lambda r: (r.feature_ts, r.prediction_id))
    assert len({r.prediction_id for r in streamed}) == PAGE_CROSSING


def test_purge_policy_deletes_only_that_policy_and_counts(feature_store: FeatureStore) -> None:
    feature_store.write_many(
        [
            feature_record("a-1"),
            feature_record("a-2", feature_ts=T0 + dt.timedelta(hours=1)),
            feature_record("b-1", policy_number="POL-2"),
        ]
    )
    assert feature_store.purge_policy("POL-1") == 2
    assert feature_store.get("a-1") is None
    assert feature_store.latest("POL-1") is None
    assert [r.prediction_id for r in feature_store.iter_records()] == ["b-1"]
    assert feature_store.purge_policy("POL-1") == 0


def test_an_outage_fails_writes_with_a_retryable_error_then_recovers(
    feature_store: FeatureStore, feature_store_outage: OutageSwitch
) -> None:
    with feature_store_outage(), pytest.raises(FeatureStoreError) as info:
        feature_store.write_many([feature_record("p-1")])
    assert info.value.retryable is True
    feature_store.write_many([feature_record("p-1")])
    assert feature_store.get("p-1") is not None


def test_threads_write_while_another_reads(feature_store: FeatureStore) -> None:
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for batch in range(10):
                feature_store.write_many(
                    [feature_record(f"{prefix}-{batch:02d}-{i:02d}") for i in range(20)]
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("x", "y")]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        feature_store.latest("POL-1")
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(list(feature_store.iter_records())) == 400


# -- iter_batches: the records of iter_records, column-wise -----------------------------------
def _rows_of(batches: list[FeatureBatch]) -> list[tuple[str, str, str, str, bytes]]:
    """Each batch row as (id, policy, as_of, schema version, the float64 bytes of its vector)."""
    rows = []
    for batch in batches:
        assert batch.matrix.dtype == np.float64
        assert batch.matrix.shape[0] == len(batch)
        for i in range(len(batch)):
            rows.append(
                (
                    batch.prediction_ids[i],
                    batch.policy_numbers[i],
                    batch.as_of[i],
                    batch.schema_versions[i],
                    batch.matrix[i].astype("<f8").tobytes(),
                )
            )
    return rows


def _record_rows(records: Iterator[FeatureRecord]) -> list[tuple[str, str, str, str, bytes]]:
    return [
        (
            r.prediction_id,
            r.policy_number,
            r.as_of.isoformat(),
            r.vector.schema_version,
            struct.pack(f"<{len(r.vector.values)}d", *r.vector.values),
        )
        for r in records
    ]


def test_iter_batches_holds_iter_records_rows_in_order_bit_for_bit(
    feature_store: FeatureStore,
) -> None:
    # Ties in time, ids shuffled against time, two schema versions, NaN, infinities, -0.0: the
    # batches must hold exactly iter_records' rows and values, whatever the batch size.
    records = [
        feature_record(
            f"p-{i * 389 % PAGE_CROSSING:05d}",
            policy_number=f"POL-{i % 13}",
            feature_ts=T0 + dt.timedelta(seconds=i // 7),
            as_of=dt.date(2024, 1, 1) + dt.timedelta(days=i % 40),
            schema_version="schema-b" if i % 5 == 0 else "schema-a",
            values=(float(i), math.nan if i % 3 else -0.0, math.inf, -math.inf, i / 7.0),
        )
        for i in range(PAGE_CROSSING)
    ]
    for start in range(0, len(records), 300):
        feature_store.write_many(records[start : start + 300])
    expected = _record_rows(feature_store.iter_records())
    assert len(expected) == PAGE_CROSSING
    for batch_size in (500, 1_000_000):
        stream = feature_store.iter_batches(batch_size=batch_size)
        assert isinstance(stream, Iterator)
        batches = list(stream)
        assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
        assert 0 < len(batches[-1]) <= batch_size
        assert all(b.matrix.shape[1] == 5 for b in batches)
        assert _rows_of(batches) == expected


def test_iter_batches_filters_by_schema_like_iter_records(feature_store: FeatureStore) -> None:
    feature_store.write_many(
        [
            feature_record("c", feature_ts=T0 + dt.timedelta(seconds=2)),
            feature_record("b", feature_ts=T0, schema_version="schema-b"),
            feature_record("a", feature_ts=T0 + dt.timedelta(seconds=2)),
            feature_record("d", feature_ts=T0 - dt.timedelta(days=400)),
        ]
    )
    for schema in ("schema-a", "schema-b"):
        got = _rows_of(list(feature_store.iter_batches(schema, batch_size=2)))
        assert got == _record_rows(feature_store.iter_records(schema))
    assert [r[0] for r in _rows_of(list(feature_store.iter_batches("schema-a", 2)))] == [
        "d",
        "a",
        "c",
    ]
    assert list(feature_store.iter_batches("schema-z")) == []


def test_a_batch_ends_where_the_vector_length_changes(feature_store: FeatureStore) -> None:
    lengths = [3, 3, 2, 2, 2, 3, 0, 0]
    feature_store.write_many(
        [
            feature_record(
                f"p-{i}",
                feature_ts=T0 + dt.timedelta(seconds=i),
                values=tuple(float(i * 10 + j) for j in range(n)),
            )
            for i, n in enumerate(lengths)
        ]
    )
    batches = list(feature_store.iter_batches(batch_size=4))
    assert [b.matrix.shape for b in batches] == [(2, 3), (2, 2), (1, 2), (1, 3), (2, 0)]
    assert _rows_of(batches) == _record_rows(feature_store.iter_records())
    assert batches[1].matrix.tolist() == [[20.0, 21.0], [30.0, 31.0]]


def test_an_empty_store_has_no_batches_and_a_batch_size_below_one_is_refused(
    feature_store: FeatureStore,
) -> None:
    assert list(feature_store.iter_batches()) == []
    with pytest.raises(ValueError, match="batch_size"):
        feature_store.iter_batches(batch_size=0)


def test_a_feature_batch_slices_its_columns_together(feature_store: FeatureStore) -> None:
    feature_store.write_many(
        [feature_record(f"p-{i}", feature_ts=T0 + dt.timedelta(seconds=i)) for i in range(5)]
    )
    (batch,) = feature_store.iter_batches()
    tail = batch.slice(3)
    assert _rows_of([tail]) == _rows_of([batch])[3:]
    assert _rows_of([batch.slice(1, 2)]) == _rows_of([batch])[1:2]


# -- optional capability: pages read anywhere (PagedFeatureStore) ------------------------------
def _paged(store: FeatureStore) -> PagedFeatureStore:
    if not isinstance(store, PagedFeatureStore):
        pytest.skip(f"{type(store).__name__} plans no pages")
    return store


def test_pages_hold_iter_batches_rows_after_a_skip_and_read_after_pickling(
    feature_store: FeatureStore,
) -> None:
    paged = _paged(feature_store)
    records = [
        feature_record(
            f"p-{i * 389 % PAGE_CROSSING:05d}",
            feature_ts=T0 + dt.timedelta(seconds=i // 7),
            schema_version="schema-b" if i % 5 == 0 else "schema-a",
            values=(float(i), math.nan) if i % 100 == 3 else (float(i), -0.0, math.inf),
        )
        for i in range(PAGE_CROSSING)
    ]
    feature_store.write_many(records)
    expected = _record_rows(feature_store.iter_records())
    for batch_size, skip in ((500, 0), (300, 777), (7, PAGE_CROSSING - 10), (5_000, 1)):
        pages = [
            pickle.loads(pickle.dumps(p)) for p in paged.pages(batch_size=batch_size, skip=skip)
        ]
        assert sum(p.rows for p in pages) == PAGE_CROSSING - skip
        assert all(p.rows == batch_size for p in pages[:-1])
        read = [p.read() for p in pages]
        assert [sum(len(b) for b in batches) for batches in read] == [p.rows for p in pages]
        assert _rows_of([b for batches in read for b in batches]) == expected[skip:]
    assert list(paged.pages(skip=PAGE_CROSSING)) == []
    schema_b = [p.read() for p in paged.pages("schema-b", batch_size=100)]
    assert _rows_of([b for batches in schema_b for b in batches]) == _record_rows(
        feature_store.iter_records("schema-b")
    )


def test_a_page_fails_when_its_records_are_gone_and_pages_of_an_empty_store_are_none(
    feature_store: FeatureStore,
) -> None:
    paged = _paged(feature_store)
    assert list(paged.pages()) == []
    feature_store.write_many(
        [
            feature_record(f"p-{i}", policy_number=f"POL-{i}", feature_ts=T0 + dt.timedelta(i))
            for i in range(6)
        ]
    )
    first, second = paged.pages(batch_size=3)
    feature_store.purge_policy("POL-4")
    assert _rows_of(first.read()) == _record_rows(feature_store.iter_records())[:3]
    with pytest.raises(FeatureStoreError):
        second.read()
    with pytest.raises(ValueError, match="batch_size"):
        paged.pages(batch_size=0)
