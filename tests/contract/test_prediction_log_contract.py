"""The PredictionLog contract, run against every adapter in ``store_factories``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import msgspec
import pytest
from conftest import OutageSwitch
from store_factories import T0, feature_record, prediction_record

from riskscore.domain.scoring import ReasonCode
from riskscore.ports.feature_store import FeatureStore
from riskscore.ports.prediction_log import PredictionLog, PredictionLogError, PredictionSummary

PAGE_CROSSING = 1_105  # more rows than one streaming page of any adapter we ship (500)


def test_a_record_round_trips_every_field(prediction_log: PredictionLog) -> None:
    record = prediction_record(
        "p-1",
        scored_at=dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
        batch_run_id="run-7",
        risk_score=1.0,
        risk_class="refer",
    )
    bare = prediction_record("p-2", reason_codes=(), batch_run_id=None, risk_score=0.0)
    prediction_log.append_many([record, bare])
    assert prediction_log.get("p-1") == record
    assert prediction_log.get("p-2") == bare


def test_a_non_utc_timestamp_reads_back_as_the_same_instant_in_utc(
    prediction_log: PredictionLog,
) -> None:
    minus_five = dt.timezone(dt.timedelta(hours=-5))
    prediction_log.append_many(
        [prediction_record("p-tz", scored_at=dt.datetime(2024, 5, 1, 7, 0, tzinfo=minus_five))]
    )
    got = prediction_log.get("p-tz")
    assert got is not None
    assert got.scored_at == T0
    assert got.scored_at.utcoffset() == dt.timedelta(0)


def test_a_naive_timestamp_is_refused_and_the_batch_is_not_written(
    prediction_log: PredictionLog,
) -> None:
    naive = prediction_record("p-naive", scored_at=dt.datetime(2024, 5, 1, 12, 0))
    with pytest.raises(PredictionLogError) as info:
        prediction_log.append_many([prediction_record("p-good"), naive])
    assert info.value.retryable is False
    assert prediction_log.get("p-good") is None


def test_appending_an_id_again_is_a_no_op_and_the_first_write_wins(
    prediction_log: PredictionLog,
) -> None:
    first = prediction_record("p-1", risk_score=0.2)
    prediction_log.append_many([first])
    prediction_log.append_many([prediction_record("p-1", risk_score=0.9), first])
    prediction_log.append_many([])
    assert prediction_log.get("p-1") == first
    assert [r.prediction_id for r in prediction_log.recent()] == ["p-1"]


def test_by_policy_is_newest_first_with_ties_broken_by_id(prediction_log: PredictionLog) -> None:
    later = T0 + dt.timedelta(minutes=1)
    prediction_log.append_many(
        [
            prediction_record("a", scored_at=T0),
            prediction_record("c", scored_at=later),
            prediction_record("b", scored_at=later),
            prediction_record("z", scored_at=later, policy_number="POL-2"),
        ]
    )
    assert [r.prediction_id for r in prediction_log.by_policy("POL-1")] == ["c", "b", "a"]
    assert prediction_log.by_policy("nobody") == []
    assert prediction_log.get("nope") is None


def test_recent_is_newest_first_and_limited(prediction_log: PredictionLog) -> None:
    prediction_log.append_many(
        [
            prediction_record(
                f"p-{i}", scored_at=T0 + dt.timedelta(seconds=i), policy_number=f"POL-{i % 3}"
            )
            for i in range(6)
        ]
    )
    assert [r.prediction_id for r in prediction_log.recent(4)] == ["p-5", "p-4", "p-3", "p-2"]
    assert len(prediction_log.recent()) == 6
    assert prediction_log.recent(0) == []
    with pytest.raises(ValueError):
        prediction_log.recent(-1)


def test_iter_batch_run_streams_one_run_in_order(prediction_log: PredictionLog) -> None:
    # Ties of seven and ids shuffled against time: only a (time, id) key pages correctly.
    run = [
        prediction_record(
            f"r-{i * 389 % PAGE_CROSSING:05d}",
            scored_at=T0 + dt.timedelta(seconds=i // 7),
            batch_run_id="run-1",
        )
        for i in range(PAGE_CROSSING)
    ]
    others = [
        prediction_record("other-run", batch_run_id="run-2"),
        prediction_record("api-call", batch_run_id=None),
    ]
    prediction_log.append_many(others + run[:600])
    prediction_log.append_many(run[600:])
    stream = prediction_log.iter_batch_run("run-1")
    assert isinstance(stream, Iterator)
    assert list(stream) == sorted(run, key=lambda r: (r.scored_at, r.prediction_id))
    assert [r.prediction_id for r in prediction_log.iter_batch_run("run-2")] == ["other-run"]
    assert list(prediction_log.iter_batch_run("run-404")) == []


def test_purge_evidence_keeps_the_decision_record(prediction_log: PredictionLog) -> None:
    mine = [prediction_record("a"), prediction_record("b", scored_at=T0 + dt.timedelta(hours=1))]
    theirs = prediction_record("c", policy_number="POL-2")
    valueless = prediction_record(
        "d", reason_codes=(ReasonCode(feature="mib_code_count", contribution=0.1),)
    )
    prediction_log.append_many([*mine, theirs, valueless])

    assert prediction_log.purge_evidence("POL-1") == 2
    for before in mine:
        after = prediction_log.get(before.prediction_id)
        assert after is not None
        assert all(code.value is None for code in after.reason_codes)
        expected_codes = tuple(msgspec.structs.replace(c, value=None) for c in before.reason_codes)
        assert after == msgspec.structs.replace(before, reason_codes=expected_codes)
    assert prediction_log.get("c") == theirs
    assert prediction_log.get("d") == valueless
    assert prediction_log.purge_evidence("POL-1") == 0
    assert len(prediction_log.by_policy("POL-1")) == 3


def test_summarize_figures_match_hand_computed_ones(prediction_log: PredictionLog) -> None:
    window_start, window_end = T0, T0 + dt.timedelta(hours=1)
    inside = [
        # (score, class, version, total_ms)
        (0.05, "standard", "V1", 1.0),
        (0.15, "substandard", "V1", 2.0),
        (0.25, "substandard", "V2", 3.0),
        (0.95, "refer", "V2", 4.0),
        (1.0, "refer", "V2", 100.0),
    ]
    records = [
        prediction_record(
            f"in-{i}",
            scored_at=window_start + dt.timedelta(minutes=i * 10),
            risk_score=score,
            risk_class=risk_class,  # type: ignore[arg-type]
            model_version=version,
            total_ms=total_ms,
        )
        for i, (score, risk_class, version, total_ms) in enumerate(inside)
    ]
    records += [
        prediction_record("at-end", scored_at=window_end, risk_score=0.5),
        prediction_record("before", scored_at=window_start - dt.timedelta(microseconds=1)),
    ]
    prediction_log.append_many(records)

    summary = prediction_log.summarize(window_start, window_end)

    assert summary.count == 5
    assert summary.by_risk_class == {"refer": 2, "standard": 1, "substandard": 2}
    assert summary.by_model_version == {"V1": 2, "V2": 3}
    assert summary.score_mean == pytest.approx(2.4 / 5)
    assert summary.score_p50 == pytest.approx(0.25)
    assert summary.score_p90 == pytest.approx(0.95 + 0.6 * 0.05)  # rank 3.6 of 0..4
    assert summary.total_ms_p50 == pytest.approx(3.0)
    assert summary.total_ms_p99 == pytest.approx(4.0 + 0.96 * 96.0)  # rank 3.96
    assert summary.score_histogram == (1, 1, 1, 0, 0, 0, 0, 0, 0, 2)


def test_summarize_an_empty_window(prediction_log: PredictionLog) -> None:
    prediction_log.append_many([prediction_record("p-1")])
    summary = prediction_log.summarize(T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2))
    assert summary == PredictionSummary.empty()
    assert summary.score_histogram == (0,) * 10


def test_summarize_refuses_a_naive_window(prediction_log: PredictionLog) -> None:
    with pytest.raises(PredictionLogError):
        prediction_log.summarize(dt.datetime(2024, 1, 1), T0)


def test_an_outage_fails_writes_with_a_retryable_error_then_recovers(
    prediction_log: PredictionLog, prediction_log_outage: OutageSwitch
) -> None:
    with prediction_log_outage(), pytest.raises(PredictionLogError) as info:
        prediction_log.append_many([prediction_record("p-1")])
    assert info.value.retryable is True
    prediction_log.append_many([prediction_record("p-1")])
    assert prediction_log.get("p-1") is not None


def test_a_feature_store_and_a_prediction_log_share_one_location(
    stores_on_one_location: tuple[FeatureStore, PredictionLog],
) -> None:
    store, log = stores_on_one_location
    store.write_many([feature_record("p-1")])
    log.append_many([prediction_record("p-1")])
    store.write_many([feature_record("p-2")])
    assert store.get("p-1") is not None
    assert log.get("p-1") is not None
    assert [r.prediction_id for r in store.iter_records()] == ["p-1", "p-2"]
    assert store.purge_policy("POL-1") == 2
    assert log.get("p-1") is not None
