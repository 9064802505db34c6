"""The API in several worker processes (``riskscore serve --workers N``) under uvicorn's supervisor.

One Python process scores on one core (the GIL), so N processes share one listening socket: the
parent binds it, then uvicorn's ``Multiprocess`` supervisor spawns N workers that each accept on it
(the kernel spreads connections), pings them, restarts one that dies and, on SIGINT/SIGTERM, sends
every worker SIGTERM and waits for all of them. The parent imports no app and opens no store.

Each worker is a fresh interpreter (``spawn``) that imports ``create_worker_app`` and calls it: it
reads ``Settings`` from the ``RISKSCORE_*`` environment the parent set, configures logging and builds
its *own* container, so every worker has its own model (in-process mode: loaded from the registry in
each worker), its own model client, SQLite connections and audit trail. The audit trail claims a
journal slot of its own (``JournaledAuditTrail.in_slot``), so the answer path never shares a lock
with another process; a worker's shutdown drains its journal like a single server's does.

Why uvicorn's supervisor rather than one of our own: it already does socket sharing, health pings,
restarts and signal fan-out, and a worker that fails its start-up (exit status 3) stops the whole
server instead of being restarted in a loop. What it does not do is stop workers whose parent was
killed (SIGKILL of the parent alone); ``watch_parent`` (``adapters/parent_watch.py``) makes each
worker notice that within a second and shut down gracefully, so no orphan keeps the port and its
journal slot. The supervisor's pid reaches the workers in the environment
(``SUPERVISOR_PID_ENV``), not from ``os.getppid()`` at app creation: a worker still starting when
its supervisor was killed would have read init's pid there and watched init forever (seen once in
CI: one worker answered, the supervisor was killed, the other finished starting as an orphan and
never stopped).
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from riskscore.adapters.parent_watch import SUPERVISOR_PID_ENV, watch_parent

if TYPE_CHECKING:
    from litestar import Litestar

APP_FACTORY = "riskscore.adapters.http.api.workers:create_worker_app"
__all__ = ["SUPERVISOR_PID_ENV", "create_worker_app", "serve_workers", "supervisor_pid"]
HEALTHCHECK_TIMEOUT_S = 30
"""How long the supervisor waits for a worker to answer its ping before killing and replacing it.
uvicorn's 5 s default counts a worker's start (a fresh interpreter importing the stack) against the
first ping; on a busy machine that took longer, and the kill cost a restart for nothing."""


def create_worker_app() -> Litestar:
    """The app of one worker process: settings from the environment, a container of its own."""
    from riskscore.adapters.http.api.app import create_app
    from riskscore.adapters.logging import configure_logging
    from riskscore.container import build_container
    from riskscore.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    watch_parent(supervisor_pid())
    return create_app(build_container(settings))


def supervisor_pid() -> int:
    """The pid of the supervisor that spawned this worker (its parent while it lives)."""
    given = os.environ.get(SUPERVISOR_PID_ENV, "")
    return int(given) if given.isdigit() else os.getppid()


def serve_workers(sock: socket.socket, workers: int, *, log_level: str) -> bool:
    """Serve on ``sock`` with ``workers`` processes until SIGINT/SIGTERM stops them all (each drains
    its audit trail). False when a worker failed to start, which stops the others too."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess

    from riskscore.adapters.http.model_uvicorn import server_config

    os.environ[SUPERVISOR_PID_ENV] = str(os.getpid())  # inherited by the spawned workers
    config = server_config(APP_FACTORY, log_level=log_level, workers=workers, factory=True)
    config.timeout_worker_healthcheck = HEALTHCHECK_TIMEOUT_S
    supervisor = Multiprocess(config, sockets=[sock])
    supervisor.run()
    return not any(
        getattr(process, "exitcode", None) == STARTUP_FAILURE for process in supervisor.processes
    )
