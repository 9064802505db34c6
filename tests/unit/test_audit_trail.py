"""JournaledAuditTrail: batching, retries while a store is down, drain, replay, dead letters."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from riskscore.adapters.localfs.audit_trail import JournaledAuditTrail, backoff_delay
from riskscore.adapters.memory.feature_store import InMemoryFeatureStore
from riskscore.adapters.memory.prediction_log import InMemoryPredictionLog
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import AuditEntry, FeatureRecord, PredictionRecord, ReasonCode
from riskscore.ports.audit_trail import AuditTrailError, AuditTrailInUse
from riskscore.ports.feature_store import FeatureStoreUnavailable
from riskscore.ports.prediction_log import PredictionLogError, PredictionLogUnavailable

FAST = {"flush_interval_s": 0.01, "initial_backoff_s": 0.001, "max_backoff_s": 0.01}


def entry(i: int, *, scored_at: dt.datetime | None = None) -> AuditEntry:
    at = scored_at or dt.datetime.now(dt.UTC)
    pid = f"pred-{i:06d}"
    return AuditEntry(
        prediction=PredictionRecord(
            prediction_id=pid,
            policy_number=f"POL-{i % 17}",
            risk_score=(i % 100) / 100,
            risk_class="standard",
            model_name="EVIDENCE_RISK_MODEL",
            model_version="V1",
            feature_schema_version="schema-a",
            feature_hash="f" * 32,
            reason_codes=(ReasonCode(feature="rx_fill_count", contribution=0.2, value=3.0),),
            scored_at=at,
            as_of=at.date(),
        ),
        features=FeatureRecord(
            prediction_id=pid,
            policy_number=f"POL-{i % 17}",
            as_of=at.date(),
            feature_ts=at,
            vector=FeatureVector(schema_version="schema-a", values=(float(i), 0.0, 1.0)),
        ),
    )


class Stores:
    def __init__(self) -> None:
        self.features = InMemoryFeatureStore()
        self.predictions = InMemoryPredictionLog()

    def ids(self) -> list[str]:
        return sorted(r.prediction_id for r in self.predictions.recent(1_000_000))

    def feature_ids(self) -> list[str]:
        return sorted(r.prediction_id for r in self.features.iter_records())


@pytest.fixture
def stores() -> Stores:
    return Stores()


@pytest.fixture
def trail(tmp_path: Path, stores: Stores) -> Iterator[JournaledAuditTrail]:
    t = JournaledAuditTrail(tmp_path, stores.features, stores.predictions, batch_size=50, **FAST)
    yield t
    t.close()


def _ids(n: int, start: int = 0) -> list[str]:
    return [f"pred-{i:06d}" for i in range(start, start + n)]


def test_recorded_entries_reach_both_stores_in_batches(
    trail: JournaledAuditTrail, stores: Stores
) -> None:
    trail.record_many([entry(i) for i in range(120)])
    trail.record(entry(120))
    assert trail.stats().queue_depth == 121
    assert trail.drain(5.0)
    assert stores.ids() == _ids(121)
    assert stores.feature_ids() == _ids(121)
    assert stores.features.batch_sizes == [50, 50, 21]
    assert stores.predictions.batch_sizes == [50, 50, 21]
    stats = trail.stats()
    assert (stats.recorded, stats.delivered, stats.queue_depth, stats.lag_s) == (121, 121, 0, 0.0)


def test_the_writer_thread_delivers_what_many_threads_record(
    trail: JournaledAuditTrail, stores: Stores
) -> None:
    trail.start()

    def recorder(offset: int) -> None:
        for i in range(offset, offset + 200):
            trail.record(entry(i))

    threads = [threading.Thread(target=recorder, args=(k * 200,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert trail.drain(10.0)
    assert stores.ids() == _ids(800)
    assert stores.feature_ids() == _ids(800)
    assert trail.stats().running
    assert trail.stats().delivered == 800


def test_a_store_down_for_a_while_is_retried_and_nothing_is_lost_or_doubled(
    trail: JournaledAuditTrail, stores: Stores
) -> None:
    stores.features.fail_with(FeatureStoreUnavailable("simulated"), times=3)
    stores.predictions.fail_with(PredictionLogUnavailable("simulated"), times=2)
    trail.start()
    trail.record_many([entry(i) for i in range(75)])
    assert trail.drain(10.0)
    assert stores.ids() == _ids(75)
    assert stores.feature_ids() == _ids(75)
    stats = trail.stats()
    assert stats.failed_attempts == 5
    assert stats.last_error_type == "PredictionLogUnavailable"
    assert stats.delivered == 75
    assert len(stores.predictions) == 75


def test_drain_reports_failure_while_the_store_is_down_and_keeps_the_entries(
    tmp_path: Path, stores: Stores
) -> None:
    trail = JournaledAuditTrail(tmp_path, stores.features, stores.predictions, **FAST)
    stores.predictions.fail_with(PredictionLogUnavailable("down"))
    trail.start()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    trail.record_many([entry(i, scored_at=old) for i in range(10)])
    assert not trail.drain(0.3)
    stats = trail.stats()
    assert stats.queue_depth == 10
    assert stats.delivered == 0
    assert stats.lag_s >= 30
    assert stats.failed_attempts >= 2
    trail.close()  # shut down while the store is still down

    recovered = Stores()
    replay = JournaledAuditTrail(tmp_path, recovered.features, recovered.predictions, **FAST)
    assert replay.stats().queue_depth == 10
    replay.start()
    assert replay.drain(5.0)
    assert recovered.ids() == _ids(10)
    replay.close()


def test_a_new_trail_replays_only_what_is_after_the_checkpoint(tmp_path: Path) -> None:
    first = Stores()
    trail = JournaledAuditTrail(tmp_path, first.features, first.predictions, **FAST)
    trail.record_many([entry(i) for i in range(5)])
    assert trail.drain(5.0)
    trail.record_many([entry(i) for i in range(5, 12)])
    trail.close()  # never delivered: e.g. the process stopped before the next flush
    assert first.ids() == _ids(5)

    second = Stores()
    replay = JournaledAuditTrail(tmp_path, second.features, second.predictions, **FAST)
    assert replay.stats().queue_depth == 7
    assert replay.drain(5.0)
    assert second.ids() == _ids(7, start=5)
    assert replay.journal.segments() == []  # delivered segments are deleted
    replay.close()


class RefusingLog(InMemoryPredictionLog):
    """Refuses one prediction id for good, as a store with a constraint would."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        if any(r.prediction_id == self.refused for r in records):
            raise PredictionLogError("constraint failed")
        super().append_many(records)


def test_an_entry_refused_for_good_is_set_aside_and_the_rest_flows(tmp_path: Path) -> None:
    features, log = InMemoryFeatureStore(), RefusingLog(refused="pred-000013")
    trail = JournaledAuditTrail(tmp_path, features, log, batch_size=40, **FAST)
    trail.record_many([entry(i) for i in range(40)])
    assert trail.drain(5.0)
    assert sorted(r.prediction_id for r in log.recent(100)) == [
        pid for pid in _ids(40) if pid != "pred-000013"
    ]
    stats = trail.stats()
    assert (stats.delivered, stats.dead_lettered, stats.queue_depth) == (39, 1, 0)
    assert stats.last_error_type == "PredictionLogError"
    [kept] = trail.journal.dead_letters()
    assert b"pred-000013" in kept
    trail.close()


def test_the_sqlite_stores_locked_by_another_writer_are_retried(tmp_path: Path) -> None:
    db = tmp_path / "riskscore.sqlite3"
    features = SqliteFeatureStore(db, busy_timeout_s=0.01)
    log = SqlitePredictionLog(db, busy_timeout_s=0.01)
    trail = JournaledAuditTrail(tmp_path / "journal", features, log, **FAST)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    trail.start()
    trail.record_many([entry(i) for i in range(30)])
    assert not trail.drain(0.2)
    assert trail.stats().last_error_type == "FeatureStoreUnavailable"
    holder.execute("ROLLBACK")
    holder.close()
    assert trail.drain(5.0)
    assert [r.prediction_id for r in log.recent(100)] == sorted(_ids(30), reverse=True)
    assert len(list(features.iter_records())) == 30
    trail.close()
    features.close()
    log.close()


def test_one_trail_per_journal_directory(trail: JournaledAuditTrail, tmp_path: Path) -> None:
    with pytest.raises(AuditTrailInUse):
        JournaledAuditTrail(tmp_path, InMemoryFeatureStore(), InMemoryPredictionLog())


def test_a_closed_trail_refuses_to_record(trail: JournaledAuditTrail) -> None:
    trail.start()
    trail.close()
    assert not trail.stats().running
    with pytest.raises(AuditTrailError):
        trail.record(entry(1))
    with pytest.raises(AuditTrailError):
        trail.start()


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    low = [backoff_delay(a, initial_s=0.1, max_s=1.0, rng=lambda: 0.0) for a in range(1, 7)]
    high = [backoff_delay(a, initial_s=0.1, max_s=1.0, rng=lambda: 1.0) for a in range(1, 7)]
    assert low == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5, 0.5])
    assert high == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff_delay(10_000, initial_s=0.1, max_s=1.0) <= 1.0


def test_drain_without_a_writer_thread_delivers_in_the_caller_and_honours_the_timeout(
    trail: JournaledAuditTrail, stores: Stores
) -> None:
    trail.record_many([entry(i) for i in range(60)])
    stores.features.fail_with(FeatureStoreUnavailable("down"))
    assert not trail.drain(0.1)
    assert trail.stats().queue_depth == 60
    assert not trail.stats().running
    stores.features.fail_with(None)
    assert trail.drain(5.0)
    assert stores.ids() == _ids(60)
