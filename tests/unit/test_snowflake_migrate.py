"""The schemachange-compatible migration runner: naming, rendering, checksums, what it sends."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from riskscore.adapters.snowflake.fakesnow_support import SAMPLE_VARIABLES, packaged_migrations
from riskscore.adapters.snowflake.migrate import (
    MigrationError,
    apply_snowflake_migrations,
    checksum,
    discover_scripts,
    normalize,
    render,
    split_statements,
    version_key,
)

VARIABLES = {**SAMPLE_VARIABLES, "database": "RISKSCORE"}


class RecordingCursor:
    """Records statements; answers the change-history query with ``history`` rows."""

    def __init__(self, history: list[tuple[str, str, str]]) -> None:
        self.history = history
        self.sent: list[tuple[str, Any]] = []
        self._result: list[Sequence[Any]] = []
        self.rowcount: int | None = None

    def execute(self, command: str, params: Any = None) -> None:
        self.sent.append((command, params))
        self._result = list(self.history) if command.startswith("SELECT VERSION") else []

    def fetchone(self) -> Sequence[Any] | None:
        return self._result[0] if self._result else None

    def fetchall(self) -> list[Sequence[Any]]:
        return self._result

    def close(self) -> None:
        pass


class RecordingConnection:
    def __init__(self, history: list[tuple[str, str, str]] | None = None) -> None:
        self.cursor_ = RecordingCursor(history or [])

    def cursor(self) -> RecordingCursor:
        return self.cursor_

    def close(self) -> None:
        pass


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_versions_sort_by_number_not_text() -> None:
    assert version_key("1.10.0") > version_key("1.9.0")
    assert version_key("1_2_3") == version_key("1.2.3")
    assert sorted(["1.10", "1.2", "1.9.1"], key=version_key) == ["1.2", "1.9.1", "1.10"]


def test_the_packaged_scripts_follow_schemachange_naming(tmp_path: Path) -> None:
    scripts = discover_scripts(packaged_migrations())
    names = [s.name for s in scripts]
    assert names[:4] == [
        "V1.0.0__create_schemas.sql",
        "V1.1.0__online_features_hybrid_table.sql",
        "V1.2.0__model_predictions.sql",
        "V1.3.0__grants.sql",
    ]
    assert scripts[1].description == "Online features hybrid table"
    assert [s.version for s in scripts][:2] == ["1.0.0", "1.1.0"]


def test_discovery_orders_by_version_and_strips_the_jinja_suffix(tmp_path: Path) -> None:
    _write(tmp_path, "V1.10.0__later.sql", "SELECT 2;")
    _write(tmp_path, "V1.9.0__earlier.sql.jinja", "SELECT 1;")
    scripts = discover_scripts(tmp_path)
    assert [(s.version, s.name) for s in scripts] == [
        ("1.9.0", "V1.9.0__earlier.sql"),
        ("1.10.0", "V1.10.0__later.sql"),
    ]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["V1.0__a.sql", "V1.0__b.sql"], "appears twice"),
        (["R__view.sql"], "not supported"),
        (["create_table.sql"], "bad name"),
    ],
)
def test_discovery_refuses_what_schemachange_would_not_apply_the_same_way(
    tmp_path: Path, names: list[str], message: str
) -> None:
    for name in names:
        _write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=message):
        discover_scripts(tmp_path)


def test_render_replaces_placeholders_with_or_without_spaces() -> None:
    assert render("USE {{ database }}.{{schema}};", {"database": "D", "schema": "S"}) == "USE D.S;"


def test_render_refuses_a_missing_variable_by_name() -> None:
    with pytest.raises(MigrationError, match="warehouse"):
        render("GRANT USAGE ON WAREHOUSE {{ warehouse }} TO ROLE R;", {"database": "D"})


@pytest.mark.parametrize(
    "template",
    ["{% if x %}A{% endif %}", "{{ database | upper }}", "{# note #}", "{{ database "],
)
def test_render_refuses_template_syntax_it_does_not_implement(template: str) -> None:
    with pytest.raises(MigrationError, match="unsupported template syntax"):
        render(template, {"database": "D", "x": "1"})


def test_render_agrees_with_jinja_on_every_packaged_script() -> None:
    jinja2 = pytest.importorskip("jinja2")  # what schemachange renders with
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    for script in discover_scripts(packaged_migrations()):
        text = script.path.read_text()
        assert render(text, VARIABLES).rstrip("\n") == env.from_string(text).render(**VARIABLES)
        last_line = normalize(render(text, VARIABLES)).splitlines()[-1].strip()
        assert not last_line.startswith(("--", "/*")), f"{script.name} ends with a comment"


def test_checksum_is_schemachanges_sha224_of_the_normalized_text() -> None:
    assert checksum("SELECT 1") == hashlib.sha224(b"SELECT 1").hexdigest()
    assert normalize("\ufeff\n  SELECT 1;\nSELECT 2;\n\n") == "SELECT 1;\nSELECT 2"


def test_split_statements_drops_comments_and_keeps_dollar_quoted_bodies() -> None:
    script = "-- header\nSELECT 1;\n/* c */ CREATE X AS $$ a; b $$;\n-- trailer\n"
    assert split_statements(script) == ["SELECT 1;", "CREATE X AS $$ a; b $$;"]


def test_a_first_run_creates_history_runs_every_statement_and_records_each_script(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        "V1.0.0__one.sql",
        "CREATE SCHEMA {{ database }}.A;\nCREATE SCHEMA {{ database }}.B;",
    )
    _write(tmp_path, "V1.1.0__two.sql", "GRANT USAGE ON SCHEMA {{ database }}.A TO ROLE R;")
    conn = RecordingConnection()
    result = apply_snowflake_migrations(conn, tmp_path, {"database": "D"})
    sent = [command for command, _ in conn.cursor_.sent]
    assert sent[0] == "CREATE SCHEMA IF NOT EXISTS METADATA.SCHEMACHANGE"
    assert sent[1].startswith("CREATE TABLE IF NOT EXISTS METADATA.SCHEMACHANGE.CHANGE_HISTORY (")
    assert "CREATE SCHEMA D.A;" in sent
    assert "CREATE SCHEMA D.B" in sent
    assert "GRANT USAGE ON SCHEMA D.A TO ROLE R" in sent
    inserts = [p for c, p in conn.cursor_.sent if c.startswith("INSERT INTO METADATA")]
    assert [p[:3] for p in inserts] == [
        ("1.0.0", "One", "V1.0.0__one.sql"),
        ("1.1.0", "Two", "V1.1.0__two.sql"),
    ]
    assert inserts[1][3] == checksum("GRANT USAGE ON SCHEMA D.A TO ROLE R")
    assert result.applied == ("V1.0.0__one.sql", "V1.1.0__two.sql")
    assert result.statements == 3


def test_versions_at_or_below_the_highest_applied_are_skipped_and_drift_reported(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "V1.0.0__one.sql", "SELECT 1;")
    _write(tmp_path, "V1.1.0__two.sql", "SELECT 2;")
    _write(tmp_path, "V1.2.0__three.sql", "SELECT 3;")
    history = [
        ("1.0.0", "V1.0.0__one.sql", checksum("SELECT 1")),
        ("1.1.0", "V1.1.0__two.sql", "an-older-checksum"),
    ]
    conn = RecordingConnection(history)
    result = apply_snowflake_migrations(conn, tmp_path, {})
    sent = [command for command, _ in conn.cursor_.sent]
    assert "SELECT 1" not in sent
    assert "SELECT 2" not in sent
    assert "SELECT 3" in sent
    assert result.applied == ("V1.2.0__three.sql",)
    assert result.skipped == ("V1.0.0__one.sql", "V1.1.0__two.sql")
    assert result.drifted == ("V1.1.0__two.sql",)


def test_fakesnow_mode_strips_hybrid_skips_grants_and_creates_databases(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "V1.0.0__t.sql",
        "CREATE HYBRID TABLE {{ database }}.S.T (A INT PRIMARY KEY, INDEX IX (A));\n"
        "GRANT SELECT ON TABLE {{ database }}.S.T TO ROLE R;\n"
        "revoke select on table {{ database }}.S.T from role R;",
    )
    conn = RecordingConnection()
    result = apply_snowflake_migrations(conn, tmp_path, {"database": "D"}, fakesnow=True)
    sent = [command for command, _ in conn.cursor_.sent]
    assert "CREATE DATABASE IF NOT EXISTS D" in sent
    assert "CREATE DATABASE IF NOT EXISTS METADATA" in sent
    assert "CREATE TABLE D.S.T (A INT PRIMARY KEY);" in sent
    assert not [c for c in sent if c.upper().startswith(("GRANT", "REVOKE"))]
    assert result.skipped_statements == 2
    # The recorded checksum is of the script as written, so a later schemachange run agrees.
    insert = next(p for c, p in conn.cursor_.sent if c.startswith("INSERT INTO"))
    written = (tmp_path / "V1.0.0__t.sql").read_text().replace("{{ database }}", "D")
    assert insert[3] == checksum(normalize(written))


def test_a_dry_run_sends_nothing_but_reads(tmp_path: Path) -> None:
    _write(tmp_path, "V1.0.0__one.sql", "CREATE SCHEMA X;")
    conn = RecordingConnection()
    result = apply_snowflake_migrations(conn, tmp_path, {}, dry_run=True)
    assert all(c.startswith("SELECT") for c, _ in conn.cursor_.sent)
    assert result.applied == ("V1.0.0__one.sql",)


def test_a_failing_statement_names_the_script_and_is_not_recorded(tmp_path: Path) -> None:
    _write(tmp_path, "V1.0.0__bad.sql", "SELECT 1;\nBOOM;")

    class FailingCursor(RecordingCursor):
        def execute(self, command: str, params: Any = None) -> None:
            if command == "BOOM":
                raise RuntimeError("syntax error")
            super().execute(command, params)

    conn = RecordingConnection()
    conn.cursor_ = FailingCursor([])
    with pytest.raises(MigrationError, match=r"V1.0.0__bad.sql: statement 2 of 2 failed"):
        apply_snowflake_migrations(conn, tmp_path, {})
    assert not [c for c, _ in conn.cursor_.sent if c.startswith("INSERT")]


def test_an_unknown_history_table_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match=r"DATABASE\.SCHEMA\.TABLE"):
        apply_snowflake_migrations(
            RecordingConnection(), tmp_path, {}, change_history_table="HISTORY"
        )
