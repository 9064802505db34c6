"""Starting a rescoring pool: workers start from a thread while the first chunks are scored here,
and a pool whose workers cannot start fails the run with the error that stopped them (even when
every chunk could be scored here meanwhile)."""

from __future__ import annotations

import datetime as dt
import functools
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from process_checks import assert_gone
from test_rescore_support import settings_for

from riskscore.adapters.batch import runner
from riskscore.adapters.batch.runner import Batches, ChunkRunner, Payload, RunSpec, Worker
from riskscore.adapters.batch.sources import SourceError
from riskscore.adapters.treemodel.toy import one_split_model
from riskscore.domain.scoring import RiskClassThresholds
from riskscore.ports.feature_store import FeatureBatch
from riskscore.settings import load_settings


def first_and_size(worker: Worker, start: int, rows: Payload) -> tuple[int, int]:
    """A job: where the chunk starts and how many rows it has (runs in any process)."""
    assert not isinstance(rows, Batches)
    return start, len(rows)


def spec(tmp_path: Path, start: str = "auto") -> RunSpec:
    return RunSpec(
        settings=msgspec.structs.replace(settings_for(tmp_path), rescore_start=start),
        models=(one_split_model(),),
        batch_run_id="pool-start",
        run_started_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        thresholds=RiskClassThresholds(),
    )


def chunks(count: int) -> list[runner.Chunk]:
    return [(3 * i, []) for i in range(count)]


class _NoWorkers(ProcessPoolExecutor):
    """A pool that cannot start a process: its first task would start them (fork), or a task per
    worker does (forkserver: ``runner._started``, from a thread)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise OSError("no processes left")


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_pool_whose_workers_cannot_start_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    monkeypatch.setattr(runner, "ProcessPoolExecutor", _NoWorkers)
    with pytest.raises(OSError, match="no processes left"):
        list(ChunkRunner(spec(tmp_path, method), first_and_size, workers=2).run(chunks(5)))


# -- how workers start: fork while this process runs no other thread, else the forkserver --------
def pid_of_chunk(worker: Worker, start: int, rows: Payload) -> tuple[int, int]:
    """A job: where the chunk starts and which process scored it."""
    return start, os.getpid()


@pytest.mark.parametrize(("platform", "method"), [("linux", "fork"), ("darwin", "forkserver")])
def test_a_single_threaded_caller_forks_its_workers_on_linux(platform: str, method: str) -> None:
    # In a fresh interpreter: threads other tests leave behind would make this one see several.
    code = (
        "import sys, threading\n"
        "from riskscore.adapters.batch import runner\n"
        "assert threading.active_count() == 1\n"
        f"sys.platform = {platform!r}\n"
        "print(runner.start_context().get_start_method())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == method


def test_a_caller_running_another_thread_gets_the_forkserver() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert runner.start_context().get_start_method() == "forkserver"
    finally:
        stop.set()
        other.join()


def test_the_start_method_is_a_setting_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    settings = load_settings({"RISKSCORE_RESCORE_START": "spawn"}, data_dir=str(tmp_path))
    assert settings.rescore_start == "spawn"
    assert runner.start_context(settings.rescore_start).get_start_method() == "spawn"
    with pytest.raises(ValueError, match="rescore_start"):
        load_settings({"RISKSCORE_RESCORE_START": "threads"})
    with pytest.raises(ValueError, match="RISKSCORE_RESCORE_START='threads'"):
        runner.start_context("threads")


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_every_chunk_is_scored_once_in_order_whatever_the_start_method(
    tmp_path: Path, method: str
) -> None:
    gc.unfreeze()
    results = list(ChunkRunner(spec(tmp_path, method), pid_of_chunk, workers=2).run(chunks(12)))
    assert gc.get_freeze_count() == 0, "the caller's objects stay frozen (never collected)"
    assert [start for start, _, _ in results] == [3 * i for i in range(12)]
    assert [result[0] for _, _, result in results] == [3 * i for i in range(12)]
    pids = {result[1] for _, _, result in results}
    if method == "fork":
        # forked workers are up at once: every chunk goes to them, none is scored here meanwhile
        assert os.getpid() not in pids
        assert len(pids) <= 2


def stored_chunks(count: int, rows: int = 2) -> list[runner.Chunk]:
    batches = []
    for i in range(count):
        ids = [f"p-{i}-{j}" for j in range(rows)]
        matrix = np.zeros((rows, 3))
        batches.append(
            (rows * i, FeatureBatch(ids, ids, ["2026-01-01"] * rows, ["v"] * rows, matrix))
        )
    return batches


def pid_of_stored_chunk(worker: Worker, start: int, rows: Payload) -> tuple[int, int]:
    """A job: where the chunk of stored vectors starts, which process scored it."""
    assert isinstance(rows, Batches)
    return start, os.getpid()


@pytest.mark.parametrize("workers", [2, 3])
def test_this_process_scores_its_share_of_stored_vectors_in_a_forked_pool(
    tmp_path: Path, workers: int
) -> None:
    results = list(
        ChunkRunner(spec(tmp_path, "fork"), pid_of_stored_chunk, workers=workers).run(
            stored_chunks(12)
        )
    )
    assert [start for start, _, _ in results] == [2 * i for i in range(12)]
    assert [result[0] for _, _, result in results] == [2 * i for i in range(12)]
    pids = [result[1] for _, _, result in results]
    here = [i for i, pid in enumerate(pids) if pid == os.getpid()]
    assert here == list(range(workers - 1, 12, workers)), "every workers-th chunk, here"
    assert len(set(pids) - {os.getpid()}) <= workers - 1, "one process fewer in the pool"


def test_evidence_in_a_forked_pool_is_all_for_the_workers(tmp_path: Path) -> None:
    results = list(ChunkRunner(spec(tmp_path, "fork"), pid_of_chunk, workers=2).run(chunks(6)))
    assert os.getpid() not in {result[1] for _, _, result in results}


def fails_at(failing: int, worker: Worker, start: int, rows: Payload) -> int:
    """A job failing on the chunk starting at row ``failing``."""
    if start == failing:
        raise SourceError(f"the store went away at row {failing}")
    return start


@pytest.mark.parametrize(
    ("failing", "before"),
    [
        (2, [0]),  # the second chunk: this process's, with 2 workers
        (0, []),  # the first: a forked worker's (forks.ForkedWorker)
    ],
)
def test_a_chunk_failing_fails_in_its_turn(tmp_path: Path, failing: int, before: list[int]) -> None:
    job = functools.partial(fails_at, failing)
    run = ChunkRunner(spec(tmp_path, "fork"), job, workers=2).run(stored_chunks(6))
    for start in before:
        assert next(run)[2] == start, "the chunks before it are handed back first"
    with pytest.raises(SourceError, match=f"the store went away at row {failing}"):
        next(run)


@pytest.mark.parametrize(
    ("method", "workers", "batch_size", "rows"),
    [
        ("fork", 2, 1000, runner.FORKED_CHUNK_ROWS),
        ("fork", 2, 50_000, 50_000),
        ("fork", 1, 1000, runner.FEATURE_CHUNK_ROWS),  # no pool: the parent scores every chunk
        ("forkserver", 2, 1000, runner.FEATURE_CHUNK_ROWS),  # slow start: few, large chunks
    ],
)
def test_stored_vectors_are_cut_smaller_for_forked_workers(
    tmp_path: Path, method: str, workers: int, batch_size: int, rows: int
) -> None:
    chunk_runner = ChunkRunner(spec(tmp_path, method), first_and_size, workers=workers)
    assert chunk_runner.feature_rows(batch_size) == rows


def parent_of_chunk(worker: Worker, start: int, rows: Payload) -> int:
    """A job: the process that started the worker scoring the chunk (a forkserver's workers are
    its children; forked workers are the caller's)."""
    return os.getppid()


def test_one_run_after_another_still_forks(tmp_path: Path) -> None:
    # The first pool must leave no thread behind, or every later run of the process would fall
    # back to the forkserver. In a fresh interpreter: other tests leave threads behind.
    script = tmp_path / "runs.py"
    script.write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "from test_rescore_pool_start import chunks, parent_of_chunk, spec\n"
        "from riskscore.adapters.batch.runner import ChunkRunner\n"
        "if __name__ == '__main__':\n"
        f"    run = ChunkRunner(spec(Path({str(tmp_path)!r})), parent_of_chunk, workers=2)\n"
        "    for _ in range(3):\n"
        "        parents = {parent for _, _, parent in run.run(chunks(6))}\n"
        "        assert parents == {os.getpid()}, parents\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def slow_pid_of_chunk(worker: Worker, start: int, rows: Payload) -> tuple[int, int]:
    """``pid_of_chunk``, 10 ms a chunk: a forkserver pool's workers are up before the run ends."""
    time.sleep(0.01)
    return start, os.getpid()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize(
    ("method", "source", "job", "workers"),
    [
        ("fork", "chunks", "slow_pid_of_chunk", 2),
        ("forkserver", "chunks", "slow_pid_of_chunk", 2),
        # stored vectors: this process scores a share, so 3 workers for 2 forked ones
        ("fork", "stored_chunks", "slow_pid_of_stored_chunk", 3),
    ],
)
def test_the_workers_of_a_killed_run_stop(
    tmp_path: Path, method: str, source: str, job: str, workers: int
) -> None:
    """SIGKILL of the process that ran the pool: its workers stop within a poll or two, instead
    of waiting for chunks forever (and keeping the killed command's stdout open)."""
    script = tmp_path / "killed.py"
    script.write_text(
        "import os, signal, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        f"from test_rescore_pool_start import {source}, {job}, spec\n"
        "from riskscore.adapters.batch.runner import ChunkRunner\n"
        "if __name__ == '__main__':\n"
        f"    given = spec(Path({str(tmp_path)!r}), {method!r})\n"
        f"    run = ChunkRunner(given, {job}, workers={workers})\n"
        "    pids = set()\n"
        f"    for _, _, (_, pid) in run.run({source}(1000)):\n"
        "        pids |= {pid} - {os.getpid()}\n"
        "        if len(pids) == 2:\n"
        f"            Path({str(tmp_path / 'workers')!r}).write_text(' '.join(map(str, pids)))\n"
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    # Nothing read from its output: the workers hold it open while they live.
    done = subprocess.run([sys.executable, str(script)], stdout=subprocess.DEVNULL, timeout=120)
    assert done.returncode == -signal.SIGKILL
    workers = [int(pid) for pid in (tmp_path / "workers").read_text().split()]
    assert len(workers) == 2
    assert_gone(workers)


def slow_first_and_size(worker: Worker, start: int, rows: Payload) -> tuple[int, int]:
    """``first_and_size``, 0.2 s a chunk."""
    time.sleep(0.2)
    return start, len(rows)


def test_futures_are_handed_out_as_chunks_go_to_the_workers(tmp_path: Path) -> None:
    handed = ChunkRunner(spec(tmp_path, "fork"), slow_first_and_size, workers=2).futures(chunks(6))
    first = next(handed)
    assert not first[2].done(), "handed over while its chunk is still being scored"
    rest = list(handed)  # the source done: every chunk waited for, the pool shut down
    assert all(future.done() for _, _, future in rest)
    assert [future.result() for _, _, future in [first, *rest]] == [(3 * i, 0) for i in range(6)]


def test_futures_closed_early_drop_the_chunks_no_worker_started(tmp_path: Path) -> None:
    handed = ChunkRunner(spec(tmp_path, "fork"), slow_first_and_size, workers=2).futures(chunks(9))
    taken = [next(handed) for _ in range(6)]
    handed.close()
    futures = [future for _, _, future in taken]
    assert any(future.cancelled() for future in futures), "queued chunks are dropped"
    assert all(future.done() for future in futures), "running ones are waited for"


# -- stored vectors in a forked pool: forks.ForkedWorker -----------------------------------------
def slow_pid_of_stored_chunk(worker: Worker, start: int, rows: Payload) -> tuple[int, int]:
    time.sleep(0.05)
    return start, os.getpid()


def test_stored_vectors_closed_early_wait_for_what_was_sent_and_leave_no_worker(
    tmp_path: Path,
) -> None:
    handed = ChunkRunner(spec(tmp_path, "fork"), slow_pid_of_stored_chunk, workers=3).futures(
        stored_chunks(30)
    )
    taken = [next(handed) for _ in range(4)]
    workers = {future.result()[1] for _, _, future in taken} - {os.getpid()}
    assert len(workers) == 2
    handed.close()
    assert [future.result()[0] for _, _, future in taken] == [0, 2, 4, 6]
    for pid in workers:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left behind


def test_a_forked_pool_of_stored_vectors_that_cannot_start_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise BlockingIOError("no processes left")

    monkeypatch.setattr(runner.forks.os, "fork", no_fork)
    run = ChunkRunner(spec(tmp_path, "fork"), pid_of_stored_chunk, workers=3).run(stored_chunks(6))
    with pytest.raises(BlockingIOError, match="no processes left"):
        list(run)


def test_before_fork_runs_once_and_a_waiting_thread_it_starts_keeps_the_fork(
    tmp_path: Path,
) -> None:
    release = threading.Event()
    started: list[threading.Thread] = []
    children_then: list[str] = []
    children = Path(f"/proc/self/task/{threading.get_native_id()}/children")

    def before_fork() -> None:
        if children.exists():
            children_then.extend(children.read_text().split())
        thread = threading.Thread(target=release.wait, name="waits")
        thread.start()
        started.append(thread)

    try:
        handed = ChunkRunner(spec(tmp_path, "fork"), pid_of_stored_chunk, workers=2).futures(
            stored_chunks(6), before_fork=before_fork
        )
        results = [future.result() for _, _, future in handed]
    finally:
        release.set()
        for thread in started:
            thread.join()
    assert len(started) == 1
    assert [start for start, _ in results] == [2 * i for i in range(6)]
    workers = {str(pid) for _, pid in results} - {str(os.getpid())}
    assert len(workers) == 1
    assert not workers & set(children_then), "called before the workers were forked"
