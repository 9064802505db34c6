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
    encode_batch,
    encode_reason_codes,
    from_utc_naive,
    timestamp_text,
    to_date,
    to_utc_naive,
)
from riskscore.adapters.snowflake.connection import (
    SnowflakeClient,
    SnowflakeConnectionFactory,
    SqlCursor,
    execute,
    fetch_all,
    fetch_one,
)
from riskscore.adapters.snowflake.sql import (
    MODEL_PREDICTIONS,
    first_of_each_id,
    keyset_page,
    merge_json_rows,
    qualified,
)
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
_SELECT_COLUMNS = ", ".join(name for name, _ in _COLUMNS)
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
        if batch_rows < 1 or page_rows < 1:
            raise ValueError("batch_rows and page_rows must be positive")
        self._table = qualified(database, MODEL_PREDICTIONS)
        self._select = f"SELECT {_SELECT_COLUMNS} FROM {self._table}"  # noqa: S608
        self._merge = merge_json_rows(self._table, "PREDICTION_ID", _COLUMNS)
        self._batch_rows = batch_rows
        self._page_rows = page_rows
        self._client = SnowflakeClient(
            connections, unavailable=PredictionLogUnavailable, failed=PredictionLogError
        )

    @property
    def table(self) -> str:
        return self._table

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        try:
            rows = [_encode(r) for r in first_of_each_id(records)]
        except (NaiveDatetime, TypeError, ValueError) as exc:
            raise PredictionLogError(f"unstorable prediction record: {exc}") from exc
        for start in range(0, len(rows), self._batch_rows):
            batch = encode_batch(rows[start : start + self._batch_rows])
            self._client.run(partial(execute, query=self._merge, params=(batch,)))

    def get(self, prediction_id: str) -> PredictionRecord | None:
        query = self._select + " WHERE PREDICTION_ID = %s"
        row = self._client.run(lambda cur: fetch_one(cur, query, (prediction_id,)))
        return None if row is None else _decode(row)

    def by_policy(self, policy_number: str) -> list[PredictionRecord]:
        query = self._select + " WHERE POLICY_NUMBER = %s" + _NEWEST_FIRST
        rows = self._client.run(lambda cur: fetch_all(cur, query, (policy_number,)))
        return [_decode(row) for row in rows]

    def recent(self, limit: int = 100) -> list[PredictionRecord]:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        if limit == 0:
            return []
        query = self._select + _NEWEST_FIRST + " LIMIT %s"
        rows = self._client.run(lambda cur: fetch_all(cur, query, (limit,)))
        return [_decode(row) for row in rows]

    def iter_batch_run(self, batch_run_id: str) -> Iterator[PredictionRecord]:
        order = ("SCORE_DATE", "PREDICTION_ID")
        first = keyset_page(self._select, ["BATCH_RUN_ID = %s"], order, after=False)
        following = keyset_page(self._select, ["BATCH_RUN_ID = %s"], order, after=True)
        return self._pages(batch_run_id, first, following)

    def _pages(self, batch_run_id: str, first: str, following: str) -> Iterator[PredictionRecord]:
        rows = self._client.run(lambda cur: fetch_all(cur, first, (batch_run_id, self._page_rows)))
        while rows:
            for row in rows:
                yield _decode(row)
            if len(rows) < self._page_rows:
                return
            last_ts, last_id = rows[-1][9], rows[-1][0]
            params = (batch_run_id, last_ts, last_ts, last_id, self._page_rows)
            rows = self._client.run(partial(fetch_all, query=following, params=params))

    def purge_evidence(self, policy_number: str) -> int:
        def purge(cur: SqlCursor) -> int:
            rows = fetch_all(
                cur,
                f"SELECT PREDICTION_ID, REASON_CODES FROM {self._table}"  # noqa: S608
                " WHERE POLICY_NUMBER = %s",
                (policy_number,),
            )
            changed = 0
            for prediction_id, raw in rows:
                codes = _decode_reasons(prediction_id, raw)
                if all(code.value is None for code in codes):
                    continue
                stripped = tuple(msgspec.structs.replace(code, value=None) for code in codes)
                cur.execute(
                    f"UPDATE {self._table} SET REASON_CODES = PARSE_JSON(%s),"  # noqa: S608
                    " EVIDENCE_PURGED_AT = SYSDATE() WHERE PREDICTION_ID = %s",
                    (encode_reason_codes(stripped), prediction_id),
                )
                changed += 1
            return changed

        return self._client.run(purge)

    def summarize(self, start: dt.datetime, end: dt.datetime) -> PredictionSummary:
        try:
            window = (to_utc_naive(start, "start"), to_utc_naive(end, "end"))
        except NaiveDatetime as exc:
            raise PredictionLogError(str(exc)) from exc
        query = (
            f"SELECT RISK_CLASS, MODEL_VERSION, PREDICTION, TOTAL_MS FROM {self._table}"  # noqa: S608
            " WHERE SCORE_DATE >= %s::TIMESTAMP_NTZ AND SCORE_DATE < %s::TIMESTAMP_NTZ"
        )
        rows = self._client.run(lambda cur: fetch_all(cur, query, window))
        if not rows:
            return PredictionSummary.empty()
        return PredictionSummary.from_columns(
            risk_classes=[str(r[0]) for r in rows],
            model_versions=[str(r[1]) for r in rows],
            scores=[float(r[2]) for r in rows],
            total_ms=[float(r[3]) if r[3] is not None else 0.0 for r in rows],
        )

    def close(self) -> None:
        self._client.close()


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
