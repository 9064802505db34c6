"""The online feature store in an embedded SQLite file (table ``online_features``).

``iter_batches`` reads keyset pages of ``batch_size`` rows (one short read transaction and one
index seek per page, as ``iter_records`` pages, so no reader holds the WAL back for a whole run) and
turns a page into columns without a Python object per value: the page's vector BLOBs (little-endian
float64, the codec's layout) are joined and viewed as one matrix.

A rescoring worker reads a page (``SqliteFeaturePage.read``) with the first of three readers that
can be trusted with it: ``_pageread`` (C, built when a compiler is there: the page's query stepped
through SQLite's own C API, each vector copied once into the matrix, no Python object per value),
else one row of aggregates (``_aggregated``: every column joined by SQLite), else row by row (pages
whose vectors differ in length, texts holding a NUL). All three give the same batches; the tests
hold each to ``iter_records``.

``pages`` (``PagedFeatureStore``) plans the same keyset pages without reading them: it walks the
``(feature_ts, prediction_id)`` index with ``LIMIT 1 OFFSET batch_size - 1`` to each page's last key
(SQLite steps over the index entries, no row reaches Python) and hands out ``SqliteFeaturePage``s
(file path, snapshot bound, the keys the page starts after and ends at, row count). A rescoring
worker reads its page through a connection of its own, opened and closed per page (about 0.1 ms
against 40 ms of reading); a page that no longer holds its rows (a policy purged meanwhile) fails
rather than shifting every later row.
"""

from __future__ import annotations

import functools
import sqlite3
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from riskscore.adapters.sqlite.codec import (
    NaiveDatetime,
    decode_date,
    decode_datetime,
    encode_date,
    encode_datetime,
    pack_values,
    unpack_values,
)
from riskscore.adapters.sqlite.connection import PAGE_SIZE
from riskscore.adapters.sqlite.migrate import open_database
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.ports.feature_store import (
    DEFAULT_BATCH_ROWS,
    FeatureBatch,
    FeaturePage,
    FeatureStore,
    FeatureStoreError,
    FeatureStoreUnavailable,
    PagedFeatureStore,
    check_batch_size,
    length_runs,
)

try:
    from riskscore.adapters.sqlite import _pageread
except ImportError:  # built without a C compiler
    _pageread = None  # type: ignore[assignment]

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


def _columns(
    ids: Sequence[str],
    policies: Sequence[str],
    as_of: Sequence[str],
    schemas: Sequence[str],
    blobs: Sequence[bytes],
) -> FeatureBatch:
    """One batch of rows whose vectors have one length: the BLOBs joined are the matrix."""
    width = len(blobs[0]) // 8
    if width:
        matrix = np.frombuffer(b"".join(blobs), dtype=_LE_FLOAT64).reshape(len(blobs), width)
    else:
        matrix = np.empty((len(blobs), 0), dtype=np.float64)
    return FeatureBatch(
        prediction_ids=ids,
        policy_numbers=policies,
        as_of=as_of,
        schema_versions=schemas,
        matrix=matrix.astype(np.float64, copy=False),
    )


_LE_FLOAT64 = np.dtype("<f8")


def _batches(pages: Iterator[list[Row]]) -> Iterator[FeatureBatch]:
    """Batches of pages of ``_COLUMNS`` rows (``feature_ts`` is there for the keyset only)."""
    for page in pages:
        ids, policies, as_of, _, schemas, blobs = zip(*page, strict=True)
        yield from _split(ids, policies, as_of, schemas, blobs)


def _split(
    ids: Sequence[str],
    policies: Sequence[str],
    as_of: Sequence[str],
    schemas: Sequence[str],
    blobs: Sequence[bytes],
) -> Iterator[FeatureBatch]:
    """One batch, or one per run of one vector length."""
    if len(set(map(len, blobs))) == 1:
        yield _columns(ids, policies, as_of, schemas, blobs)
        return
    for cut in length_runs([len(blob) for blob in blobs]):
        yield _columns(ids[cut], policies[cut], as_of[cut], schemas[cut], blobs[cut])


_KEYS = ("feature_ts", "prediction_id")
_ORDER = " ORDER BY feature_ts, prediction_id"
_AFTER = " AND (feature_ts, prediction_id) > (?, ?)"
_UNTIL = " AND (feature_ts, prediction_id) <= (?, ?)"
_PAGE_COLUMNS = "prediction_id, policy_number, as_of, schema_version, vector_values"
_MMAP_BYTES = 1 << 30
_FIRST = ("", "")
"""Below every key: a scan starts after it, so SQLite walks the ``(feature_ts, prediction_id)``
index rather than read the ``id <= ?`` range and sort it (100 ms for 200,000 rows, per page)."""


def _where(last_id: int, schema_version: str | None) -> tuple[str, tuple[object, ...]]:
    """The rows a scan sees: those stored when it started (``id <= last_id``), of one schema."""
    if schema_version is None:
        return " WHERE id <= ?", (last_id,)
    return " WHERE id <= ? AND schema_version = ?", (last_id, schema_version)


@dataclass(frozen=True, slots=True)
class SqliteFeaturePage(FeaturePage):
    """A keyset page of ``online_features``: picklable, read in whichever process calls ``read``."""

    path: str
    last_id: int
    schema_version: str | None
    after: tuple[str, str]
    until: tuple[str, str] | None
    rows: int
    busy_timeout_s: float = 5.0

    def read(self) -> list[FeatureBatch]:
        where, params = _where(self.last_id, self.schema_version)
        where += _AFTER
        params += self.after
        if self.until is not None:
            where += _UNTIL
            params += self.until
        page = f"SELECT {_PAGE_COLUMNS} FROM online_features{where}{_ORDER} LIMIT ?"  # noqa: S608
        params += (self.rows,)
        batch = self._read_compiled(page, params)
        if batch is not None:
            return [batch]
        db = open_database(
            self.path,
            unavailable=FeatureStoreUnavailable,
            error=FeatureStoreError,
            busy_timeout_s=self.busy_timeout_s,
            migrate=False,
        )
        try:
            with db.read("read a feature page") as conn:
                # Pages from the memory map rather than a read() call each: 15% less time. The
                # connection lives for this page only; SQLite's caveat (an I/O error on the file
                # becomes SIGBUS) would end this worker, and the run says to resume.
                conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
                batch = _aggregated(conn, page, params, self.rows)
                if batch is not None:
                    return [batch]
                rows = conn.execute(page, params).fetchall()  # same read transaction: same rows
        finally:
            db.close()
        self._check_count(len(rows))
        ids, policies, as_of, schemas, blobs = zip(*rows, strict=True)
        return list(_split(ids, policies, as_of, schemas, blobs))

    def _read_compiled(self, page: str, params: tuple[object, ...]) -> FeatureBatch | None:
        """The page through ``_pageread`` (its vectors copied once, no object per value), or None
        when it is not built, cannot run on this process's SQLite, or finds the page not as it
        expects; SQLite's failures too are left to the Python path, which reports them as the
        store does. Cold, in a new process, 2,500 records took 4-5 ms where the aggregate took
        7-9 (docs/rescoring.md)."""
        reader = _compiled_reader()
        if reader is None:
            return None
        try:
            found = reader(
                self.path,
                page,
                params,
                self.rows,
                round(self.busy_timeout_s * 1000),
                _MMAP_BYTES,
            )
        except _pageread.SqliteError:
            return None
        return None if found is None else _joined(*found, rows=self.rows)

    def _check_count(self, found: int) -> None:
        if found != self.rows:
            raise FeatureStoreError(
                f"the feature store changed while it was read: a page of {self.rows} records "
                f"now holds {found}"
            )


_AGGREGATE = (
    "SELECT count(*), min(length(vector_values)),"
    " group_concat(prediction_id, char(0)), group_concat(policy_number, char(0)),"
    " group_concat(as_of, char(0)), group_concat(schema_version, char(0)),"
    " CAST(group_concat(vector_values, x'') AS BLOB)"
    " FROM ({page})"
)
_NUL = "\x00"


def _aggregated(
    conn: sqlite3.Connection, page: str, params: tuple[object, ...], rows: int
) -> FeatureBatch | None:
    """The page as one row of aggregates (each text column joined with NULs, the vectors' BLOBs
    joined, the shortest vector's length), or None when that row cannot be trusted to hold exactly
    the page's rows.

    One row rather than a tuple per record: no Python object per value, and no join of 10,000
    BLOBs (10,000-row pages of 141 values, warm: 2.5 us a record where rows took 2.7; measured
    from a cold process the two are level). group_concat sees the rows in the ordered subquery's order (SQLite 3.40
    has no ORDER BY in an aggregate; the tests compare every row with the per-row read). None, and
    the caller reads row by row, when the page is not as many records as planned, its vectors are
    not all one length (``_split`` cuts those) or a text holds a NUL (a split then finds too many);
    and in a database not encoded in UTF-8, where BLOBs would be converted as text.
    """
    if conn.execute("PRAGMA encoding").fetchone()[0] != "UTF-8":
        return None
    found = conn.execute(_AGGREGATE.format(page=page), params).fetchone()
    return _joined(*found, rows=rows)


def _joined(
    count: int,
    shortest: int,
    ids: str,
    policies: str,
    as_of: str,
    schemas: str,
    blob: bytes,
    *,
    rows: int,
) -> FeatureBatch | None:
    """A page read as joined columns (``count`` records, the shortest vector ``shortest`` bytes,
    each text column's values joined with NULs, the vectors' bytes joined), or None when they
    cannot be trusted to be the page's ``rows`` records, one per value."""
    if count != rows or count == 0 or len(blob) != count * shortest:  # lengths differ
        return None
    columns = [text.split(_NUL) for text in (ids, policies, as_of, schemas)]
    if any(len(column) != count for column in columns):
        return None
    width = shortest // 8
    if width:
        matrix = np.frombuffer(blob, dtype=_LE_FLOAT64).reshape(count, width)
    else:
        matrix = np.empty((count, 0), dtype=np.float64)
    return FeatureBatch(
        prediction_ids=columns[0],
        policy_numbers=columns[1],
        as_of=columns[2],
        schema_versions=columns[3],
        matrix=matrix.astype(np.float64, copy=False),
    )


@functools.cache
def _compiled_reader() -> Callable[..., tuple[int, int, str, str, str, str, bytes] | None] | None:
    """``_pageread.read_page`` bound to the SQLite library that Python's sqlite3 module runs on,
    or None: not built, no ``/proc/self/maps`` to find the library in (not Linux), SQLite linked
    into the module itself or a loaded library that is not the one the module calls (one library
    per process, or two copies would not see each other's locks), or a library whose version is
    not the module's."""
    if _pageread is None:
        return None
    import _sqlite3

    module = getattr(_sqlite3, "__file__", None)
    if module is None:  # built into the interpreter
        return None
    libraries = loaded_sqlite_libraries()
    if len(libraries) != 1:
        return None
    try:
        version = _pageread.load(libraries.pop(), module)
    except ImportError:
        return None
    return _pageread.read_page if version == sqlite3.sqlite_version else None


def loaded_sqlite_libraries() -> set[str]:
    """The paths of the SQLite libraries mapped into this process (``/proc/self/maps``; none
    where there is no such file)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            fields = [line.split(maxsplit=5) for line in maps if "libsqlite3" in line]
    except OSError:
        return set()
    return {field[5].strip() for field in fields if len(field) == 6}


class SqliteFeatureStore(FeatureStore, PagedFeatureStore):
    """Thread-safe (a connection per thread, WAL). May share its file with ``SqlitePredictionLog``."""

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 5.0, migrate: bool = True
    ) -> None:
        self._busy_timeout_s = busy_timeout_s
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
        pages = self._pages("iterate feature records", schema_version, PAGE_SIZE)
        return (_decode(row) for page in pages for row in page)

    def iter_batches(
        self, schema_version: str | None = None, batch_size: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[FeatureBatch]:
        """Keyset pages of ``batch_size`` rows as columns; rows inserted after the call are not seen."""
        check_batch_size(batch_size)
        return _batches(self._pages("iterate feature batches", schema_version, batch_size))

    def _pages(
        self, action: str, schema_version: str | None, page_size: int
    ) -> Iterator[list[Row]]:
        where, params = _where(self._last_id(action), schema_version)
        return self._db.iter_keyset_pages(
            action,
            f"SELECT {_COLUMNS} FROM online_features{where}",  # noqa: S608
            params,
            keys=_KEYS,
            key_at=(3, 0),
            page_size=page_size,
            after=_FIRST,
        )

    def _last_id(self, action: str) -> int:
        with self._db.read(action) as conn:
            (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM online_features").fetchone()
        return int(last_id)

    def pages(
        self,
        schema_version: str | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
        *,
        skip: int = 0,
    ) -> Iterator[FeaturePage]:
        """Pages of ``batch_size`` records after the first ``skip``, planned from the index."""
        check_batch_size(batch_size)
        if skip < 0:
            raise ValueError("skip must be >= 0")
        last_id = self._last_id("plan feature pages")
        return self._plan(last_id, schema_version, batch_size, skip)

    def _plan(
        self, last_id: int, schema_version: str | None, batch_size: int, skip: int
    ) -> Iterator[FeaturePage]:
        where, params = _where(last_id, schema_version)
        after_key = f"SELECT feature_ts, prediction_id FROM online_features{where}{_AFTER}"  # noqa: S608

        def key_after(after: tuple[str, str], offset: int) -> tuple[str, str] | None:
            """The key ``offset`` records after ``after``, if there is one."""
            with self._db.read("plan feature pages") as conn:
                row = conn.execute(
                    f"{after_key}{_ORDER} LIMIT 1 OFFSET ?", (*params, *after, offset)
                ).fetchone()
            return None if row is None else (row[0], row[1])

        def page(after: tuple[str, str], until: tuple[str, str] | None, rows: int) -> FeaturePage:
            return SqliteFeaturePage(
                path=str(self.path),
                last_id=last_id,
                schema_version=schema_version,
                after=after,
                until=until,
                rows=rows,
                busy_timeout_s=self._busy_timeout_s,
            )

        after = _FIRST
        if skip:
            skipped = key_after(_FIRST, skip - 1)
            if skipped is None:
                return
            after = skipped
        while (end := key_after(after, batch_size - 1)) is not None:
            yield page(after, end, batch_size)
            after = end
        with self._db.read("plan feature pages") as conn:
            (rest,) = conn.execute(
                f"SELECT count(*) FROM ({after_key})",  # noqa: S608
                (*params, *after),
            ).fetchone()
        if rest:
            yield page(after, None, int(rest))

    def purge_policy(self, policy_number: str) -> int:
        with self._db.write("purge feature records") as conn:
            cursor = conn.execute(
                "DELETE FROM online_features WHERE policy_number = ?", (policy_number,)
            )
            return int(cursor.rowcount)

    def close(self) -> None:
        self._db.close()
