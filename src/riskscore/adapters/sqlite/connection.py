"""One SQLite database file shared by threads: connections, transactions, error translation.

Choices (see docs/audit-trail.md):

- **One connection per thread** (``threading.local``), not one connection behind a lock: in WAL mode
  readers never block the writer nor each other, so the API and tests read while the audit writer
  thread commits a batch. Every connection is also kept in a registry so ``close()`` closes them all.
- Autocommit mode (``isolation_level=None``) with explicit transactions: writes take the write lock
  up front with ``BEGIN IMMEDIATE`` (a deferred transaction that upgrades to a writer can fail with
  SQLITE_BUSY without waiting), multi-statement reads run in ``BEGIN`` for one snapshot.
- ``journal_mode=WAL`` (set by the migrations, persistent in the file), ``synchronous=NORMAL``: a
  commit is durable against a crash of the process and, after the next WAL checkpoint, against power
  loss. The audit trail's own journal is what protects acknowledged predictions.
- A busy timeout (default 5 s) so two stores (or two processes) sharing the file wait for each other.
- Library errors become port errors: environmental ones (busy, locked, I/O, disk full, cannot open,
  read-only, corrupt) are the retryable ``...Unavailable``; the rest (constraints, misuse) are the
  non-retryable base error. Retryable means the audit trail keeps the entries and tries again.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PAGE_SIZE = 500
"""Rows per query while streaming: memory stays constant and no read transaction stays open between
pages (a long-lived reader would stop WAL checkpoints and let the WAL file grow)."""

_RETRYABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)


def is_retryable(exc: sqlite3.Error) -> bool:
    """Whether the error is about the environment (try again later) rather than the data or code."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _RETRYABLE_CODES


def translate(
    exc: sqlite3.Error, unavailable: type[Exception], error: type[Exception], action: str
) -> Exception:
    """The port error for a library error; the message names the action and the SQLite error only."""
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return (unavailable if is_retryable(exc) else error)(f"sqlite {action} failed: {name}: {exc}")


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; an error here must not hide the one being handled."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class SqliteDatabase:
    """Per-thread connections to one database file, with port-error translation."""

    def __init__(
        self,
        path: str | Path,
        *,
        unavailable: type[Exception],
        error: type[Exception],
        busy_timeout_s: float = 5.0,
    ) -> None:
        if str(path) == ":memory:" or not str(path):
            raise ValueError("SQLite stores need a file path (threads share it), not :memory:")
        self.path = Path(path)
        self._unavailable = unavailable
        self._error = error
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._registry_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._registry_lock:
            if self._closed:
                raise self._error("store is closed")
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self._busy_timeout_s,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise translate(exc, self._unavailable, self._error, "connect") from exc
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    @contextmanager
    def write(self, action: str) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction committed on success, rolled back on any error."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise translate(exc, self._unavailable, self._error, action) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            _rollback_quietly(conn)
            if isinstance(exc, sqlite3.Error):
                raise translate(exc, self._unavailable, self._error, action) from exc
            raise

    @contextmanager
    def read(self, action: str) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same snapshot."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate(exc, self._unavailable, self._error, action) from exc

    def iter_keyset(
        self,
        action: str,
        query: str,
        params: Sequence[object],
        *,
        keys: tuple[str, str],
        key_at: tuple[int, int],
    ) -> Iterator[tuple[Any, ...]]:
        """Stream the rows of ``query`` (which ends in a WHERE clause) ordered by the unique pair
        ``keys``, one page per short read transaction; ``key_at`` locates the keys in a row."""
        for rows in self.iter_keyset_pages(action, query, params, keys=keys, key_at=key_at):
            yield from rows

    def iter_keyset_pages(
        self,
        action: str,
        query: str,
        params: Sequence[object],
        *,
        keys: tuple[str, str],
        key_at: tuple[int, int],
        page_size: int = PAGE_SIZE,
        after: tuple[object, object] | None = None,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """``iter_keyset``'s rows a page (``page_size`` rows, the last one shorter) at a time,
        those after the key ``after`` when given (a lower bound also steers SQLite to the index
        on ``keys`` when ``query`` holds a rowid range, instead of sorting every row)."""
        order = f" ORDER BY {keys[0]}, {keys[1]} LIMIT ?"
        while True:
            with self.read(action) as conn:
                if after is None:
                    rows = conn.execute(query + order, (*params, page_size)).fetchall()
                else:
                    rows = conn.execute(
                        f"{query} AND ({keys[0]}, {keys[1]}) > (?, ?){order}",
                        (*params, *after, page_size),
                    ).fetchall()
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            after = (rows[-1][key_at[0]], rows[-1][key_at[1]])

    def close(self) -> None:
        """Close every thread's connection; later calls raise the port error. Idempotent."""
        with self._registry_lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
