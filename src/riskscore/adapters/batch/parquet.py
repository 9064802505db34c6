"""Parquet output: the JSON Lines spool converted when the run completes.

Rows are appended to a JSON Lines spool (``<out>.partial.jsonl``) exactly as for ``--format jsonl``,
so parquet runs resume the same way (a parquet file cannot be appended to once closed, and one cut
by a crash has no footer). When the run completes the spool is converted in row groups of
``ROWS_PER_GROUP`` (memory stays flat), written to a temporary file renamed over the output, and
removed. pyarrow comes with the ``snowflake`` extra; without it parquet is refused up front.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
from pathlib import Path
from typing import Any

import msgspec

from riskscore.adapters.batch.rows import CompareRow, ResultRow, RowKind

ROWS_PER_GROUP = 10_000
MISSING = (
    "parquet output needs pyarrow, which is not installed: "
    "pip install 'riskscore[snowflake]' (or pyarrow), or use --format jsonl"
)


class ParquetUnavailable(Exception):
    pass


def require_pyarrow() -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise ParquetUnavailable(MISSING)


def _schema(kind: RowKind) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    error = pa.struct(
        [
            ("type", pa.string()),
            ("title", pa.string()),
            ("detail", pa.string()),
            ("document", pa.string()),
        ]
    )
    if kind == "compare":
        return pa.schema(
            [
                ("index", pa.int64()),
                ("policy_number", pa.string()),
                ("from_version", pa.string()),
                ("to_version", pa.string()),
                ("from_score", pa.float64()),
                ("to_score", pa.float64()),
                ("shift", pa.float64()),
                ("from_class", pa.string()),
                ("to_class", pa.string()),
                ("error", error),
            ]
        )
    reason = pa.struct(
        [("feature", pa.string()), ("contribution", pa.float64()), ("value", pa.float64())]
    )
    return pa.schema(
        [
            ("index", pa.int64()),
            ("policy_number", pa.string()),
            ("risk_score", pa.float64()),
            ("risk_class", pa.string()),
            ("model_name", pa.string()),
            ("model_version", pa.string()),
            ("feature_schema_version", pa.string()),
            ("feature_hash", pa.string()),
            ("as_of", pa.date32()),
            ("prediction_id", pa.string()),
            ("scored_at", pa.timestamp("us", tz="UTC")),
            ("batch_run_id", pa.string()),
            ("source_prediction_id", pa.string()),
            ("reason_codes", pa.list_(reason)),
            ("error", error),
        ]
    )


def jsonl_to_parquet(spool: Path, out: Path, kind: RowKind) -> int:
    """Convert the spool into ``out``; returns the number of rows."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = _schema(kind)
    decoder = msgspec.json.Decoder(CompareRow if kind == "compare" else ResultRow)
    temporary = out.with_name(out.name + ".tmp")
    rows = 0
    with spool.open("rb") as lines, pq.ParquetWriter(temporary, schema) as writer:
        nonblank = (line for line in lines if line.strip())
        while batch := list(itertools.islice(nonblank, ROWS_PER_GROUP)):
            records = msgspec.to_builtins(
                [decoder.decode(line) for line in batch], builtin_types=(dt.date, dt.datetime)
            )
            writer.write_table(pa.Table.from_pylist(records, schema=schema))
            rows += len(batch)
    temporary.replace(out)
    return rows
