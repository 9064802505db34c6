"""The prediction log on the standard table ``ML_MODELS.MODEL_PREDICTIONS``.

Writes are multi-row ``MERGE ... WHEN NOT MATCHED THEN INSERT`` on ``PREDICTION_ID``: Snowflake does not
enforce a standard table's primary key, so the MERGE is what keeps redelivery a no-op (first write
wins). ``summarize`` fetches the window's four columns and hands them to
``PredictionSummary.from_columns`` so every adapter computes the figures identically; a monitoring
window is small next to the table. ``iter_batch_run`` streams keyset pages like the feature store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import msgspec

from riskscore.adapters.snowflake.codec import (
    CorruptValue,
    NaiveDatetime,
    decode_reason_codes,
    encode_reason_codes,
    from_utc_naive,
    timestamp_text,
    to_date,
    to_utc_naive,
)
from riskscore.adapters.snowflake.connection import (
    SnowflakeConnectionFactory,
    SqlCursor,
    fetch_all,
)
from riskscore.adapters.snowflake.sql import MODEL_PREDICTIONS, first_of_each_id
from riskscore.adapters.snowflake.table import SnowflakeTable
from riskscore.domain.scoring import PredictionRecord, ReasonCode
from riskscore.ports.prediction_log import (
    PredictionLog,
    PredictionLogError,
    PredictionLogUnavailable,
    PredictionSummary,
)

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("PREDICTION_ID", "{}::VARCHAR"),
    ("POLICY_NUMBER", "{}::VARCHAR"),
    ("PREDICTION", "{}::FLOAT"),
    ("RISK_CLASS", "{}::VARCHAR"),
    ("MODEL_NAME", "{}::VARCHAR"),
    ("MODEL_VERSION", "{}::VARCHAR"),
    ("FEATURE_SCHEMA_VERSION", "{}::VARCHAR"),
    ("FEATURE_HASH", "{}::VARCHAR"),
    ("REASON_CODES", "{}"),
    ("SCORE_DATE", "{}::TIMESTAMP_NTZ"),
    ("AS_OF", "{}::DATE"),
    ("INFERENCE_MS", "{}::FLOAT"),
    ("TOTAL_MS", "{}::FLOAT"),
    ("SOURCE", "{}::VARCHAR"),
    ("BATCH_RUN_ID", "{}::VARCHAR"),
)
_NEWEST_FIRST = " ORDER BY SCORE_DATE DESC, PREDICTION_ID DESC"


class SnowflakePredictionLog(PredictionLog):
    def __init__(
        self,
        connections: SnowflakeConnectionFactory,
        *,
        database: str,
        batch_rows: int = 200,
        page_rows: int = 500,
    ) -> None:
        self._table = SnowflakeTable(
            connections,
            database=database,
            table=MODEL_PREDICTIONS,
            columns=_COLUMNS,
            time_column="SCORE_DATE",
            unavailable=PredictionLogUnavailable,
            failed=PredictionLogError,
            batch_rows=batch_rows,
            page_rows=page_rows,
        )

    @property
    def table(self) -> str:
        return self._table.name

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        try:
            rows = [_encode(r) for r in first_of_each_id(records)]
        except (NaiveDatetime, TypeError, ValueError) as exc:
            raise PredictionLogError(f"unstorable prediction record: {exc}") from exc
        self._table.merge(rows)

    def get(self, prediction_id: str) -> PredictionRecord | None:
        row = self._table.one("WHERE PREDICTION_ID = %s", (prediction_id,))
        return None if row is None else _decode(row)

    def by_policy(self, policy_number: str) -> list[PredictionRecord]:
        rows = self._table.all("WHERE POLICY_NUMBER = %s" + _NEWEST_FIRST, (policy_number,))
        return [_decode(row) for row in rows]

    def recent(self, limit: int = 100) -> list[PredictionRecord]:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        if limit == 0:
            return []
        return [_decode(row) for row in self._table.all(_NEWEST_FIRST + " LIMIT %s", (limit,))]

    def iter_batch_run(self, batch_run_id: str) -> Iterator[PredictionRecord]:
        return (_decode(row) for row in self._table.stream(["BATCH_RUN_ID = %s"], (batch_run_id,)))

    def purge_evidence(self, policy_number: str) -> int:
        table = self._table.name

        def purge(cur: SqlCursor) -> int:
            rows = fetch_all(
                cur,
                f"SELECT PREDICTION_ID, REASON_CODES FROM {table} WHERE POLICY_NUMBER = %s",  # noqa: S608
                (policy_number,),
            )
            changed = 0
            for prediction_id, raw in rows:
                codes = _decode_reasons(prediction_id, raw)
                if all(code.value is None for code in codes):
                    continue
                stripped = tuple(msgspec.structs.replace(code, value=None) for code in codes)
                cur.execute(
                    f"UPDATE {table} SET REASON_CODES = PARSE_JSON(%s),"  # noqa: S608
                    " EVIDENCE_PURGED_AT = SYSDATE() WHERE PREDICTION_ID = %s",
                    (encode_reason_codes(stripped), prediction_id),
                )
                changed += 1
            return changed

        purged: int = self._table.run(purge)
        return purged

    def summarize(self, start: dt.datetime, end: dt.datetime) -> PredictionSummary:
        try:
            window = (to_utc_naive(start, "start"), to_utc_naive(end, "end"))
        except NaiveDatetime as exc:
            raise PredictionLogError(str(exc)) from exc
        query = (
            f"SELECT RISK_CLASS, MODEL_VERSION, PREDICTION, TOTAL_MS FROM {self._table.name}"  # noqa: S608
            " WHERE SCORE_DATE >= %s::TIMESTAMP_NTZ AND SCORE_DATE < %s::TIMESTAMP_NTZ"
        )
        rows: list[Sequence[Any]] = self._table.run(partial(fetch_all, query=query, params=window))
        if not rows:
            return PredictionSummary.empty()
        return PredictionSummary.from_columns(
            risk_classes=[str(r[0]) for r in rows],
            model_versions=[str(r[1]) for r in rows],
            scores=[float(r[2]) for r in rows],
            total_ms=[float(r[3]) if r[3] is not None else 0.0 for r in rows],
        )

    def close(self) -> None:
        self._table.close()


def _encode(r: PredictionRecord) -> dict[str, Any]:
    return {
        "PREDICTION_ID": r.prediction_id,
        "POLICY_NUMBER": r.policy_number,
        "PREDICTION": float(r.risk_score),
        "RISK_CLASS": r.risk_class,
        "MODEL_NAME": r.model_name,
        "MODEL_VERSION": r.model_version,
        "FEATURE_SCHEMA_VERSION": r.feature_schema_version,
        "FEATURE_HASH": r.feature_hash,
        "REASON_CODES": r.reason_codes,
        "SCORE_DATE": timestamp_text(r.scored_at, "scored_at"),
        "AS_OF": r.as_of.isoformat(),
        "INFERENCE_MS": float(r.inference_ms),
        "TOTAL_MS": float(r.total_ms),
        "SOURCE": r.source,
        "BATCH_RUN_ID": r.batch_run_id,
    }


def _decode_reasons(prediction_id: str, raw: Any) -> tuple[ReasonCode, ...]:
    try:
        return decode_reason_codes(raw)
    except CorruptValue as exc:
        raise PredictionLogError(f"stored prediction {prediction_id} is corrupt: {exc}") from exc


def _decode(row: Sequence[Any]) -> PredictionRecord:
    prediction_id = str(row[0])
    try:
        return PredictionRecord(
            prediction_id=prediction_id,
            policy_number=row[1],
            risk_score=float(row[2]),
            risk_class=row[3],
            model_name=row[4],
            model_version=row[5],
            feature_schema_version=row[6],
            feature_hash=row[7],
            reason_codes=decode_reason_codes(row[8]),
            scored_at=from_utc_naive(row[9]),
            as_of=to_date(row[10]),
            inference_ms=float(row[11]) if row[11] is not None else 0.0,
            total_ms=float(row[12]) if row[12] is not None else 0.0,
            source=row[13],
            batch_run_id=row[14],
        )
    except (CorruptValue, ValueError, TypeError) as exc:
        raise PredictionLogError(f"stored prediction {prediction_id} is corrupt: {exc}") from exc
