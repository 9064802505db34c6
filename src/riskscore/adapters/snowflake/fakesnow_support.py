"""Running riskscore's Snowflake adapters against fakesnow (development and tests only).

Needs the ``dev`` extra (``fakesnow[server]``). fakesnow emulates Snowflake on DuckDB; it runs the
same migrations after ``strip_hybrid`` (see ``migrate.py``). Its server speaks the connector's HTTP
protocol, so the real ``snowflake-connector-python`` code path (login, binding, result decoding,
error numbers) is exercised, which the in-process ``fakesnow.patch()`` would skip.

Known fakesnow differences that matter here (see docs/snowflake.md): no hybrid tables or indexes, no
access control, VARIANT read back as JSON text (as the real connector does too), ``rowcount`` after
``executemany`` is 1, NULL TIMESTAMP values read back as 1970-01-01 in server mode (riskscore's
timestamp columns it reads are NOT NULL).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from riskscore.adapters.snowflake.connection import (
    SnowflakeConnectionFactory,
    SnowflakeConnectionParams,
)
from riskscore.adapters.snowflake.migrate import MigrationResult, apply_snowflake_migrations

FAKESNOW_USER = "fake"
FAKESNOW_PASSWORD = "snow"  # noqa: S105 - fakesnow accepts any credentials
FAKESNOW_ACCOUNT = "fakesnow"

SAMPLE_VARIABLES = {
    "warehouse": "RISKSCORE_WH",
    "app_role": "RISKSCORE_APP",
    "reader_role": "RISKSCORE_READER",
}


def packaged_migrations() -> Path:
    """``migrations/snowflake`` as shipped inside the package (``riskscore/_migrations``)."""
    from importlib.resources import files

    return Path(str(files("riskscore") / "_migrations" / "snowflake"))


@contextlib.contextmanager
def fakesnow_server(host: str = "127.0.0.1") -> Iterator[int]:
    """A fakesnow server on a free port in a background thread; yields the port.

    ``fakesnow.server()`` can be entered only once per process (importing ``fakesnow.server`` replaces
    the function of that name), so this runs the same ASGI app with uvicorn itself. All servers of a
    process share fakesnow's one in-memory DuckDB instance: use a database per test for isolation.
    """
    import uvicorn
    from fakesnow.server import app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fakesnow", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("fakesnow server did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def fakesnow_environ(
    port: int, *, database: str, host: str = "127.0.0.1", timeout_s: float = 5.0
) -> dict[str, str]:
    """``SNOWFLAKE_*`` variables that point the connector at a fakesnow server."""
    return {
        "SNOWFLAKE_ACCOUNT": FAKESNOW_ACCOUNT,
        "SNOWFLAKE_USER": FAKESNOW_USER,
        "SNOWFLAKE_PASSWORD": FAKESNOW_PASSWORD,
        "SNOWFLAKE_HOST": host,
        "SNOWFLAKE_PORT": str(port),
        "SNOWFLAKE_PROTOCOL": "http",
        "SNOWFLAKE_DATABASE": database,
        "SNOWFLAKE_SCHEMA": "PUBLIC",
        "SNOWFLAKE_LOGIN_TIMEOUT": str(timeout_s),
        "SNOWFLAKE_NETWORK_TIMEOUT": str(timeout_s),
    }


def fakesnow_connections(
    port: int, *, database: str, host: str = "127.0.0.1", timeout_s: float = 5.0
) -> SnowflakeConnectionFactory:
    environ = fakesnow_environ(port, database=database, host=host, timeout_s=timeout_s)
    return SnowflakeConnectionFactory(
        SnowflakeConnectionParams.from_env(environ, spcs_token_file=Path("/nonexistent"))
    )


def migrate_fakesnow(
    connections: SnowflakeConnectionFactory,
    *,
    database: str,
    variables: Mapping[str, str] | None = None,
    folder: Path | None = None,
) -> MigrationResult:
    """Apply riskscore's Snowflake migrations to ``database`` on fakesnow, with its own history table
    (``<database>.SCHEMACHANGE.CHANGE_HISTORY``) so databases do not see each other's history."""
    values: dict[str, Any] = {**SAMPLE_VARIABLES, **(variables or {}), "database": database}
    connection = connections.connect()
    try:
        return apply_snowflake_migrations(
            connection,
            folder or packaged_migrations(),
            values,
            change_history_table=f"{database}.SCHEMACHANGE.CHANGE_HISTORY",
            fakesnow=True,
        )
    finally:
        connection.close()
