"""Processes that stop once the process they serve is gone (killed with SIGKILL, which cannot be
passed on): the API's workers under uvicorn's supervisor, the model service and the API under
``riskscore up``, and a batch run's pool workers.

The watched process's pid is given, never read when a worker starts: a worker still starting when
its parent was killed would read its new parent's pid (init, or a subreaper) and watch that
forever. Where the system has pidfds (Linux 5.3 and later) the watching thread sleeps until the
process ends, whichever process it is (a forkserver's worker watches the run's process, not the
server between them); elsewhere it polls: its parent changing, or the pid no longer existing.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Mapping

PARENT_POLL_S = 1.0
"""How often a watcher without pidfds looks."""
SUPERVISOR_PID_ENV = "_RISKSCORE_SUPERVISOR_PID"
"""The pid of the process that started this one to serve it, for the processes it starts (not
``RISKSCORE_*``: not a setting)."""


def watch_supervisor(environ: Mapping[str, str] = os.environ) -> threading.Thread | None:
    """``watch_parent`` of the supervisor ``SUPERVISOR_PID_ENV`` names, if it names one."""
    given = environ.get(SUPERVISOR_PID_ENV, "")
    return watch_parent(int(given)) if given.isdigit() else None


def watch_parent(parent_pid: int, interval_s: float = PARENT_POLL_S) -> threading.Thread:
    """A daemon thread that sends this process SIGTERM (a graceful stop where it is handled, the
    end of the process where it is not) once process ``parent_pid`` has ended."""

    def watch() -> None:
        _wait_for_end(parent_pid, interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def _wait_for_end(pid: int, interval_s: float) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # gone already
    except (AttributeError, OSError):  # no pidfds here
        _poll_for_end(pid, interval_s)
        return
    try:
        select.select([fd], [], [])  # readable once the process has ended
    finally:
        os.close(fd)


def _poll_for_end(pid: int, interval_s: float) -> None:
    if os.getppid() == pid:
        while os.getppid() == pid:  # an orphan is re-parented; the dead parent may linger
            time.sleep(interval_s)
        return
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # exists, someone else's
            pass
        time.sleep(interval_s)
