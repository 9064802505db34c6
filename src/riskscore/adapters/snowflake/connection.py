"""Connections to Snowflake: parameters from ``SNOWFLAKE_*`` variables, one reconnect on a dropped session.

Parameters (all optional; the connector reports what is missing):

| variable | connector argument |
|---|---|
| ``SNOWFLAKE_ACCOUNT``, ``SNOWFLAKE_USER``, ``SNOWFLAKE_PASSWORD`` | account, user, password |
| ``SNOWFLAKE_PRIVATE_KEY_FILE`` (or ``_PATH``), ``SNOWFLAKE_PRIVATE_KEY_FILE_PWD`` | key-pair authentication |
| ``SNOWFLAKE_AUTHENTICATOR``, ``SNOWFLAKE_TOKEN``, ``SNOWFLAKE_TOKEN_FILE`` | OAuth and other authenticators |
| ``SNOWFLAKE_ROLE``, ``SNOWFLAKE_WAREHOUSE``, ``SNOWFLAKE_DATABASE``, ``SNOWFLAKE_SCHEMA`` | session context |
| ``SNOWFLAKE_HOST``, ``SNOWFLAKE_PORT``, ``SNOWFLAKE_PROTOCOL`` | endpoint (fakesnow: ``127.0.0.1``, its port, ``http``) |
| ``SNOWFLAKE_LOGIN_TIMEOUT``, ``SNOWFLAKE_NETWORK_TIMEOUT`` | seconds |

Inside Snowpark Container Services Snowflake sets ``SNOWFLAKE_ACCOUNT``/``HOST``/``DATABASE``/``SCHEMA``
and writes an OAuth token to ``/snowflake/session/token``. With no password, key or token given, that
file (when present) is used with ``authenticator=oauth``. The token is re-read on every connect because
Snowflake refreshes it. Warehouse and database fall back to ``RISKSCORE_SNOWFLAKE_WAREHOUSE`` /
``RISKSCORE_SNOWFLAKE_DATABASE``.

Out-of-band telemetry is switched off: a service in SPCS has no egress for it, and fakesnow has no
endpoint for it either.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

import msgspec

SPCS_TOKEN_FILE = Path("/snowflake/session/token")

# Connector error numbers meaning "this session/connection is gone": reconnecting may help.
# 250001 could not connect, 250002 connection closed, 250003 request failed, 252007 session renewal
# failed, 390111 session no longer exists, 390112 session expired, 390114 token expired,
# 390104 user must log in again (what fakesnow answers for an unknown session).
_RECONNECTABLE_ERRNOS = frozenset({250001, 250002, 250003, 252007, 390104, 390111, 390112, 390114})

T = TypeVar("T")


class SqlCursor(Protocol):
    """The DB-API cursor surface riskscore uses (snowflake-connector-python's ``SnowflakeCursor``)."""

    @property
    def rowcount(self) -> int | None: ...

    def execute(self, command: str, params: Any = None) -> Any: ...

    def fetchone(self) -> Sequence[Any] | None: ...

    def fetchall(self) -> list[Sequence[Any]]: ...

    def close(self) -> Any: ...


class SqlConnection(Protocol):
    def cursor(self) -> SqlCursor: ...

    def close(self) -> Any: ...


class SnowflakeConnectionParams(msgspec.Struct, frozen=True, kw_only=True):
    """Connection parameters; ``repr`` never shows secrets."""

    account: str | None = None
    user: str | None = None
    password: str | None = None
    private_key_file: str | None = None
    private_key_file_pwd: str | None = None
    authenticator: str | None = None
    token: str | None = None
    token_file: str | None = None
    role: str | None = None
    warehouse: str | None = None
    database: str | None = None
    schema: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    login_timeout: float | None = None
    network_timeout: float | None = None

    def __repr__(self) -> str:
        shown = {
            name: getattr(self, name)
            for name in ("account", "user", "role", "warehouse", "database", "schema", "host")
            if getattr(self, name)
        }
        return f"SnowflakeConnectionParams({shown})"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        default_database: str | None = None,
        default_warehouse: str | None = None,
        spcs_token_file: Path = SPCS_TOKEN_FILE,
    ) -> SnowflakeConnectionParams:
        def get(name: str) -> str | None:
            value = environ.get(f"SNOWFLAKE_{name}", "").strip()
            return value or None

        def number(name: str) -> float | None:
            raw = get(name)
            if raw is None:
                return None
            try:
                return float(raw)
            except ValueError as exc:
                raise ValueError(f"SNOWFLAKE_{name} must be a number, got {raw!r}") from exc

        port = number("PORT")
        params = cls(
            account=get("ACCOUNT"),
            user=get("USER"),
            password=get("PASSWORD"),
            private_key_file=get("PRIVATE_KEY_FILE") or get("PRIVATE_KEY_PATH"),
            private_key_file_pwd=get("PRIVATE_KEY_FILE_PWD") or get("PRIVATE_KEY_PASSPHRASE"),
            authenticator=get("AUTHENTICATOR"),
            token=get("TOKEN"),
            token_file=get("TOKEN_FILE"),
            role=get("ROLE"),
            warehouse=get("WAREHOUSE") or default_warehouse,
            database=get("DATABASE") or default_database,
            schema=get("SCHEMA"),
            host=get("HOST"),
            port=int(port) if port is not None else None,
            protocol=get("PROTOCOL"),
            login_timeout=number("LOGIN_TIMEOUT"),
            network_timeout=number("NETWORK_TIMEOUT"),
        )
        has_credentials = params.password or params.private_key_file or params.token
        if not has_credentials and not params.token_file and spcs_token_file.is_file():
            params = msgspec.structs.replace(params, token_file=str(spcs_token_file))
        return params

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect`` (reads the token file, if any)."""
        kwargs: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "account",
                "user",
                "password",
                "private_key_file",
                "private_key_file_pwd",
                "authenticator",
                "token",
                "role",
                "warehouse",
                "database",
                "schema",
                "host",
                "port",
                "protocol",
                "login_timeout",
                "network_timeout",
            )
            if getattr(self, name) is not None
        }
        if self.token_file and "token" not in kwargs:
            kwargs["token"] = Path(self.token_file).read_text().strip()
            kwargs.setdefault("authenticator", "oauth")
        kwargs["application"] = "riskscore"
        kwargs["client_session_keep_alive"] = True
        kwargs["session_parameters"] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
        return kwargs


def execute(cursor: SqlCursor, query: str, params: Sequence[Any]) -> None:
    cursor.execute(query, params)


def fetch_one(cursor: SqlCursor, query: str, params: Sequence[Any]) -> Sequence[Any] | None:
    cursor.execute(query, params)
    return cursor.fetchone()


def fetch_all(cursor: SqlCursor, query: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    cursor.execute(query, params)
    return cursor.fetchall()


def _connector_connect(**kwargs: Any) -> SqlConnection:
    # Looked up at call time so that ``fakesnow.patch()`` (which patches the module attribute) applies.
    import snowflake.connector

    connection: SqlConnection = snowflake.connector.connect(**kwargs)
    return connection


class SnowflakeConnectionFactory:
    """Opens connections from ``SnowflakeConnectionParams``."""

    def __init__(
        self,
        params: SnowflakeConnectionParams,
        *,
        connect: Callable[..., SqlConnection] = _connector_connect,
    ) -> None:
        self.params = params
        self._connect = connect

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        default_database: str | None = None,
        default_warehouse: str | None = None,
    ) -> SnowflakeConnectionFactory:
        return cls(
            SnowflakeConnectionParams.from_env(
                environ, default_database=default_database, default_warehouse=default_warehouse
            )
        )

    def connect(self) -> SqlConnection:
        return self._connect(**self.params.connect_kwargs())


def is_connectivity_error(exc: BaseException) -> bool:
    """True when the error means the connection or session is gone (worth one reconnect)."""
    from snowflake.connector import errors

    if isinstance(exc, errors.Error):
        if isinstance(exc, errors.OperationalError | errors.InterfaceError | errors.HttpError):
            return True
        errno = getattr(exc, "errno", None)
        return errno in _RECONNECTABLE_ERRNOS
    return isinstance(exc, ConnectionError | TimeoutError)


def is_connector_error(exc: BaseException) -> bool:
    from snowflake.connector import errors

    return isinstance(exc, errors.Error)


class SnowflakeClient:
    """One lazily opened connection shared by an adapter's calls.

    Calls are serialized by a lock (an adapter is used from the API's request threads and the audit
    trail's delivery thread). A call that fails because the session dropped is retried once on a fresh
    connection; every statement riskscore sends is idempotent (MERGE on the key, reads, DELETE by key),
    so the retry is safe. Connector errors are translated into the port's errors by the caller-given
    ``unavailable`` (connectivity, retryable) and ``failed`` (anything else) types.
    """

    def __init__(
        self,
        factory: SnowflakeConnectionFactory,
        *,
        unavailable: Callable[[str], Exception],
        failed: Callable[[str], Exception],
    ) -> None:
        self._factory = factory
        self._unavailable = unavailable
        self._failed = failed
        self._lock = threading.Lock()
        self._connection: SqlConnection | None = None
        self._closed = False

    def run(self, work: Callable[[SqlCursor], T]) -> T:
        with self._lock:
            if self._closed:
                raise self._failed("the Snowflake adapter is closed")
            try:
                return self._attempt(work)
            except Exception as first:
                if not is_connectivity_error(first):
                    self._raise_translated(first)
            # The session dropped: reopen once and try again.
            self._drop_connection()
            try:
                return self._attempt(work)
            except Exception as second:
                if is_connectivity_error(second):
                    self._drop_connection()
                self._raise_translated(second)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_connection()

    def _attempt(self, work: Callable[[SqlCursor], T]) -> T:
        if self._connection is None:
            self._connection = self._factory.connect()
        cursor = self._connection.cursor()
        try:
            return work(cursor)
        finally:
            # Closing a cursor of a dead session may fail; there is nothing left to release.
            with contextlib.suppress(Exception):
                cursor.close()

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # the session may already be gone
                connection.close()

    def _raise_translated(self, exc: Exception) -> NoReturn:
        if not is_connector_error(exc) and not isinstance(exc, OSError):
            raise exc  # a bug, or a port error raised by ``work`` itself: not ours to rename
        raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> Exception:
        kind = type(exc).__name__
        errno = getattr(exc, "errno", None)
        message = f"Snowflake {kind}" + (f" {errno}" if errno else "") + f": {_first_line(exc)}"
        if is_connectivity_error(exc):
            return self._unavailable(message)
        return self._failed(message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
