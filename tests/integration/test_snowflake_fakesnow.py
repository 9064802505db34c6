"""The Snowflake backend against a real fakesnow server on 127.0.0.1 (the connector's HTTP path)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from riskscore.adapters.snowflake.connection import SnowflakeConnectionFactory
from riskscore.adapters.snowflake.fakesnow_support import (
    fakesnow_connections,
    fakesnow_environ,
    fakesnow_server,
    migrate_fakesnow,
    packaged_migrations,
)
from riskscore.adapters.snowflake.feature_store import SnowflakeFeatureStore
from riskscore.adapters.snowflake.migrate import discover_scripts, split_statements
from riskscore.adapters.snowflake.prediction_log import SnowflakePredictionLog
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord, PredictionRecord

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with fakesnow_server() as server_port:
        yield server_port


def _rows(connections: SnowflakeConnectionFactory, query: str) -> list[tuple[object, ...]]:
    connection = connections.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(query)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def _run_cli(port: int, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RISKSCORE_", "SNOWFLAKE_"))},
        **fakesnow_environ(port, database=database),
        "RISKSCORE_SNOWFLAKE_DATABASE": database,
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "riskscore.adapters.cli.main",
            "migrate",
            "--backend",
            "snowflake",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_the_migrate_command_creates_the_objects_once_and_records_schemachange_history(
    port: int,
) -> None:
    database = "RS_CLI"
    first = _run_cli(
        port,
        database,
        "--fakesnow",
        "--change-history-table",
        f"{database}.SCHEMACHANGE.CHANGE_HISTORY",
    )
    assert first.returncode == 0, first.stderr
    assert "applied 4 script(s)" in first.stdout
    grants = sum(
        statement.upper().startswith("GRANT")
        for script in discover_scripts(packaged_migrations())
        for statement in split_statements(script.path.read_text())
    )
    assert grants > 10
    assert f"skipped {grants} access-control statement(s)" in first.stdout

    connections = fakesnow_connections(port, database=database)
    tables = _rows(
        connections,
        f"SELECT TABLE_SCHEMA, TABLE_NAME FROM {database}.INFORMATION_SCHEMA.TABLES"
        " WHERE TABLE_SCHEMA IN ('ML_MODELS', 'HYBRID_REALTIME') ORDER BY 1",
    )
    assert tables == [("HYBRID_REALTIME", "HT_ONLINE_FEATURES"), ("ML_MODELS", "MODEL_PREDICTIONS")]
    history = _rows(
        connections,
        f"SELECT VERSION, SCRIPT, SCRIPT_TYPE, STATUS, LENGTH(CHECKSUM) FROM {database}.SCHEMACHANGE.CHANGE_HISTORY ORDER BY VERSION",
    )
    assert [row[0] for row in history] == ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    assert {row[2:] for row in history} == {("V", "Success", 56)}  # SHA-224 hex

    again = _run_cli(
        port,
        database,
        "--fakesnow",
        "--change-history-table",
        f"{database}.SCHEMACHANGE.CHANGE_HISTORY",
    )
    assert again.returncode == 0, again.stderr
    assert "applied 0 script(s)" in again.stdout
    assert "skipped 4 already applied" in again.stdout


def test_the_migrate_command_reports_an_unreachable_snowflake_without_a_traceback() -> None:
    env_port = 9  # discard: nothing listens
    result = _run_cli(env_port, "RS_NOWHERE", "--fakesnow")
    assert result.returncode == 1
    assert "cannot reach Snowflake" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_stores_survive_a_dropped_session(port: int) -> None:
    import fakesnow.server

    database = "RS_DROP"
    connections = fakesnow_connections(port, database=database)
    migrate_fakesnow(connections, database=database)
    store = SnowflakeFeatureStore(connections, database=database)
    log = SnowflakePredictionLog(connections, database=database)
    try:
        record = FeatureRecord(
            prediction_id="p-1",
            policy_number="POL-1",
            as_of=dt.date(2024, 4, 30),
            feature_ts=T0,
            vector=FeatureVector(schema_version="s", values=(1.0, 2.0)),
        )
        store.write_many([record])
        assert log.recent() == []
        fakesnow.server.sessions.clear()  # the server forgets every session, as after an expiry
        assert store.get("p-1") == record
        assert log.recent() == []
    finally:
        store.close()
        log.close()


def test_rows_are_where_snowflake_users_look_for_them(port: int) -> None:
    database = "RS_SQL"
    connections = fakesnow_connections(port, database=database)
    migrate_fakesnow(connections, database=database)
    log = SnowflakePredictionLog(connections, database=database)
    try:
        log.append_many(
            [
                PredictionRecord(
                    prediction_id="p-1",
                    policy_number="TEST-001",
                    risk_score=0.123,
                    risk_class="standard",
                    model_name="EVIDENCE_RISK_MODEL",
                    model_version="V1",
                    feature_schema_version="abc",
                    feature_hash="f" * 32,
                    reason_codes=(),
                    scored_at=T0,
                    as_of=dt.date(2024, 4, 30),
                    inference_ms=0.04,
                    total_ms=0.6,
                    source="api",
                )
            ]
        )
    finally:
        log.close()
    rows = _rows(
        connections,
        f"SELECT POLICY_NUMBER, PREDICTION, RISK_CLASS, MODEL_VERSION, SCORE_DATE, TOTAL_MS, LOADED_AT IS NOT NULL"
        f" FROM {database}.ML_MODELS.MODEL_PREDICTIONS",
    )
    assert rows == [
        ("TEST-001", 0.123, "standard", "V1", dt.datetime(2024, 5, 1, 12, 0), 0.6, True)
    ]
