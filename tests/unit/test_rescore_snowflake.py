"""The Snowflake query source on a fakesnow server through the real connector (slow: the server)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from riskscore.adapters.batch.sources import SnowflakeQuerySource, SourceError
from riskscore.domain.usecases.rescore import UnreadableRow
from riskscore.domain.usecases.score_policy import ScoreRequest

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def fakesnow_port() -> Iterator[int]:
    pytest.importorskip("fakesnow")
    from riskscore.adapters.snowflake.fakesnow_support import fakesnow_server

    with fakesnow_server() as port:
        yield port


@pytest.fixture
def snowflake(fakesnow_port: int) -> object:
    from riskscore.adapters.snowflake.fakesnow_support import fakesnow_connections

    database = f"RESCORE_{uuid.uuid4().hex[:8].upper()}"
    connections = fakesnow_connections(fakesnow_port, database=database)
    connection = connections.connect()
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    cursor.execute(f"USE DATABASE {database}")
    cursor.execute("CREATE SCHEMA IF NOT EXISTS PUBLIC")
    cursor.execute(
        "CREATE TABLE PUBLIC.APPLICATIONS (POLICY_NUMBER VARCHAR, MIB_XML VARCHAR, RX_XML VARCHAR,"
        " AS_OF DATE, BATCH VARCHAR)"
    )
    cursor.execute(
        "INSERT INTO PUBLIC.APPLICATIONS VALUES"
        " ('Q-1', '<r/>', '<r/>', '2025-01-31', 'b1'),"
        " ('Q-2', NULL, '<r/>', NULL, 'b1'),"
        " ('Q-3', '<r/>', '<r/>', NULL, 'b1'),"
        " ('Q-4', '<r/>', '<r/>', NULL, 'b2')"
    )
    connection.close()
    return connections


def test_a_bound_snowflake_query_streams_rows(snowflake: object) -> None:
    source = SnowflakeQuerySource(
        snowflake,  # type: ignore[arg-type]
        "SELECT POLICY_NUMBER, MIB_XML, RX_XML, AS_OF FROM PUBLIC.APPLICATIONS"
        " WHERE BATCH = %s ORDER BY POLICY_NUMBER",
        ("b1",),
        fetch_size=2,
    )
    rows = list(source)
    assert [r.policy_number for r in rows] == ["Q-1", "Q-2", "Q-3"]
    first, null_doc, no_date = rows
    assert isinstance(first, ScoreRequest)
    assert first.as_of == dt.date(2025, 1, 31)
    assert first.mib_xml == "<r/>"
    assert isinstance(null_doc, UnreadableRow)
    assert (null_doc.type, null_doc.detail) == ("missing-evidence", "MIB_XML is NULL or not text")
    assert isinstance(no_date, ScoreRequest)
    assert no_date.as_of is None
    assert source.description.startswith("query:SELECT POLICY_NUMBER")


def test_a_query_without_the_required_columns_is_refused(snowflake: object) -> None:
    source = SnowflakeQuerySource(snowflake, "SELECT POLICY_NUMBER FROM PUBLIC.APPLICATIONS")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="MIB_XML, RX_XML"):
        list(source)


def test_a_failing_query_is_a_source_error(snowflake: object) -> None:
    source = SnowflakeQuerySource(snowflake, "SELECT * FROM PUBLIC.NO_SUCH_TABLE")  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="the query failed"):
        list(source)
