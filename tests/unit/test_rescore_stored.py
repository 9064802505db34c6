"""Rescoring stored feature vectors end to end: pages read by the workers (SQLite), batches read by
the parent (stores without pages), resume across chunks, and dataset chunks whose files the workers
read themselves."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest
from test_rescore_files import request, rows, run
from test_rescore_support import AS_OF, settings_for, train_versions

import riskscore
from riskscore.adapters.batch import runner
from riskscore.adapters.batch.runner import pack, resolve, unpack
from riskscore.adapters.batch.sources import (
    DatasetSource,
    EvidenceFiles,
    FeatureStoreSource,
    SourceError,
)
from riskscore.adapters.batch.state import ResumeError, read_state
from riskscore.adapters.memory.feature_store import InMemoryFeatureStore
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.synthetic import write_dataset
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.domain.usecases.rescore import (
    RescoreFailure,
    RescoreOutcome,
    RescoreResult,
    StoredVector,
    UnreadableRow,
)
from riskscore.domain.usecases.score_policy import ScoreRequest
from riskscore.ports.feature_store import FeatureStore
from riskscore.settings import Settings

N = 45
CHUNK = 8  # rows per chunk of stored vectors in these tests (10,000 in real runs)
T0 = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_for(tmp_path_factory.mktemp("data"))
    train_versions(settings, 1)
    return settings


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages are planned (and batches read) in the parent, so a pool sees these sizes too.
    monkeypatch.setattr(runner, "FEATURE_CHUNK_ROWS", CHUNK)
    monkeypatch.setattr(runner, "FORKED_CHUNK_ROWS", CHUNK)


def records() -> list[FeatureRecord]:
    rng = np.random.default_rng(7)
    out = [
        FeatureRecord(
            prediction_id=f"pred-{i:03d}",
            policy_number=f"POL-{i:03d}",
            as_of=AS_OF,
            feature_ts=T0 + dt.timedelta(seconds=i // 3),  # ties in time: (time, id) orders
            vector=FeatureVector(
                schema_version=SCHEMA.version,
                values=tuple(rng.integers(0, 4, len(SCHEMA)).astype(float).tolist()),
            ),
        )
        for i in range(N)
    ]
    out[11] = msgspec.structs.replace(
        out[11], vector=FeatureVector(schema_version="0123456789abcdef", values=(1.0, 2.0))
    )
    return out


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeatureStore]:
    built: FeatureStore = (
        SqliteFeatureStore(tmp_path / "fs.sqlite3")
        if request.param == "sqlite"
        else InMemoryFeatureStore()
    )
    built.write_many(records())
    yield built
    built.close()


def row_by_row(store: FeatureStore, settings: Settings) -> list[RescoreOutcome]:
    """The same vectors through the row path (StoredVector by StoredVector, one process)."""
    vectors = [
        StoredVector(
            policy_number=r.policy_number,
            vector=r.vector,
            as_of=r.as_of,
            prediction_id=r.prediction_id,
        )
        for r in store.iter_records()
    ]
    return list(riskscore.rescore(vectors, settings=settings, workers=1, batch_run_id="run-s"))


def lineage(outcomes: list[RescoreOutcome]) -> list[tuple[object, ...]]:
    return [
        (
            o.index,
            o.policy_number,
            o.risk_score,
            o.prediction.feature_hash,
            o.prediction.reason_codes,
        )
        if isinstance(o, RescoreResult)
        else (o.index, o.policy_number, o.type, o.source_prediction_id)
        for o in outcomes
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_stored_vectors_score_as_their_rows_in_one_process_or_a_pool(
    store: FeatureStore, settings: Settings, workers: int
) -> None:
    expected = row_by_row(store, settings)
    got = list(riskscore.rescore(store, settings=settings, workers=workers, batch_run_id="run-s"))
    assert lineage(got) == lineage(expected)
    assert [o.prediction.prediction_id for o in got if isinstance(o, RescoreResult)] != []
    refused = got[11]
    assert isinstance(refused, RescoreFailure)
    assert (refused.type, refused.source_prediction_id) == ("feature-schema-mismatch", "pred-011")


def test_a_run_from_the_store_resumes_with_every_row_exactly_once(
    store: FeatureStore, settings: Settings, tmp_path: Path
) -> None:
    whole, out = tmp_path / "whole.jsonl", tmp_path / "out.jsonl"
    run(request(settings, FeatureStoreSource(store), whole, batch_run_id="run-r"))
    with pytest.raises(KeyboardInterrupt):
        run(request(settings, FeatureStoreSource(store), out, batch_run_id="run-r"), stop_after=17)
    # interrupted after the commit that reached row 17 (the third chunk's, or one taking it
    # with the chunks done after it)
    done = read_state(out).rows_done
    assert done % CHUNK == 0
    assert 3 * CHUNK <= done < N
    result = run(request(settings, FeatureStoreSource(store), out, resume=True))
    assert (result.rows, result.resumed_from, result.failures) == (N, done, 1)
    resumed, expected = rows(out), rows(whole)
    assert [r.index for r in resumed] == list(range(N))
    strip = {"prediction_id": None, "scored_at": None}
    assert [msgspec.structs.replace(r, **strip) for r in resumed] == [
        msgspec.structs.replace(r, **strip) for r in expected
    ]


def test_a_resume_on_a_changed_store_is_refused(
    store: FeatureStore, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run(request(settings, FeatureStoreSource(store), out), stop_after=CHUNK)
    early = msgspec.structs.replace(
        records()[0], prediction_id="pred-early", feature_ts=T0 - dt.timedelta(days=1)
    )
    store.write_many([early])  # sorts first: every later row moves one place
    with pytest.raises(ResumeError, match="input changed"):
        run(request(settings, FeatureStoreSource(store), out, resume=True))
    for policy in {r.policy_number for r in store.iter_records()}:
        store.purge_policy(policy)
    with pytest.raises(ResumeError, match="fewer than"):
        run(request(settings, FeatureStoreSource(store), out, resume=True))


def test_a_page_whose_rows_were_purged_fails_the_run_clearly(
    settings: Settings, tmp_path: Path
) -> None:
    store = SqliteFeatureStore(tmp_path / "fs.sqlite3")
    try:
        store.write_many(records())
        pages = FeatureStoreSource(store).pages(CHUNK)
        assert pages is not None
        first, second = next(pages), next(pages)
        store.purge_policy("POL-009")  # in the second page
        assert len(pickle.loads(pickle.dumps(first)).read()[0]) == CHUNK
        with pytest.raises(SourceError, match="changed while it was read"):
            runner.read_shipped(second)
    finally:
        store.close()


def test_dataset_rows_cross_to_workers_as_file_references(tmp_path: Path) -> None:
    write_dataset(tmp_path, 3, 5, as_of=AS_OF)
    (tmp_path / "mib" / "SYN-0000002.xml").unlink()
    references = list(DatasetSource(tmp_path).references())
    assert all(isinstance(r, EvidenceFiles) for r in references)
    assert unpack(pack(list(references))) == references
    resolved = resolve(list(references))
    assert resolved == list(DatasetSource(tmp_path))
    first, missing = resolved[0], resolved[1]
    assert isinstance(first, ScoreRequest)
    assert first.mib_xml == (tmp_path / "mib" / "SYN-0000001.xml").read_bytes()
    assert isinstance(missing, UnreadableRow)
    assert (missing.type, missing.detail) == (
        "missing-evidence",
        "mib_xml: no readable mib/<policy>.xml",
    )
