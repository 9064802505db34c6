"""Migrations of the embedded SQLite database.

The SQL lives in ``migrations/sqlite/NNNN_description.sql`` (shipped in the package through the
``riskscore/_migrations`` link). ``apply_migrations`` applies the missing ones in order, each in its own
``BEGIN IMMEDIATE`` transaction together with its row in ``schema_migrations``, so it is idempotent, safe
when two processes start at once (the second waits, then finds the work done) and leaves no
half-applied migration behind. It also switches the file to WAL mode (persistent in the file).
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from riskscore.adapters.sqlite.connection import SqliteDatabase, is_retryable

_NAME = re.compile(r"^(?P<number>\d{4})_[a-z0-9_]+\.sql$")
_MIN_SQLITE = (3, 37, 0)  # STRICT tables


class MigrationError(Exception):
    """Migrations could not be applied; ``retryable`` when the database was busy or unreachable."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Migration(NamedTuple):
    version: str
    """The file name without ``.sql``, e.g. ``0001_online_features``."""
    sql: str


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in order."""
    folder = importlib.resources.files("riskscore") / "_migrations" / "sqlite"
    found: list[Migration] = []
    for item in folder.iterdir():
        if not item.name.endswith(".sql"):
            continue
        if not _NAME.match(item.name):
            raise MigrationError(f"badly named migration {item.name!r}: want NNNN_description.sql")
        found.append(Migration(version=item.name[: -len(".sql")], sql=item.read_text("utf-8")))
    found.sort()
    numbers = [int(m.version[:4]) for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must run 1, 2, 3... without gaps: {numbers}")
    return found


def split_statements(sql: str) -> Iterator[str]:
    """The statements of a script, split where SQLite says a statement is complete (so a trigger's
    ``BEGIN ... END`` body stays whole). A script ending in an unterminated statement is an error."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    rest = "\n".join(
        line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if rest:
        raise MigrationError("migration ends with an unterminated statement")


def apply_migrations(path: str | Path, *, up_to: str | None = None) -> list[str]:
    """Apply the missing migrations (all, or up to and including version ``up_to``) to the database
    at ``path`` (created if absent); returns the versions applied by this call, in order."""
    if sqlite3.sqlite_version_info < _MIN_SQLITE:
        raise MigrationError(f"SQLite {sqlite3.sqlite_version} is too old: riskscore needs 3.37+")
    wanted = available_migrations()
    if up_to is not None:
        versions = [m.version for m in wanted]
        if up_to not in versions:
            raise ValueError(f"unknown migration {up_to!r}; known: {versions}")
        wanted = wanted[: versions.index(up_to) + 1]
    applied: list[str] = []
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise MigrationError(f"cannot open {path}: {exc}", retryable=is_retryable(exc)) from exc
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
        )
        _refuse_unknown(conn, {m.version for m in available_migrations()})
        applied.extend(m.version for m in wanted if _apply_one(conn, m))
    except sqlite3.Error as exc:
        raise MigrationError(f"migration failed: {exc}", retryable=is_retryable(exc)) from exc
    finally:
        conn.close()
    return applied


def applied_migrations(path: str | Path) -> list[str]:
    """Versions recorded as applied in the database at ``path``, in order ([] for a new file)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not exists:
            return []
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        return [str(row[0]) for row in rows]
    finally:
        conn.close()


def _refuse_unknown(conn: sqlite3.Connection, known: set[str]) -> None:
    rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    unknown = sorted(str(row[0]) for row in rows if row[0] not in known)
    if unknown:
        raise MigrationError(
            f"the database was migrated by a newer riskscore (unknown migrations {unknown})"
        )


def _apply_one(conn: sqlite3.Connection, migration: Migration) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = conn.execute(
            "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
        ).fetchone()
        if done:
            conn.execute("COMMIT")
            return False
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
            (migration.version, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True


def open_database(
    path: str | Path,
    *,
    unavailable: type[Exception],
    error: type[Exception],
    busy_timeout_s: float,
    migrate: bool,
) -> SqliteDatabase:
    """Apply the migrations (unless told not to) and open the shared per-thread database."""
    if migrate:
        try:
            apply_migrations(path)
        except MigrationError as exc:
            raise (unavailable if exc.retryable else error)(str(exc)) from exc
    return SqliteDatabase(path, unavailable=unavailable, error=error, busy_timeout_s=busy_timeout_s)
