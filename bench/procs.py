"""Servers under test as subprocesses on 127.0.0.1: start, wait for health, always stop.

Each server runs in its own session (process group) so stopping it also stops any worker it spawned
(``mlflow models serve`` starts uvicorn as a child). Output goes to a log file under the run's
scratch directory; the last lines are quoted when a server fails to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """A server did not become healthy (its log tail is in the message)."""


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; a server binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(argv: Sequence[str], cpus: Sequence[int] | None) -> list[str]:
    """``argv`` under ``taskset -c CPUS`` (children inherit the affinity), or as is."""
    if not cpus:
        return list(argv)
    return ["taskset", "-c", ",".join(str(c) for c in cpus), *argv]


class Server:
    """One server process: ``argv`` listening on ``port``, healthy when ``GET health_path`` is 200."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cpus: Sequence[int] | None = None,
        health_path: str = "/health",
        start_timeout_s: float = 60.0,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = pinned(argv, cpus)
        self.port = port
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.health_path = health_path
        self.start_timeout_s = start_timeout_s
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    def wait_healthy(self) -> None:
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + self.start_timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ServerError(
                        f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + self.health_path).status_code == 200:
                        return
                time.sleep(0.1)
        raise ServerError(
            f"{self.name} not healthy after {self.start_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """Signal the process group (SIGTERM unless told otherwise), SIGKILL it if it is still there
        after ``timeout_s``."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, self.stop_signal)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=5)
        finally:
            # Workers that outlived their parent (same group) go too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start ``servers`` in order (each healthy before the next starts); stop all, in reverse, always."""
    started: list[Server] = []
    try:
        for server in servers:
            started.append(server)
            server.start()
            server.wait_healthy()
        yield servers
    finally:
        for server in reversed(started):
            server.stop()
