"""Snowflake store factories for the contract suites: the real adapters on a fakesnow server.

One fakesnow server per test process (started on first use, stopped at exit). Each directory the
suites hand in maps to its own database (so the feature store and the prediction log built for the
same directory share it, as the suites require), migrated with the real scripts through
``strip_hybrid``. The stores reach fakesnow through a small TCP proxy owned by the directory, so an
outage is a real one: the proxy refuses and cuts connections, and the connector fails as it would
when Snowflake is unreachable.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from riskscore.adapters.snowflake.connection import SnowflakeConnectionFactory
from riskscore.adapters.snowflake.fakesnow_support import (
    fakesnow_connections,
    fakesnow_server,
    migrate_fakesnow,
)
from riskscore.adapters.snowflake.feature_store import SnowflakeFeatureStore
from riskscore.adapters.snowflake.prediction_log import SnowflakePredictionLog
from riskscore.ports.feature_store import FeatureStore
from riskscore.ports.prediction_log import PredictionLog

# Short timeouts so that an outage fails in about a second; fakesnow answers in milliseconds.
TIMEOUT_S = 1.0

_server_port: int | None = None
_server_lock = threading.Lock()
_proxies: dict[Path, TcpProxy] = {}


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the fakesnow server; ``down()`` makes it refuse and cut."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._up = threading.Event()
        self._up.set()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="tcp-proxy").start()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self._up.clear()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        try:
            yield
        finally:
            self._up.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=TIMEOUT_S)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._open.difference_update((src, dst))


def _server() -> int:
    global _server_port
    with _server_lock:
        if _server_port is None:
            context = fakesnow_server()
            _server_port = context.__enter__()
            atexit.register(context.__exit__, None, None, None)
        return _server_port


def database_for(directory: Path) -> str:
    return "RS_" + hashlib.sha1(str(directory).encode()).hexdigest()[:12].upper()


def _connections(directory: Path) -> SnowflakeConnectionFactory:
    """Connections to the directory's database through its proxy, migrating it on first use."""
    port = _server()
    database = database_for(directory)
    if directory not in _proxies:
        migrate_fakesnow(fakesnow_connections(port, database=database), database=database)
        _proxies[directory] = proxy = TcpProxy(port)
        atexit.register(proxy.close)
    return fakesnow_connections(_proxies[directory].port, database=database, timeout_s=TIMEOUT_S)


@contextlib.contextmanager
def snowflake_feature_store(directory: Path) -> Iterator[FeatureStore]:
    store = SnowflakeFeatureStore(_connections(directory), database=database_for(directory))
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def snowflake_prediction_log(directory: Path) -> Iterator[PredictionLog]:
    log = SnowflakePredictionLog(_connections(directory), database=database_for(directory))
    try:
        yield log
    finally:
        log.close()


@contextlib.contextmanager
def snowflake_outage(_: object, directory: Path) -> Iterator[None]:
    with _proxies[directory].outage():
        yield
