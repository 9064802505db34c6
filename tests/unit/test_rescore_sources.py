"""Rescoring sources: dataset directories, JSON Lines, the feature store, in-memory iterables, and the
auto-detection of what a caller passed (Snowflake queries: test_rescore_snowflake.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from riskscore.adapters.batch.sources import (
    ApplicationsSource,
    DatasetSource,
    FeatureStoreSource,
    JsonlSource,
    SourceError,
    open_source,
)
from riskscore.adapters.memory.feature_store import InMemoryFeatureStore
from riskscore.adapters.synthetic import write_dataset
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.domain.usecases.rescore import StoredVector, UnreadableRow
from riskscore.domain.usecases.score_policy import ScoreRequest

AS_OF = dt.date(2026, 1, 1)


def test_a_dataset_directory_streams_in_labels_order_with_its_as_of(tmp_path: Path) -> None:
    write_dataset(tmp_path, 4, 3, as_of=AS_OF)
    source = DatasetSource(tmp_path)
    rows = list(source)
    assert source.total == 4
    assert source.kind == "evidence"
    assert [r.policy_number for r in rows] == [f"SYN-000000{i}" for i in range(1, 5)]
    first = rows[0]
    assert isinstance(first, ScoreRequest)
    assert first.as_of == AS_OF
    assert first.mib_xml == (tmp_path / "mib" / "SYN-0000001.xml").read_bytes()
    assert str(tmp_path.resolve()) in source.description


def test_a_dataset_row_without_its_documents_is_reported_in_place(tmp_path: Path) -> None:
    write_dataset(tmp_path, 3, 3, as_of=AS_OF)
    (tmp_path / "rx" / "SYN-0000002.xml").unlink()
    with (tmp_path / "labels.csv").open("a") as labels:
        labels.write("../escape,2026-01-01,0\nSYN-9,not-a-date,0\n")
    rows = list(DatasetSource(tmp_path))
    assert [type(r).__name__ for r in rows] == [
        "ScoreRequest",
        "UnreadableRow",
        "ScoreRequest",
        "UnreadableRow",
        "UnreadableRow",
    ]
    missing, escape, bad_date = rows[1], rows[3], rows[4]
    assert isinstance(missing, UnreadableRow)
    assert (missing.type, missing.policy_number) == ("missing-evidence", "SYN-0000002")
    assert missing.detail.startswith("rx_xml")
    assert isinstance(escape, UnreadableRow)
    assert escape.type == "invalid-input-row"
    assert isinstance(bad_date, UnreadableRow)
    assert "as_of" in bad_date.detail


def test_a_directory_that_is_not_a_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"labels\.csv"):
        DatasetSource(tmp_path)


def _jsonl(path: Path, *lines: object) -> Path:
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else msgspec.json.encode(line)) + b"\n"
            for line in lines
        )
    )
    return path


def test_json_lines_with_bad_lines_reported_by_number(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "apps.jsonl",
        {"policy_number": "A-1", "mib_xml": "<r/>", "rx_xml": "<r/>", "label": 1},
        {"policy_number": "A-2", "mib_xml": "<r/>", "rx_xml": "<r/>", "as_of": "2025-05-05"},
        b"",
        b"{not json",
        {"policy_number": "A-5", "mib_xml": None, "rx_xml": "<r/>"},
        {"policy_number": "A-6", "mib_xml": "<secret-evidence/>"},
    )
    rows = list(JsonlSource(path))
    assert [r.policy_number for r in rows] == ["A-1", "A-2", "", "A-5", "A-6"]
    assert isinstance(rows[0], ScoreRequest)
    assert rows[0].as_of is None
    assert isinstance(rows[1], ScoreRequest)
    assert rows[1].as_of == dt.date(2025, 5, 5)
    bad_json, null_doc, missing = rows[2], rows[3], rows[4]
    assert isinstance(bad_json, UnreadableRow)
    assert bad_json.detail.startswith("line 4:")
    assert isinstance(null_doc, UnreadableRow)
    assert "mib_xml" in null_doc.detail
    assert isinstance(missing, UnreadableRow)
    assert "rx_xml" in missing.detail
    assert "secret-evidence" not in missing.detail


def test_a_missing_json_lines_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        JsonlSource(tmp_path / "nope.jsonl")


def test_the_feature_store_yields_every_stored_vector_with_its_lineage() -> None:
    store = InMemoryFeatureStore()
    now = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
    records = [
        FeatureRecord(
            prediction_id=f"id-{i}",
            policy_number=f"P-{i}",
            as_of=AS_OF,
            feature_ts=now + dt.timedelta(seconds=i),
            vector=FeatureVector(schema_version="v-old" if i == 1 else "v-new", values=(float(i),)),
        )
        for i in range(3)
    ]
    store.write_many(records)
    source = FeatureStoreSource(store)
    rows = list(source)
    assert source.kind == "features"
    assert all(isinstance(r, StoredVector) for r in rows)
    assert [(r.policy_number, r.prediction_id) for r in rows if isinstance(r, StoredVector)] == [
        ("P-0", "id-0"),
        ("P-1", "id-1"),
        ("P-2", "id-2"),
    ]
    # Every schema version comes through: a foreign one is refused per row by the use case.
    assert {r.vector.schema_version for r in rows if isinstance(r, StoredVector)} == {
        "v-old",
        "v-new",
    }


def test_an_iterable_of_mappings_and_inputs(tmp_path: Path) -> None:
    given = ScoreRequest(policy_number="B-0", mib_xml="<r/>", rx_xml="<r/>")
    rows = list(
        ApplicationsSource(
            [given, {"policy_number": "B-1", "mib_xml": "<r/>", "rx_xml": "<r/>"}, {"x": 1}]
        )
    )
    assert rows[0] is given
    assert isinstance(rows[1], ScoreRequest)
    assert isinstance(rows[2], UnreadableRow)
    assert rows[2].detail.startswith("item 3:")


def test_open_source_detects_what_it_is_given(tmp_path: Path) -> None:
    write_dataset(tmp_path / "ds", 1, 1)
    jsonl = _jsonl(
        tmp_path / "a.jsonl", {"policy_number": "A", "mib_xml": "<r/>", "rx_xml": "<r/>"}
    )
    store = InMemoryFeatureStore()
    assert isinstance(open_source(tmp_path / "ds"), DatasetSource)
    assert isinstance(open_source(str(jsonl)), JsonlSource)
    assert isinstance(open_source(store), FeatureStoreSource)
    assert isinstance(open_source("feature-store", feature_store=store), FeatureStoreSource)
    assert isinstance(open_source([]), ApplicationsSource)
    source = JsonlSource(jsonl)
    assert open_source(source) is source
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "missing")
    with pytest.raises(SourceError, match="connection factory"):
        open_source("SELECT 1")
    with pytest.raises(SourceError, match="cannot rescore"):
        open_source(42)
