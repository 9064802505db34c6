"""``riskscore.rescore``: every source through the real parser, features, registry and compiled model,
in this process and in a process pool, in input order, streamed."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from test_rescore_support import AS_OF, settings_for, train_versions

import riskscore
from riskscore.adapters.batch.runner import chunks, pack, unpack
from riskscore.adapters.batch.sources import ApplicationsSource
from riskscore.adapters.lxml import LxmlEvidenceParser
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.synthetic import generate, write_dataset
from riskscore.domain.features.extract import extract_features
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
from riskscore.ports.model_registry import ModelNotFound
from riskscore.settings import Settings

N = 40


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_for(tmp_path_factory.mktemp("data"))
    train_versions(settings, 2)
    return settings


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("ds"), N, 21, as_of=AS_OF)


def scores(outcomes: list[RescoreOutcome]) -> list[float | None]:
    return [o.risk_score if isinstance(o, RescoreResult) else None for o in outcomes]


def test_a_dataset_is_rescored_in_input_order(settings: Settings, dataset: Path) -> None:
    outcomes = list(riskscore.rescore(dataset, model_version="V1", workers=1, settings=settings))
    assert [o.index for o in outcomes] == list(range(N))
    assert [o.policy_number for o in outcomes] == [f"SYN-{i:07d}" for i in range(1, N + 1)]
    assert all(isinstance(o, RescoreResult) for o in outcomes)
    first = outcomes[0]
    assert isinstance(first, RescoreResult)
    assert first.model_version == "V1"
    assert first.prediction.as_of == AS_OF
    assert len(first.prediction.reason_codes) == settings.reason_codes
    assert 0.0 <= first.risk_score <= 1.0


def test_a_process_pool_gives_the_same_outcomes_in_the_same_order(
    settings: Settings, dataset: Path
) -> None:
    common = {"model_version": "V2", "settings": settings, "batch_size": 7, "batch_run_id": "r"}
    alone = list(riskscore.rescore(dataset, workers=1, **common))  # type: ignore[arg-type]
    pooled = list(riskscore.rescore(dataset, workers=2, **common))  # type: ignore[arg-type]
    assert [o.index for o in pooled] == list(range(N))
    assert scores(pooled) == scores(alone)
    assert [o.policy_number for o in pooled] == [o.policy_number for o in alone]


def test_the_default_version_is_used_and_an_unknown_one_fails_at_once(
    settings: Settings, dataset: Path
) -> None:
    outcomes = list(riskscore.rescore(dataset, settings=settings, workers=1))
    assert {o.model_version for o in outcomes if isinstance(o, RescoreResult)} == {"V1"}
    with pytest.raises(ModelNotFound):
        riskscore.rescore(dataset, model_version="V9", settings=settings)


def test_json_lines_with_a_bad_record_go_on(settings: Settings, tmp_path: Path) -> None:
    apps = list(generate(3, 5, as_of=AS_OF))
    lines = [
        {
            "policy_number": apps[0].policy_number,
            "mib_xml": apps[0].mib_xml,
            "rx_xml": apps[0].rx_xml,
        },
        {"policy_number": "BAD-1", "mib_xml": "<Response><unclosed>", "rx_xml": "<r/>"},
        {"policy_number": "BAD-2", "mib_xml": "<r/>"},
        {
            "policy_number": apps[2].policy_number,
            "mib_xml": apps[2].mib_xml,
            "rx_xml": apps[2].rx_xml,
        },
    ]
    path = tmp_path / "apps.jsonl"
    path.write_bytes(b"\n".join(msgspec.json.encode(line) for line in lines) + b"\n")
    outcomes = list(riskscore.rescore(path, as_of=AS_OF, settings=settings, workers=1))
    assert [type(o) for o in outcomes] == [
        RescoreResult,
        RescoreFailure,
        RescoreFailure,
        RescoreResult,
    ]
    malformed, missing = outcomes[1], outcomes[2]
    assert isinstance(malformed, RescoreFailure)
    assert (malformed.type, malformed.document) == ("malformed-evidence", "mib_xml")
    assert isinstance(missing, RescoreFailure)
    assert missing.type == "invalid-input-row"


def _store_vectors(store: SqliteFeatureStore, dataset: Path) -> list[float]:
    """Store the dataset's vectors as the API would (real parser + features)."""
    parser = LxmlEvidenceParser()
    now = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    records = []
    for i, row in enumerate(riskscore.rescore.DatasetSource(dataset)):
        assert isinstance(row, ScoreRequest)
        evidence = parser.parse(row.policy_number, row.mib_xml, row.rx_xml)
        assert row.as_of is not None
        records.append(
            FeatureRecord(
                prediction_id=f"pred-{i:03d}",
                policy_number=row.policy_number,
                as_of=row.as_of,
                feature_ts=now + dt.timedelta(seconds=i),
                vector=extract_features(evidence, row.as_of),
            )
        )
    store.write_many(records)
    return []


def test_stored_vectors_score_exactly_as_their_evidence(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    store = SqliteFeatureStore(tmp_path / "fs.sqlite3")
    try:
        _store_vectors(store, dataset)
        foreign = FeatureRecord(
            prediction_id="pred-zzz",
            policy_number="OLD-1",
            as_of=AS_OF,
            feature_ts=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
            vector=FeatureVector(schema_version="0000000000000000", values=(1.0, 2.0)),
        )
        store.write_many([foreign])
        from_store = list(
            riskscore.rescore(store, model_version="V2", settings=settings, workers=2, batch_size=9)
        )
    finally:
        store.close()
    from_xml = list(riskscore.rescore(dataset, model_version="V2", settings=settings, workers=1))
    assert len(from_store) == N + 1
    assert scores(from_store[:N]) == scores(from_xml)  # ==: no training/serving skew, no drift
    assert [o.source_prediction_id for o in from_store[:N]] == [f"pred-{i:03d}" for i in range(N)]
    refused = from_store[N]
    assert isinstance(refused, RescoreFailure)
    assert refused.type == "feature-schema-mismatch"
    assert refused.source_prediction_id == "pred-zzz"


def test_rescoring_is_streamed_a_few_chunks_ahead(settings: Settings) -> None:
    pulled = 0
    app = next(generate(1, 9, as_of=AS_OF))

    def endless() -> Iterator[ScoreRequest]:
        nonlocal pulled
        while True:
            pulled += 1
            yield ScoreRequest(
                policy_number=f"S-{pulled}", mib_xml=app.mib_xml, rx_xml=app.rx_xml, as_of=AS_OF
            )

    outcomes = riskscore.rescore(
        ApplicationsSource(endless()), settings=settings, workers=2, batch_size=5
    )
    taken = [next(outcomes) for _ in range(12)]
    assert [o.index for o in taken] == list(range(12))
    # 3 chunks handed back, at most 2 per worker in flight, one read ahead: the rest is never read.
    assert pulled <= 5 * (3 + 2 * 2 + 1)
    outcomes.close()


def test_chunks_carry_their_first_index() -> None:
    rows = [UnreadableRow(policy_number=str(i), type="t", title="t", detail="d") for i in range(7)]
    assert [(start, len(c)) for start, c in chunks(rows, 3, start=10)] == [
        (10, 3),
        (13, 3),
        (16, 1),
    ]
    with pytest.raises(ValueError, match="batch_size"):
        list(chunks(rows, 0))


def test_rows_survive_the_trip_to_a_worker() -> None:
    rows = [
        ScoreRequest(
            policy_number="A", mib_xml=b"<r/>", rx_xml="<r/>", as_of=AS_OF, source="rescore"
        ),
        StoredVector(
            policy_number="B",
            vector=FeatureVector(schema_version="s", values=(1.5, float("inf"), -0.0)),
            as_of=AS_OF,
            prediction_id="p",
        ),
        UnreadableRow(policy_number="C", type="t", title="T", detail="d", document="rx_xml"),
    ]
    assert unpack(pack(rows)) == rows


def test_import_riskscore_stays_light_until_rescore_is_used() -> None:
    code = (
        "import sys, riskscore\n"
        "assert 'numpy' not in sys.modules and 'riskscore.rescore' not in sys.modules\n"
        "assert callable(riskscore.rescore)\n"
        "from riskscore import rescore\n"
        "assert rescore is riskscore.rescore and rescore.RescoreFailure\n"
        "assert 'numpy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
