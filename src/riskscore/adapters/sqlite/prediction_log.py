"""The prediction log in an embedded SQLite file (table ``model_predictions``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from riskscore.adapters.sqlite.codec import (
    NaiveDatetime,
    decode_date,
    decode_datetime,
    decode_reason_codes,
    encode_date,
    encode_datetime,
    encode_reason_codes,
)
from riskscore.adapters.sqlite.migrate import open_database
from riskscore.domain.scoring import PredictionRecord, RiskClass
from riskscore.ports.prediction_log import (
    PredictionLog,
    PredictionLogError,
    PredictionLogUnavailable,
    PredictionSummary,
)

_COLUMNS = (
    "prediction_id, policy_number, risk_score, risk_class, model_name, model_version,"
    " feature_schema_version, feature_hash, reason_codes, scored_at, as_of, inference_ms,"
    " total_ms, source, batch_run_id"
)
_INSERT = (  # a repeated id is a no-op, see feature_store.py
    f"INSERT INTO model_predictions ({_COLUMNS})"  # noqa: S608
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (prediction_id) DO NOTHING"
)
_SELECT = f"SELECT {_COLUMNS} FROM model_predictions"  # noqa: S608

Row = tuple[
    str, str, float, RiskClass, str, str, str, str, str, str, str, float, float, str, str | None
]


def _encode(r: PredictionRecord) -> tuple[object, ...]:
    return (
        r.prediction_id,
        r.policy_number,
        r.risk_score,
        r.risk_class,
        r.model_name,
        r.model_version,
        r.feature_schema_version,
        r.feature_hash,
        encode_reason_codes(r.reason_codes),
        encode_datetime(r.scored_at, "scored_at"),
        encode_date(r.as_of),
        r.inference_ms,
        r.total_ms,
        r.source,
        r.batch_run_id,
    )


def _decode(row: Row) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=row[0],
        policy_number=row[1],
        risk_score=row[2],
        risk_class=row[3],
        model_name=row[4],
        model_version=row[5],
        feature_schema_version=row[6],
        feature_hash=row[7],
        reason_codes=decode_reason_codes(row[8]),
        scored_at=decode_datetime(row[9]),
        as_of=decode_date(row[10]),
        inference_ms=row[11],
        total_ms=row[12],
        source=row[13],
        batch_run_id=row[14],
    )


class SqlitePredictionLog(PredictionLog):
    """Thread-safe (a connection per thread, WAL). May share its file with ``SqliteFeatureStore``."""

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 5.0, migrate: bool = True
    ) -> None:
        self._db = open_database(
            path,
            unavailable=PredictionLogUnavailable,
            error=PredictionLogError,
            busy_timeout_s=busy_timeout_s,
            migrate=migrate,
        )

    @property
    def path(self) -> Path:
        return self._db.path

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        try:
            rows = [_encode(r) for r in records]
        except (NaiveDatetime, TypeError) as exc:
            raise PredictionLogError(f"unstorable prediction record: {exc}") from exc
        with self._db.write("append predictions") as conn:
            conn.executemany(_INSERT, rows)

    def get(self, prediction_id: str) -> PredictionRecord | None:
        with self._db.read("get prediction") as conn:
            row = conn.execute(_SELECT + " WHERE prediction_id = ?", (prediction_id,)).fetchone()
        return None if row is None else _decode(row)

    def by_policy(self, policy_number: str) -> list[PredictionRecord]:
        with self._db.read("list predictions of a policy") as conn:
            rows = conn.execute(
                _SELECT + " WHERE policy_number = ? ORDER BY scored_at DESC, prediction_id DESC",
                (policy_number,),
            ).fetchall()
        return [_decode(row) for row in rows]

    def recent(self, limit: int = 100) -> list[PredictionRecord]:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        with self._db.read("list recent predictions") as conn:
            rows = conn.execute(
                _SELECT + " ORDER BY scored_at DESC, prediction_id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_decode(row) for row in rows]

    def iter_batch_run(self, batch_run_id: str) -> Iterator[PredictionRecord]:
        """Keyset pages (``connection.PAGE_SIZE`` rows); no read transaction stays open between them."""
        rows = self._db.iter_keyset(
            "iterate a batch run",
            _SELECT + " WHERE batch_run_id = ?",
            (batch_run_id,),
            keys=("scored_at", "prediction_id"),
            key_at=(9, 0),
        )
        return (_decode(row) for row in rows)

    def purge_evidence(self, policy_number: str) -> int:
        purged_at = encode_datetime(dt.datetime.now(dt.UTC), "purged_at")
        with self._db.write("purge evidence") as conn:
            rows = conn.execute(
                "SELECT prediction_id, reason_codes FROM model_predictions WHERE policy_number = ?",
                (policy_number,),
            ).fetchall()
            updates = []
            for prediction_id, text in rows:
                codes = decode_reason_codes(text)
                if all(code.value is None for code in codes):
                    continue
                stripped = tuple(msgspec.structs.replace(code, value=None) for code in codes)
                updates.append((encode_reason_codes(stripped), purged_at, prediction_id))
            conn.executemany(
                "UPDATE model_predictions SET reason_codes = ?, evidence_purged_at = ?"
                " WHERE prediction_id = ?",
                updates,
            )
        return len(updates)

    def summarize(self, start: dt.datetime, end: dt.datetime) -> PredictionSummary:
        try:
            window = (encode_datetime(start, "start"), encode_datetime(end, "end"))
        except NaiveDatetime as exc:
            raise PredictionLogError(str(exc)) from exc
        with self._db.read("summarize predictions") as conn:
            rows = conn.execute(
                "SELECT risk_class, model_version, risk_score, total_ms FROM model_predictions"
                " WHERE scored_at >= ? AND scored_at < ?",
                window,
            ).fetchall()
        if not rows:
            return PredictionSummary.empty()
        classes, versions, scores, total_ms = zip(*rows, strict=True)
        return PredictionSummary.from_columns(
            risk_classes=classes, model_versions=versions, scores=scores, total_ms=total_ms
        )

    def close(self) -> None:
        self._db.close()
