"""The embedded SQLite migrations: a stairway over every step, idempotence, concurrency, WAL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.migrate import (
    MigrationError,
    applied_migrations,
    apply_migrations,
    available_migrations,
    split_statements,
)
from riskscore.ports.feature_store import FeatureStoreError

VERSIONS = [m.version for m in available_migrations()]


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name"
        ).fetchall()
    finally:
        conn.close()
    return [(str(t), str(n), str(s)) for t, n, s in rows]


def test_migrations_are_numbered_without_gaps() -> None:
    assert VERSIONS
    assert [int(v[:4]) for v in VERSIONS] == list(range(1, len(VERSIONS) + 1))


def test_stairway_applies_each_step_once_on_an_empty_database(tmp_path: Path) -> None:
    db = tmp_path / "stairs.sqlite3"
    tables_so_far: set[str] = set()
    for i, version in enumerate(VERSIONS):
        assert apply_migrations(db, up_to=version) == [version]
        assert apply_migrations(db, up_to=version) == []
        assert applied_migrations(db) == VERSIONS[: i + 1]
        tables = {name for kind, name, _ in _schema(db) if kind == "table"}
        assert tables > tables_so_far, f"{version} created no table"
        tables_so_far = tables
    assert apply_migrations(db) == []


def test_stepwise_and_all_at_once_give_the_same_schema(tmp_path: Path) -> None:
    stepwise, at_once = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    for version in VERSIONS:
        apply_migrations(stepwise, up_to=version)
    assert apply_migrations(at_once) == VERSIONS
    assert _schema(stepwise) == _schema(at_once)


def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "wal.sqlite3"
    apply_migrations(db)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_two_processes_worth_of_starts_apply_each_migration_once(tmp_path: Path) -> None:
    db = tmp_path / "race.sqlite3"
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            results.append(apply_migrations(db))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(v for applied in results for v in applied) == VERSIONS
    assert applied_migrations(db) == VERSIONS


def test_a_database_from_a_newer_riskscore_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.sqlite3"
    apply_migrations(db)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(MigrationError, match="newer"):
        apply_migrations(db)
    with pytest.raises(FeatureStoreError) as info:
        SqliteFeatureStore(db)
    assert info.value.retryable is False


def test_an_unknown_target_version_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown migration"):
        apply_migrations(tmp_path / "x.sqlite3", up_to="0042_nothing")


def test_statements_split_where_sqlite_says_they_end() -> None:
    script = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t (x INTEGER);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET x = 1;\n"
        "  UPDATE t SET x = 2;\n"
        "END;\n"
        "-- trailing comment\n"
    )
    statements = list(split_statements(script))
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER")
    assert statements[1].endswith("END;")


def test_an_unterminated_statement_is_refused() -> None:
    with pytest.raises(MigrationError, match="unterminated"):
        list(split_statements("CREATE TABLE t (x INTEGER);\nCREATE TABLE u (y INTEGER)\n"))


def test_a_store_on_an_unopenable_path_is_a_retryable_error(tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError) as info:
        SqliteFeatureStore(tmp_path / "missing-dir" / "x.sqlite3")
    assert info.value.retryable is True


def test_a_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = SqliteFeatureStore(tmp_path / "closed.sqlite3")
    store.close()
    with pytest.raises(FeatureStoreError, match="closed"):
        store.get("p-1")
    store.close()
