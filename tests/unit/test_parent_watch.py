"""``watch_parent``: a process stops (SIGTERM) once the process it serves has ended, whether that
is its parent or not (a forkserver's pool worker watches the run's process), with pidfds and by
polling where there are none."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest

WATCHER = (
    "import os, sys, time\n"
    "if sys.argv[2] == 'poll':\n"
    "    del os.pidfd_open  # a system without pidfds\n"
    "from riskscore.adapters.parent_watch import watch_parent\n"
    "watch_parent(int(sys.argv[1]), interval_s=0.05)\n"
    "time.sleep(30)\n"
)


@pytest.mark.parametrize("how", ["pidfd", "poll"])
def test_a_watcher_stops_when_the_watched_process_ends(how: str) -> None:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    # Reaped as soon as it ends, as a shell reaps a command: polling cannot tell a zombie from
    # a live process (a pidfd can).
    reaper = threading.Thread(target=watched.wait)
    reaper.start()
    try:
        done = subprocess.run(
            [sys.executable, "-c", WATCHER, str(watched.pid), how], timeout=20, check=False
        )
    finally:
        reaper.join()
    assert done.returncode == -signal.SIGTERM


@pytest.mark.parametrize("how", ["pidfd", "poll"])
def test_a_watcher_of_a_process_that_lives_keeps_running(how: str) -> None:
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            subprocess.run([sys.executable, "-c", WATCHER, str(watched.pid), how], timeout=2)
    finally:
        watched.kill()
        watched.wait()


@pytest.mark.parametrize("how", ["pidfd", "poll"])
def test_a_watcher_of_a_process_gone_already_stops_at_once(how: str) -> None:
    # 2**22 + 12345 is above Linux's largest pid: no such process
    done = subprocess.run(
        [sys.executable, "-c", WATCHER, str(2**22 + 12345), how], timeout=20, check=False
    )
    assert done.returncode == -signal.SIGTERM
