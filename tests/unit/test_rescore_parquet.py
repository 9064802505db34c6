"""Parquet output: the spool's rows, every field and null as written, a block at a time."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import msgspec
import pytest

from riskscore.adapters.batch import parquet
from riskscore.adapters.batch.parquet import jsonl_to_parquet
from riskscore.adapters.batch.rows import CompareRow, ResultRow, RowError
from riskscore.domain.scoring import ReasonCode

pq = pytest.importorskip("pyarrow.parquet")

SCORED = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)


def result_rows(count: int) -> list[ResultRow]:
    rows = []
    for i in range(count):
        if i % 7 == 3:
            rows.append(
                ResultRow(
                    index=i,
                    policy_number=f'bad "{i}"\\n',
                    batch_run_id="run-1",
                    error=RowError(
                        type="malformed-evidence",
                        title="Evidence is not well-formed XML",
                        detail="line 1: ünterminated",
                        document="mib_xml" if i % 2 else None,
                    ),
                )
            )
            continue
        rows.append(
            ResultRow(
                index=i,
                policy_number=f"POL-{i}",
                risk_score=1.0 / (i + 3),
                risk_class="standard",
                model_name="EVIDENCE_RISK_MODEL",
                model_version="V2",
                feature_schema_version="0123456789abcdef",
                feature_hash=f"{i:032x}",
                as_of=dt.date(2025, 1, 1) + dt.timedelta(days=i),
                prediction_id=f"id-{i}",
                scored_at=SCORED,
                batch_run_id="run-1",
                source_prediction_id=None if i % 2 else f"src-{i}",
                reason_codes=tuple(
                    ReasonCode(
                        feature=f"f{j}",
                        contribution=(-1) ** j * 1e-3 * (i + j),
                        value=None if j == 1 else float(j * i),
                    )
                    for j in range(i % 4)
                ),
            )
        )
    return rows


def convert(tmp_path: Path, rows: list[ResultRow] | list[CompareRow], kind: str) -> list[dict]:
    spool, out = tmp_path / "spool.jsonl", tmp_path / "out.parquet"
    spool.write_bytes(msgspec.json.Encoder().encode_lines(rows))
    assert jsonl_to_parquet(spool, out, kind) == len(rows)  # type: ignore[arg-type]
    return pq.read_table(out).to_pylist()


def test_result_rows_convert_with_every_field_and_null(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet, "BLOCK_BYTES", 4096)  # several blocks
    rows = result_rows(300)
    got = convert(tmp_path, rows, "result")
    want = [msgspec.to_builtins(r, builtin_types=(dt.date, dt.datetime)) for r in rows]
    for row in want:
        row["reason_codes"] = list(row["reason_codes"])  # a tuple in the struct, a list in parquet
    assert got == want
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups > 1


def test_compare_rows_and_an_empty_spool_convert(tmp_path: Path) -> None:
    rows = [
        CompareRow(index=0, policy_number="A", from_version="V1", to_version="V2",
                   from_score=0.1, to_score=0.3, shift=0.3 - 0.1, from_class="standard",
                   to_class="substandard"),
        CompareRow(index=1, policy_number="B", from_version="V1", to_version="V2",
                   error=RowError(type="t", title="T", detail="d")),
        CompareRow(index=2, policy_number="C", from_version="V1", to_version="V2",
                   from_score=math.nan, to_score=0.5, shift=None),
    ]  # fmt: skip
    got = convert(tmp_path, rows, "compare")
    assert got[0] == msgspec.to_builtins(rows[0])
    assert got[1]["error"] == {"type": "t", "title": "T", "detail": "d", "document": None}
    assert got[2]["from_score"] is None  # NaN is written as null, and read back as null
    assert convert(tmp_path, [], "result") == []
