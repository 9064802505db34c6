"""Servers under test start, become healthy and are always stopped, even when the block fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from bench.procs import Server, ServerError, free_port, pinned, running


def _static_server(tmp_path: Path, name: str = "static") -> Server:
    """``python -m http.server`` over a directory holding a file named ``health``: GET /health is 200."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "health").write_text("ok")
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Server(
        name,
        [*argv, "--directory", str(tmp_path)],
        port=port,
        log_path=tmp_path / "logs" / f"{name}.log",
        start_timeout_s=20,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited when /proc says state Z or it is gone.
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def test_running_starts_waits_for_health_and_stops(tmp_path: Path) -> None:
    server = _static_server(tmp_path)

    with running(server):
        pid = server.pid
        assert pid is not None
        assert _alive(pid)

    assert server.pid is None
    assert not _alive(pid)


def test_servers_are_stopped_when_the_block_raises(tmp_path: Path) -> None:
    server = _static_server(tmp_path)
    pids: list[int | None] = []

    def fail_inside() -> None:
        with running(server):
            pids.append(server.pid)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()

    assert pids[0] is not None
    assert not _alive(pids[0])


def test_a_server_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    port = free_port()
    failing = Server(
        "failing",
        [sys.executable, "-c", "import sys; print('cannot start: no model'); sys.exit(3)"],
        port=port,
        log_path=tmp_path / "failing.log",
    )

    with pytest.raises(ServerError, match="no model") as info, running(failing):
        pass

    assert "exited with 3" in str(info.value)


def test_earlier_servers_stop_when_a_later_one_fails(tmp_path: Path) -> None:
    first = _static_server(tmp_path / "a")
    second = Server(
        "second",
        [sys.executable, "-c", "raise SystemExit(1)"],
        port=free_port(),
        log_path=tmp_path / "second.log",
    )
    pids: list[int] = []
    original = first.wait_healthy

    def remember() -> None:
        original()
        assert first.pid is not None
        pids.append(first.pid)

    first.wait_healthy = remember  # type: ignore[method-assign]

    with pytest.raises(ServerError), running(first, second):
        pass

    assert pids
    assert not _alive(pids[0])


def test_pinned_prefixes_taskset_only_when_cpus_are_given() -> None:
    assert pinned(["srv", "--port", "1"], None) == ["srv", "--port", "1"]
    assert pinned(["srv"], [1]) == ["taskset", "-c", "1", "srv"]
    assert pinned(["srv"], [0, 1]) == ["taskset", "-c", "0,1", "srv"]
