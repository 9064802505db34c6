"""Running an ASGI app (the model service) under uvicorn: in the foreground or on a thread.

The foreground form is ``riskscore model-server``: uvloop + httptools, no access log, one worker,
SIGINT/SIGTERM stop it gracefully (stop accepting, finish in-flight requests, run shutdown) and the
process then exits normally.
The socket is bound before uvicorn starts so ``--port 0`` works and the bound port can be logged.

``BackgroundServer`` runs the same server on a daemon thread (uvicorn skips signal handlers off the
main thread); tests and benchmarks use it to get a real HTTP server on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

import uvicorn

BACKLOG = 2048


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    It listens at once, so a client that connects before uvicorn has started waits in the backlog
    instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def server_config(
    app: Any, *, log_level: str = "warning", workers: int = 1, factory: bool = False
) -> uvicorn.Config:
    """``workers`` > 1 needs ``app`` as an import string (each worker process imports it), with
    ``factory=True`` when it names a function that builds the app."""
    return uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level.lower(),
        workers=workers,
        factory=factory,
        backlog=BACKLOG,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
    )


def serve(
    app: Any,
    sock: socket.socket,
    *,
    log_level: str = "warning",
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then shut down gracefully and return (main thread only).

    uvicorn handles the signals while it runs, then re-raises the one it caught so that the process
    dies of it. Our handler, installed around the run, receives that re-raise instead: the caller gets
    control back to release its resources and exit 0. A signal that arrives before uvicorn installs
    its own handlers still stops the server (``should_exit``). ``on_ready`` runs once the handlers
    are in place: announce the server there, so whoever reacts to the announcement can signal it.
    """
    server = uvicorn.Server(server_config(app, log_level=log_level))

    def request_exit(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, request_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if on_ready is not None:
            on_ready()
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BackgroundServer:
    """``with BackgroundServer(app) as server: httpx.get(server.base_url + "/health")``."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(server_config(app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
