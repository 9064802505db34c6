"""The online feature store in an embedded SQLite file (table ``online_features``)."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

from riskscore.adapters.sqlite.codec import (
    NaiveDatetime,
    decode_date,
    decode_datetime,
    encode_date,
    encode_datetime,
    pack_values,
    unpack_values,
)
from riskscore.adapters.sqlite.migrate import open_database
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.ports.feature_store import FeatureStore, FeatureStoreError, FeatureStoreUnavailable

_COLUMNS = "prediction_id, policy_number, as_of, feature_ts, schema_version, vector_values"
_INSERT = (
    "INSERT INTO online_features (prediction_id, policy_number, as_of, feature_ts, schema_version,"
    " n_values, vector_values) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (prediction_id) DO NOTHING"
)
# ON CONFLICT (prediction_id) DO NOTHING rather than INSERT OR IGNORE: OR IGNORE would also skip, in
# silence, rows breaking a NOT NULL or CHECK constraint; only a repeated prediction_id is a no-op.

Row = tuple[str, str, str, str, str, bytes]


def _decode(row: Row) -> FeatureRecord:
    prediction_id, policy_number, as_of, feature_ts, schema_version, blob = row
    return FeatureRecord(
        prediction_id=prediction_id,
        policy_number=policy_number,
        as_of=decode_date(as_of),
        feature_ts=decode_datetime(feature_ts),
        vector=FeatureVector(schema_version=schema_version, values=unpack_values(blob)),
    )


class SqliteFeatureStore(FeatureStore):
    """Thread-safe (a connection per thread, WAL). May share its file with ``SqlitePredictionLog``."""

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 5.0, migrate: bool = True
    ) -> None:
        self._db = open_database(
            path,
            unavailable=FeatureStoreUnavailable,
            error=FeatureStoreError,
            busy_timeout_s=busy_timeout_s,
            migrate=migrate,
        )

    @property
    def path(self) -> Path:
        return self._db.path

    def write_many(self, records: Sequence[FeatureRecord]) -> None:
        if not records:
            return
        try:
            rows = [
                (
                    r.prediction_id,
                    r.policy_number,
                    encode_date(r.as_of),
                    encode_datetime(r.feature_ts, "feature_ts"),
                    r.vector.schema_version,
                    len(r.vector.values),
                    pack_values(r.vector.values),
                )
                for r in records
            ]
        except (NaiveDatetime, TypeError, struct.error) as exc:
            raise FeatureStoreError(f"unstorable feature record: {exc}") from exc
        with self._db.write("write feature records") as conn:
            conn.executemany(_INSERT, rows)

    def get(self, prediction_id: str) -> FeatureRecord | None:
        with self._db.read("get feature record") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM online_features WHERE prediction_id = ?",  # noqa: S608
                (prediction_id,),
            ).fetchone()
        return None if row is None else _decode(row)

    def latest(self, policy_number: str) -> FeatureRecord | None:
        with self._db.read("get latest feature record") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM online_features WHERE policy_number = ?"  # noqa: S608
                " ORDER BY feature_ts DESC, prediction_id DESC LIMIT 1",
                (policy_number,),
            ).fetchone()
        return None if row is None else _decode(row)

    def iter_records(self, schema_version: str | None = None) -> Iterator[FeatureRecord]:
        """Keyset pages (``connection.PAGE_SIZE`` rows); rows inserted after the call are not seen."""
        with self._db.read("iterate feature records") as conn:
            (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM online_features").fetchone()
        return self._pages(int(last_id), schema_version)

    def _pages(self, last_id: int, schema_version: str | None) -> Iterator[FeatureRecord]:
        query = f"SELECT {_COLUMNS} FROM online_features WHERE id <= ?"  # noqa: S608
        params: tuple[object, ...] = (last_id,)
        if schema_version is not None:
            query += " AND schema_version = ?"
            params += (schema_version,)
        rows = self._db.iter_keyset(
            "iterate feature records",
            query,
            params,
            keys=("feature_ts", "prediction_id"),
            key_at=(3, 0),
        )
        return (_decode(row) for row in rows)

    def purge_policy(self, policy_number: str) -> int:
        with self._db.write("purge feature records") as conn:
            cursor = conn.execute(
                "DELETE FROM online_features WHERE policy_number = ?", (policy_number,)
            )
            return int(cursor.rowcount)

    def close(self) -> None:
        self._db.close()
