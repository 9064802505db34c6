"""Checks on processes for the tests that kill a parent and expect its workers to follow."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Collection
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent that does not reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_gone(pids: Collection[int], within_s: float = 10.0) -> None:
    """Every process of ``pids`` ends within ``within_s``; whatever does not is killed (and the
    check fails), so a failing test leaves nothing behind."""
    try:
        deadline = time.monotonic() + within_s
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in pids if alive(pid)], "workers outlived their killed parent"
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
