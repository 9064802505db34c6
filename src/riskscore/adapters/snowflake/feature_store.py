"""The online feature store on the hybrid table ``HYBRID_REALTIME.HT_ONLINE_FEATURES``.

Writes are multi-row ``MERGE ... WHEN NOT MATCHED THEN INSERT`` statements on ``PREDICTION_ID`` (the
primary key), ``batch_rows`` records each, so a redelivered record is a no-op and the first write wins.
``latest`` is served by the ``(POLICY_NUMBER, FEATURE_TS)`` index; ``iter_records`` streams keyset
pages of ``page_rows`` rows, each its own query, so a dropped session costs one page, not the stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from riskscore.adapters.snowflake.codec import (
    CorruptValue,
    NaiveDatetime,
    decode_values,
    from_utc_naive,
    timestamp_text,
    to_date,
    values_json,
)
from riskscore.adapters.snowflake.connection import SnowflakeConnectionFactory, SqlCursor
from riskscore.adapters.snowflake.sql import ONLINE_FEATURES, first_of_each_id
from riskscore.adapters.snowflake.table import SnowflakeTable
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.ports.feature_store import FeatureStore, FeatureStoreError, FeatureStoreUnavailable

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("PREDICTION_ID", "{}::VARCHAR"),
    ("POLICY_NUMBER", "{}::VARCHAR"),
    ("FEATURE_TS", "{}::TIMESTAMP_NTZ"),
    ("AS_OF", "{}::DATE"),
    ("FEATURE_SCHEMA_VERSION", "{}::VARCHAR"),
    ("FEATURES", "{}"),
)


class SnowflakeFeatureStore(FeatureStore):
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
            table=ONLINE_FEATURES,
            columns=_COLUMNS,
            time_column="FEATURE_TS",
            unavailable=FeatureStoreUnavailable,
            failed=FeatureStoreError,
            batch_rows=batch_rows,
            page_rows=page_rows,
        )

    @property
    def table(self) -> str:
        return self._table.name

    def write_many(self, records: Sequence[FeatureRecord]) -> None:
        try:
            rows = [_encode(r) for r in first_of_each_id(records)]
        except (NaiveDatetime, TypeError, ValueError) as exc:
            raise FeatureStoreError(f"unstorable feature record: {exc}") from exc
        self._table.merge(rows)

    def get(self, prediction_id: str) -> FeatureRecord | None:
        row = self._table.one("WHERE PREDICTION_ID = %s", (prediction_id,))
        return None if row is None else _decode(row)

    def latest(self, policy_number: str) -> FeatureRecord | None:
        row = self._table.one(
            "WHERE POLICY_NUMBER = %s ORDER BY FEATURE_TS DESC, PREDICTION_ID DESC LIMIT 1",
            (policy_number,),
        )
        return None if row is None else _decode(row)

    def iter_records(self, schema_version: str | None = None) -> Iterator[FeatureRecord]:
        if schema_version is None:
            rows = self._table.stream([], ())
        else:
            rows = self._table.stream(["FEATURE_SCHEMA_VERSION = %s"], (schema_version,))
        return (_decode(row) for row in rows)

    def purge_policy(self, policy_number: str) -> int:
        table = self._table.name

        def delete(cur: SqlCursor) -> int:
            cur.execute(f"DELETE FROM {table} WHERE POLICY_NUMBER = %s", (policy_number,))  # noqa: S608
            row = cur.fetchone()
            return int(row[0]) if row else 0

        deleted: int = self._table.run(delete)
        return deleted

    def close(self) -> None:
        self._table.close()


def _encode(r: FeatureRecord) -> dict[str, Any]:
    return {
        "PREDICTION_ID": r.prediction_id,
        "POLICY_NUMBER": r.policy_number,
        "FEATURE_TS": timestamp_text(r.feature_ts, "feature_ts"),
        "AS_OF": r.as_of.isoformat(),
        "FEATURE_SCHEMA_VERSION": r.vector.schema_version,
        "FEATURES": values_json(r.vector.values),
    }


def _decode(row: Sequence[Any]) -> FeatureRecord:
    prediction_id, policy_number, feature_ts, as_of, schema_version, features = row
    try:
        return FeatureRecord(
            prediction_id=prediction_id,
            policy_number=policy_number,
            as_of=to_date(as_of),
            feature_ts=from_utc_naive(feature_ts),
            vector=FeatureVector(schema_version=schema_version, values=decode_values(features)),
        )
    except (CorruptValue, ValueError) as exc:
        raise FeatureStoreError(f"stored feature record {prediction_id} is corrupt: {exc}") from exc
