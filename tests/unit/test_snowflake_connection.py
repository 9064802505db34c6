"""Connection parameters from SNOWFLAKE_* variables, one reconnect on a dropped session, error mapping."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from snowflake.connector import errors

from riskscore.adapters.snowflake import snowflake_connection_factory
from riskscore.adapters.snowflake.connection import (
    SnowflakeClient,
    SnowflakeConnectionFactory,
    SnowflakeConnectionParams,
    is_connectivity_error,
)
from riskscore.ports.feature_store import FeatureStoreError, FeatureStoreUnavailable
from riskscore.settings import load_settings

NO_TOKEN = Path("/nonexistent/token")


def test_parameters_come_from_snowflake_variables() -> None:
    params = SnowflakeConnectionParams.from_env(
        {
            "SNOWFLAKE_ACCOUNT": "xy12345",
            "SNOWFLAKE_USER": "svc",
            "SNOWFLAKE_PRIVATE_KEY_PATH": "/keys/rsa.p8",
            "SNOWFLAKE_ROLE": "RISKSCORE_APP",
            "SNOWFLAKE_HOST": "127.0.0.1",
            "SNOWFLAKE_PORT": "8765",
            "SNOWFLAKE_PROTOCOL": "http",
            "SNOWFLAKE_NETWORK_TIMEOUT": "2.5",
            "SNOWFLAKE_WAREHOUSE": " ",  # blank means unset
        },
        default_database="RISKSCORE",
        default_warehouse="FALLBACK_WH",
        spcs_token_file=NO_TOKEN,
    )
    kwargs = params.connect_kwargs()
    assert kwargs["account"] == "xy12345"
    assert kwargs["private_key_file"] == "/keys/rsa.p8"
    assert kwargs["port"] == 8765
    assert kwargs["protocol"] == "http"
    assert kwargs["network_timeout"] == 2.5
    assert kwargs["database"] == "RISKSCORE"
    assert kwargs["warehouse"] == "FALLBACK_WH"
    assert "password" not in kwargs
    assert kwargs["session_parameters"] == {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}


def test_inside_spcs_the_session_token_file_is_used_and_reread(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    params = SnowflakeConnectionParams.from_env(
        {"SNOWFLAKE_ACCOUNT": "acct", "SNOWFLAKE_HOST": "acct.snowflakecomputing.internal"},
        spcs_token_file=token,
    )
    assert params.connect_kwargs()["token"] == "first-token"
    assert params.connect_kwargs()["authenticator"] == "oauth"
    token.write_text("refreshed-token")
    assert params.connect_kwargs()["token"] == "refreshed-token"


def test_a_password_wins_over_the_spcs_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    params = SnowflakeConnectionParams.from_env(
        {"SNOWFLAKE_USER": "u", "SNOWFLAKE_PASSWORD": "p"}, spcs_token_file=token
    )
    assert "token" not in params.connect_kwargs()


def test_repr_never_shows_secrets() -> None:
    params = SnowflakeConnectionParams(account="a", user="u", password="hunter2", token="tok")
    assert "hunter2" not in repr(params)
    assert "tok" not in repr(params)


def test_a_bad_number_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="SNOWFLAKE_PORT"):
        SnowflakeConnectionParams.from_env({"SNOWFLAKE_PORT": "http"})


def test_the_factory_function_takes_database_and_warehouse_from_settings() -> None:
    settings = load_settings(
        {"RISKSCORE_SNOWFLAKE_DATABASE": "RS_DB", "RISKSCORE_SNOWFLAKE_WAREHOUSE": "RS_WH"}
    )
    factory = snowflake_connection_factory(settings, {"SNOWFLAKE_ACCOUNT": "a"})
    assert factory.params.database == "RS_DB"
    assert factory.params.warehouse == "RS_WH"
    overridden = snowflake_connection_factory(settings, {"SNOWFLAKE_DATABASE": "OTHER"})
    assert overridden.params.database == "OTHER"


@pytest.mark.parametrize(
    ("error", "connectivity"),
    [
        (errors.OperationalError(msg="down", errno=250003), True),
        (errors.HttpError(msg="401", errno=290401), True),
        (errors.InterfaceError(msg="closed", errno=250002), True),
        (errors.DatabaseError(msg="Your session has expired", errno=390112), True),
        (errors.ProgrammingError(msg="Object does not exist", errno=2003), False),
        (ConnectionResetError(), True),
        (ValueError("bug"), False),
    ],
)
def test_which_errors_count_as_connectivity(error: BaseException, connectivity: bool) -> None:
    assert is_connectivity_error(error) is connectivity


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.rowcount: int | None = None

    def execute(self, command: str, params: Any = None) -> None:
        self.connection.statements.append(command)
        if self.connection.failures:
            raise self.connection.failures.pop(0)

    def fetchone(self) -> Sequence[Any] | None:
        return (len(self.connection.statements),)

    def fetchall(self) -> list[Sequence[Any]]:
        return []

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.statements: list[str] = []
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


def _client(plan: list[list[Exception]]) -> tuple[SnowflakeClient, list[FakeConnection]]:
    """A client whose n-th connection fails its statements with ``plan[n]`` in turn."""
    opened: list[FakeConnection] = []

    def connect(**_: Any) -> FakeConnection:
        connection = FakeConnection(list(plan[len(opened)]) if len(opened) < len(plan) else [])
        opened.append(connection)
        return connection

    factory = SnowflakeConnectionFactory(SnowflakeConnectionParams(), connect=connect)
    client = SnowflakeClient(factory, unavailable=FeatureStoreUnavailable, failed=FeatureStoreError)
    return client, opened


def _select(cursor: Any) -> Any:
    cursor.execute("SELECT 1")
    return cursor.fetchone()


def test_one_connection_serves_many_calls() -> None:
    client, opened = _client([])
    for _ in range(3):
        client.run(_select)
    assert len(opened) == 1
    assert opened[0].statements == ["SELECT 1"] * 3


def test_a_dropped_session_is_reopened_once_and_the_call_retried() -> None:
    client, opened = _client([[errors.DatabaseError(msg="Session no longer exists", errno=390111)]])
    assert client.run(_select) == (1,)
    assert len(opened) == 2
    assert opened[0].closed


def test_a_second_connectivity_failure_is_a_retryable_port_error() -> None:
    down: Callable[[], Exception] = lambda: errors.OperationalError(msg="down", errno=250003)  # noqa: E731
    client, opened = _client([[down()], [down()]])
    with pytest.raises(FeatureStoreUnavailable) as info:
        client.run(_select)
    assert info.value.retryable is True
    assert "250003" in str(info.value)
    assert len(opened) == 2
    # The next call starts from a fresh connection.
    assert client.run(_select) == (1,)
    assert len(opened) == 3


def test_a_failed_connect_is_retryable_when_snowflake_is_unreachable() -> None:
    def connect(**_: Any) -> FakeConnection:
        raise errors.OperationalError(msg="Could not connect", errno=250001)

    client = SnowflakeClient(
        SnowflakeConnectionFactory(SnowflakeConnectionParams(), connect=connect),
        unavailable=FeatureStoreUnavailable,
        failed=FeatureStoreError,
    )
    with pytest.raises(FeatureStoreUnavailable):
        client.run(_select)


def test_a_sql_error_is_not_retried_and_not_retryable() -> None:
    client, opened = _client([[errors.ProgrammingError(msg="invalid identifier", errno=904)]])
    with pytest.raises(FeatureStoreError) as info:
        client.run(_select)
    assert not isinstance(info.value, FeatureStoreUnavailable)
    assert info.value.retryable is False
    assert opened[0].statements == ["SELECT 1"]


def test_an_exception_that_is_not_the_connectors_passes_through() -> None:
    client, _ = _client([])

    def broken(cursor: Any) -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        client.run(broken)


def test_a_closed_client_refuses_work_and_closes_its_connection() -> None:
    client, opened = _client([])
    client.run(_select)
    client.close()
    assert opened[0].closed
    with pytest.raises(FeatureStoreError, match="closed"):
        client.run(_select)
