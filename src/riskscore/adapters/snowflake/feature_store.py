"""The online feature store on the hybrid table ``HYBRID_REALTIME.HT_ONLINE_FEATURES``.

Writes are multi-row ``MERGE ... WHEN NOT MATCHED THEN INSERT`` statements on ``PREDICTION_ID`` (the
primary key), ``batch_rows`` records each, so a redelivered record is a no-op and the first write wins.
``latest`` is served by the ``(POLICY_NUMBER, FEATURE_TS)`` index; ``iter_records`` streams keyset
pages of ``page_rows`` rows, each its own query, so a dropped session costs one page, not the stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from riskscore.adapters.snowflake.codec import (
    CorruptValue,
    NaiveDatetime,
    decode_values,
    encode_batch,
    from_utc_naive,
    timestamp_text,
    to_date,
    values_json,
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
    ONLINE_FEATURES,
    first_of_each_id,
    keyset_page,
    merge_json_rows,
    qualified,
)
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
_SELECT_COLUMNS = ", ".join(name for name, _ in _COLUMNS)


class SnowflakeFeatureStore(FeatureStore):
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
        self._table = qualified(database, ONLINE_FEATURES)
        self._select = f"SELECT {_SELECT_COLUMNS} FROM {self._table}"  # noqa: S608
        self._merge = merge_json_rows(self._table, "PREDICTION_ID", _COLUMNS)
        self._batch_rows = batch_rows
        self._page_rows = page_rows
        self._client = SnowflakeClient(
            connections, unavailable=FeatureStoreUnavailable, failed=FeatureStoreError
        )

    @property
    def table(self) -> str:
        return self._table

    def write_many(self, records: Sequence[FeatureRecord]) -> None:
        try:
            rows = [_encode(r) for r in first_of_each_id(records)]
        except (NaiveDatetime, TypeError, ValueError) as exc:
            raise FeatureStoreError(f"unstorable feature record: {exc}") from exc
        for start in range(0, len(rows), self._batch_rows):
            batch = encode_batch(rows[start : start + self._batch_rows])
            self._client.run(partial(execute, query=self._merge, params=(batch,)))

    def get(self, prediction_id: str) -> FeatureRecord | None:
        row = self._client.run(
            lambda cur: fetch_one(cur, self._select + " WHERE PREDICTION_ID = %s", (prediction_id,))
        )
        return None if row is None else _decode(row)

    def latest(self, policy_number: str) -> FeatureRecord | None:
        query = (
            self._select + " WHERE POLICY_NUMBER = %s"
            " ORDER BY FEATURE_TS DESC, PREDICTION_ID DESC LIMIT 1"
        )
        row = self._client.run(lambda cur: fetch_one(cur, query, (policy_number,)))
        return None if row is None else _decode(row)

    def iter_records(self, schema_version: str | None = None) -> Iterator[FeatureRecord]:
        filters = [] if schema_version is None else ["FEATURE_SCHEMA_VERSION = %s"]
        values: tuple[Any, ...] = () if schema_version is None else (schema_version,)
        return self._pages(filters, values)

    def _pages(self, filters: list[str], values: tuple[Any, ...]) -> Iterator[FeatureRecord]:
        first = keyset_page(self._select, filters, ("FEATURE_TS", "PREDICTION_ID"), after=False)
        following = keyset_page(self._select, filters, ("FEATURE_TS", "PREDICTION_ID"), after=True)
        rows = self._client.run(lambda cur: fetch_all(cur, first, (*values, self._page_rows)))
        while rows:
            for row in rows:
                yield _decode(row)
            if len(rows) < self._page_rows:
                return
            last_ts, last_id = rows[-1][2], rows[-1][0]
            params = (*values, last_ts, last_ts, last_id, self._page_rows)
            rows = self._client.run(partial(fetch_all, query=following, params=params))

    def purge_policy(self, policy_number: str) -> int:
        def delete(cur: SqlCursor) -> int:
            cur.execute(f"DELETE FROM {self._table} WHERE POLICY_NUMBER = %s", (policy_number,))  # noqa: S608
            row = cur.fetchone()
            return int(row[0]) if row else 0

        return self._client.run(delete)

    def close(self) -> None:
        self._client.close()


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
