"""End to end: ``riskscore serve`` with two worker processes (``RISKSCORE_WORKERS=2``) on 127.0.0.1.

Covered: concurrent scoring lands every prediction exactly once in SQLite with both workers
answering and each draining its own journal on Ctrl-C; a SIGKILL of the whole process tree under
load, restarted with one worker, loses and duplicates nothing (the restarted worker replays its own
slot and adopts the other); workers whose supervisor was SIGKILLed stop by themselves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Service, ServiceFactory, clean_env
from http_contract_checks import MIB_SAMPLE, RX_SAMPLE
from test_api_e2e import Load, count_rows, wait_for_predictions

from riskscore.adapters.http.api.workers import SUPERVISOR_PID_ENV

pytestmark = pytest.mark.slow


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``), children before grandchildren."""
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop(0)
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


def describe(pid: int) -> str:
    """A process's state and command line, for a failure message."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    return f"state {stat.split(')')[-1].split()[0]}, {command[:200]}"


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def log_events(service: Service, event: str) -> list[dict[str, Any]]:
    events = []
    for line in service.output().splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            events.append(json.loads(line))
    return events


def start_workers(
    services: ServiceFactory, data_dir: Path, **env: str
) -> tuple[Service, subprocess.Popen[bytes], list[int]]:
    """``riskscore serve`` with two workers: (service, supervisor process, worker pids)."""
    api = services("serve", clean_env(data_dir, RISKSCORE_WORKERS="2", **env))
    assert api.process is not None
    workers = [pid for pid in descendants(api.process.process.pid) if is_worker(pid)]
    assert len(workers) == 2, [describe(pid) for pid in descendants(api.process.process.pid)]
    return api, api.process.process, workers


def is_worker(pid: int) -> bool:
    """A worker the supervisor spawned, not multiprocessing's resource tracker (also its child,
    started with the first spawn; it leaves on its own once the supervisor has gone)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def wait_gone(pids: list[int], within_s: float) -> dict[int, str]:
    """The processes of ``pids`` still running after up to ``within_s``, described."""
    deadline = time.monotonic() + within_s
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {pid: describe(pid) for pid in pids if alive(pid)}


def assert_stored_once(data_dir: Path, ids: set[str]) -> None:
    """Every id in ``ids`` is in the prediction log and the feature store exactly once."""
    for table in ("model_predictions", "online_features"):
        rows = count_rows(data_dir, table, ids)
        assert set(rows) == ids, table
        assert set(rows.values()) == {1}, table


def test_two_workers_answer_and_each_prediction_is_stored_exactly_once(
    data_dir: Path, services: ServiceFactory
) -> None:
    api, supervisor, workers = start_workers(services, data_dir)
    with Load(api.url, 8, fresh_connections=True) as load:
        load.wait_for(400)
    acknowledged = set(load.acknowledged)
    assert len(acknowledged) == len(load.acknowledged)

    # Ctrl-C in a terminal: SIGINT to the supervisor's whole process group at once.
    tree = descendants(supervisor.pid)
    for pid in [supervisor.pid, *tree]:
        os.kill(pid, signal.SIGINT)
    assert supervisor.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in workers)  # the supervisor waited for each of them
    assert not wait_gone(tree, within_s=10.0)  # the resource tracker follows on its own

    slots = sorted(Path(e["journal"]).name for e in log_events(api, "audit.journal_slot"))
    assert slots == ["w0", "w1"], api.output()[-3000:]
    stopped = log_events(api, "api.stopped")
    assert len(stopped) == 2, api.output()[-3000:]
    assert all(e["audit_recorded"] > 0 for e in stopped), stopped  # both workers answered
    assert all(e["audit_pending"] == 0 for e in stopped), stopped  # each drained its journal
    assert sum(e["audit_recorded"] for e in stopped) == len(acknowledged)
    assert_stored_once(data_dir, acknowledged)  # drained on shutdown: no waiting needed


def test_sigkill_of_every_process_then_one_worker_keeps_every_answer_exactly_once(
    data_dir: Path, services: ServiceFactory
) -> None:
    api, supervisor, _ = start_workers(services, data_dir, RISKSCORE_AUDIT_FLUSH_INTERVAL_S="0.5")
    with Load(api.url, 4, fresh_connections=True) as load:
        load.wait_for(300)
        tree = [supervisor.pid, *descendants(supervisor.pid)]
        for pid in tree:  # the whole process group: no shutdown hook runs anywhere
            os.kill(pid, signal.SIGKILL)
        supervisor.wait(timeout=15)
    acknowledged = set(load.acknowledged)
    assert len(acknowledged) >= 300
    before = count_rows(data_dir, "model_predictions", acknowledged)
    assert acknowledged - set(before), "everything was delivered before the kill: nothing to replay"

    api.env["RISKSCORE_WORKERS"] = "1"
    api.start()  # one worker: replays w0 and adopts w1
    wait_for_predictions(data_dir, acknowledged)
    assert_stored_once(data_dir, acknowledged)
    assert [Path(e["journal"]).name for e in log_events(api, "audit.journal_slot")][-1] == "w0"


def test_workers_stop_by_themselves_when_their_supervisor_is_killed(
    data_dir: Path, services: ServiceFactory
) -> None:
    api, supervisor, workers = start_workers(services, data_dir)
    answered = httpx.post(
        f"{api.url}/v1/score",
        json={"policy_number": "ORPHAN-1", "mib_xml": MIB_SAMPLE, "rx_xml": RX_SAMPLE},
        timeout=10.0,
    )
    assert answered.status_code == 200
    # Each worker knows its supervisor from birth: one still starting when the supervisor dies
    # must not take init (its parent by then) for it.
    for pid in workers:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"{SUPERVISOR_PID_ENV}={supervisor.pid}".encode() in environ
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait(timeout=15)
    survivors = wait_gone(workers, within_s=30.0)
    assert not survivors, (
        f"still running 30 s after their supervisor died: {survivors}\n{api.output()[-3000:]}"
    )
    # They stopped gracefully: the answered prediction was delivered on the way out.
    prediction_id = answered.json()["prediction_id"]
    assert count_rows(data_dir, "model_predictions", {prediction_id}) == {prediction_id: 1}
