"""A worker of ``riskscore serve --workers N`` stops once the supervisor that spawned it is gone,
even when it finished starting after the supervisor died: it watches the supervisor's pid from the
environment, not whatever ``os.getppid()`` says by then (init's pid, for an orphan)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from riskscore.adapters.http.api import workers

WATCH = (
    "import sys, time\n"
    "from riskscore.adapters.http.api.workers import watch_parent\n"
    "watch_parent(int(sys.argv[1]), interval_s=0.05)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def test_a_worker_whose_supervisor_is_already_gone_stops_at_once() -> None:
    # 2**22 + 12345 is above Linux's largest pid: surely not this process's parent
    done = subprocess.run(
        [sys.executable, "-c", WATCH, str(2**22 + 12345), "30"], timeout=20, check=False
    )
    assert done.returncode == -signal.SIGTERM


def test_a_worker_whose_supervisor_lives_keeps_running() -> None:
    done = subprocess.run([sys.executable, "-c", WATCH, str(os.getpid()), "0.5"], timeout=20)
    assert done.returncode == 0


def test_the_supervisor_pid_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(workers.SUPERVISOR_PID_ENV, "4242")
    assert workers.supervisor_pid() == 4242
    monkeypatch.delenv(workers.SUPERVISOR_PID_ENV)
    assert workers.supervisor_pid() == os.getppid()
    monkeypatch.setenv(workers.SUPERVISOR_PID_ENV, "not-a-pid")
    assert workers.supervisor_pid() == os.getppid()
