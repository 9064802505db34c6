"""The FeatureStore contract, run against every adapter in ``store_factories``."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Iterator

import pytest
from conftest import OutageSwitch
from store_factories import T0, feature_record

from riskscore.ports.feature_store import FeatureStore, FeatureStoreError

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
