"""``forks.ForkedWorker``: processes forked from this one that score what they are sent, results
read back from a memory file, in the order sent, by whichever thread asks first."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from riskscore.adapters.batch import forks
from riskscore.adapters.batch.jobs import ChunkOutput

pytestmark = pytest.mark.skipif(not forks.supported(), reason="needs memfds, eventfds and pidfds")


def no_init() -> None:
    pass


def echo(value: object) -> tuple[int, object]:
    """A task: the process that ran it, and what it was sent."""
    return os.getpid(), value


def refuse_three(value: int) -> int:
    if value == 3:
        raise LookupError(f"no {value} here")
    return value * 10


def big(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_results_come_back_in_the_order_sent_from_another_process() -> None:
    worker = forks.ForkedWorker(no_init, echo)
    futures = [worker.send(value) for value in ["a", 2, None, ("t", 1.5)]]
    assert [future.result() for future in futures] == [
        (worker.pid, "a"),
        (worker.pid, 2),
        (worker.pid, None),
        (worker.pid, ("t", 1.5)),
    ]
    assert worker.pid != os.getpid()
    worker.close()
    assert reaped(worker.pid)


def test_asking_for_a_later_result_reads_the_ones_before_it() -> None:
    worker = forks.ForkedWorker(no_init, echo)
    first, second = worker.send(1), worker.send(2)
    assert second.result() == (worker.pid, 2)
    assert first.done(), "read on the way"
    assert first.result() == (worker.pid, 1)
    worker.close()


def test_a_failing_task_fails_its_own_future_with_its_error_and_the_next_go_on() -> None:
    worker = forks.ForkedWorker(no_init, refuse_three)
    futures = [worker.send(value) for value in range(1, 6)]
    assert [future.result() for future in futures[:2]] == [10, 20]
    with pytest.raises(LookupError, match="no 3 here") as raised:
        futures[2].result()
    assert any("refuse_three" in note for note in raised.value.__notes__), "the worker's traceback"
    assert [future.result() for future in futures[3:]] == [40, 50]
    worker.close()


def fails_to_start() -> None:
    raise PermissionError("the model cannot be loaded")


def test_a_worker_that_cannot_start_fails_every_task_with_the_reason() -> None:
    worker = forks.ForkedWorker(fails_to_start, echo)
    futures = [worker.send(value) for value in range(3)]
    for future in futures:
        with pytest.raises(PermissionError, match="the model cannot be loaded"):
            future.result()
    worker.close()


def test_a_worker_killed_mid_run_fails_what_it_had_not_finished() -> None:
    worker = forks.ForkedWorker(no_init, echo)
    assert worker.send("before").result() == (worker.pid, "before")
    os.kill(worker.pid, signal.SIGKILL)
    later = [worker.send(value) for value in range(3)]
    for future in later:
        with pytest.raises(BrokenProcessPool, match=f"process {worker.pid}"):
            future.result()
    worker.close()
    assert reaped(worker.pid)


def test_what_was_read_is_released_from_the_memory_file() -> None:
    worker = forks.ForkedWorker(no_init, big)
    for _ in range(4):
        assert len(worker.send(1 << 20).result()) == 1 << 20
    assert os.fstat(worker._results).st_size > 4 << 20, "written one after another"
    assert os.fstat(worker._results).st_blocks * 512 <= 4096, "nothing kept once read but a page"
    worker.close()


def test_a_result_asked_for_on_another_thread_while_more_are_sent() -> None:
    worker = forks.ForkedWorker(no_init, echo)
    got: list[object] = []
    first = worker.send(0)
    reader = threading.Thread(target=lambda: got.append(first.result()))
    reader.start()
    rest = [worker.send(value) for value in range(1, 50)]
    reader.join(timeout=30)
    assert got == [(worker.pid, 0)]
    assert [future.result()[1] for future in rest] == list(range(1, 50))
    worker.close()


def test_closing_waits_for_what_was_sent_and_leaves_no_process_nor_descriptor() -> None:
    before = fd_count()
    worker = forks.ForkedWorker(no_init, refuse_three)
    futures = [worker.send(value) for value in (1, 2)]
    worker.close()
    assert all(future.done() for future in futures), "collected before the file was closed"
    assert [future.result() for future in futures] == [10, 20]
    assert reaped(worker.pid)
    assert fd_count() == before


def test_siblings_do_not_keep_each_other_alive(tmp_path: Path) -> None:
    # A worker forked after another holds copies of that one's ends unless it closes them: then
    # the first never sees its task pipe closed and closing it waits forever. In a subprocess,
    # so that a hang fails the test instead of the suite.
    script = tmp_path / "siblings.py"
    script.write_text(
        "import os\n"
        "from riskscore.adapters.batch import forks\n"
        "def no_init():\n"
        "    pass\n"
        "def echo(value):\n"
        "    return os.getpid(), value\n"
        "workers = []\n"
        "for _ in range(3):\n"
        "    workers.append(forks.ForkedWorker(no_init, echo, others=workers))\n"
        "results = [worker.send(i).result() for i, worker in enumerate(workers)]\n"
        "assert [value for _, value in results] == [0, 1, 2]\n"
        "assert len({pid for pid, _ in results}) == 3\n"
        "for worker in workers:\n"
        "    worker.close()\n"
        "print('closed')\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "closed"
    assert time.monotonic() - started < 30


def test_a_fork_that_fails_leaves_no_descriptor(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError("no processes left")

    before = fd_count()
    monkeypatch.setattr(forks.os, "fork", no_fork)
    with pytest.raises(BlockingIOError, match="no processes left"):
        forks.ForkedWorker(no_init, echo)
    assert fd_count() == before


def chunk_output(size: int) -> ChunkOutput:
    return ChunkOutput(
        lines=big(size), rows=size // 256, failures=1, last_policy_number="P-9", records=b"\x90"
    )


def test_a_chunks_lines_come_back_beside_the_pickle_as_bytes() -> None:
    worker = forks.ForkedWorker(no_init, chunk_output)
    results = [worker.send(size).result() for size in (1 << 20, 256, 3 << 20)]
    assert results == [chunk_output(size) for size in (1 << 20, 256, 3 << 20)]
    assert all(type(result.lines) is bytes for result in results)
    worker.close()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_chunk_output_pickles_in_band_with_any_protocol(protocol: int) -> None:
    assert pickle.loads(pickle.dumps(chunk_output(4096), protocol)) == chunk_output(4096)


def test_chunk_output_gives_its_lines_out_of_band_and_takes_them_back_without_a_copy() -> None:
    out = chunk_output(1 << 16)
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(out, 5, buffer_callback=buffers.append)
    assert len(data) < 1024, "the lines are not in the pickle"
    assert [buffer.raw().tobytes() for buffer in buffers] == [out.lines]
    read_back = [buffer.raw().tobytes() for buffer in buffers]
    back = pickle.loads(data, buffers=read_back)
    assert back == out
    assert back.lines is read_back[0]
