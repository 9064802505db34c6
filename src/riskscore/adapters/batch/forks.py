"""Processes forked from this one that score the chunks they are sent: what a forked pool of stored
vectors runs on instead of a ``ProcessPoolExecutor``.

A chunk of stored vectors is milliseconds of work, so how a result comes back is a large part of a
short run. Through a ``ProcessPoolExecutor`` a 2,500-row chunk's 1.9 MB result crossed a 64 KB
pipe that the pool's thread in this process read a piece at a time, each piece waiting for the GIL
while this process scored its own share, and every task crossed two more of the pool's threads:
traced, a worker idled 4-5 ms after each chunk, and as long again before its first. Here:

- tasks go down a pipe of their own to each process (a few hundred bytes a chunk: a page of
  stored vectors to read), framed by their length;
- a result is written, pickled behind a small header, to a memory file (``memfd``) this process
  reads with ``pread``, and announced on an ``eventfd``. What the result gives out of band
  (pickle protocol 5: ``jobs.ChunkOutput``'s lines) is written beside the pickle as it is, and
  read back as the very ``bytes`` of its own ``pread``: no copy into or out of the pickle. A pipe's write wakes its reader with
  the hint that the writer is about to sleep, so Linux ran this process's waiting thread on the
  worker's core, in the worker's place (traced: 3.8 ms lost on a 17-byte write); an ``eventfd``
  gives no such hint. What was read is released at once (a hole punched in the file), so the
  file holds at most the results not yet collected;
- a result is collected when it is asked for (``Future.result``) by the thread asking (the run's
  committer), in the order sent: no thread of its own here;
- a process that ends without its result (killed, out of memory) is seen through its ``pidfd``:
  its chunk, and every one after it, fails with ``BrokenProcessPool``.

Linux only (``memfd_create``, ``eventfd``, ``pidfd_open``: Linux 5.3); ``supported()`` says whether
this system has them, else the runner uses a ``ProcessPoolExecutor``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pickle
import select
import struct
import sys
import threading
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

_LENGTH = struct.Struct("<Q")
"""A task's length, before it on the task pipe."""
_RESULT = struct.Struct("<?QI")
"""Before each result in the memory file: whether it is a value (else an exception), the length of
its pickle, how many out-of-band buffers follow the pickle (their lengths first, 8 bytes each)."""

_PROTOCOL = 5  # out-of-band buffers
_PUNCH_HOLE = 0x03  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@functools.cache
def supported() -> bool:
    """Whether this system can run ``ForkedWorker``: Linux with memfds, eventfds and pidfds."""
    if not all(hasattr(os, name) for name in ("fork", "memfd_create", "eventfd", "pidfd_open")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
        os.close(os.memfd_create("riskscore-probe", os.MFD_CLOEXEC))
    except OSError:
        return False
    return _fallocate() is not None


@functools.cache
def _fallocate() -> Any:
    try:
        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    fallocate.restype = ctypes.c_int
    return fallocate


class _Result(Future):  # type: ignore[type-arg]
    """A forked worker's result, read when first asked for."""

    def __init__(self, worker: ForkedWorker) -> None:
        super().__init__()
        self._worker = worker

    def result(self, timeout: float | None = None) -> Any:
        self._worker.collect(self)
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._worker.collect(self)
        return super().exception(timeout)


class ForkedWorker:
    """A process forked from this one, at once: it runs ``init()`` once, then ``work(*task)`` for
    every task ``send`` gives it, in order. ``send`` returns the future of that result.

    Fork only while this process runs no other thread but ones that only wait, holding no lock
    the child would use (a lock another thread holds would stay held in the child). The process
    ignores nothing on its own: the caller's ``init`` sets its signals. ``close`` stops it once
    what was sent is done; a worker whose caller is gone finds its task pipe closed and ends. ``others``: workers forked before this one, whose ends this one
    closes (else a worker would never see its task pipe closed while a sibling holds it)."""

    def __init__(
        self,
        init: Callable[[], None],
        work: Callable[..., Any],
        *,
        others: Iterable[ForkedWorker] = (),
    ) -> None:
        tasks_read, self._tasks = os.pipe()
        self._announced = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_SEMAPHORE)
        self._results = os.memfd_create("riskscore-rescore-results", os.MFD_CLOEXEC)
        for stream in (sys.stdout, sys.stderr):  # else the child writes what is buffered again
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns on any fork of a process with threads; the caller forks only
                # beside threads that wait, holding no lock the child would use (see above).
                warnings.filterwarnings(
                    "ignore", message=".*multi-threaded.*fork", category=DeprecationWarning
                )
                pid = os.fork()
        except OSError:
            for fd in (tasks_read, self._tasks, self._announced, self._results):
                os.close(fd)
            raise
        if pid == 0:
            code = 1
            try:
                os.close(self._tasks)
                for other in others:
                    other._close_ends()
                _serve(init, work, tasks_read, self._announced, self._results)
                code = 0
            finally:
                os._exit(code)
        os.close(tasks_read)
        self.pid = pid
        self._ended = os.pidfd_open(pid)
        self._sent: deque[_Result] = deque()  # not yet collected, in the order sent
        self._collecting = threading.Lock()
        self._read_at = self._released = 0
        self._stopped = self._closed = False

    def send(self, *task: Any) -> Future[Any]:
        """Hand the worker ``task``; its result, when asked for, once the tasks before it's are."""
        future = _Result(self)
        body = pickle.dumps(task, _PROTOCOL)
        self._sent.append(future)
        with contextlib.suppress(BrokenPipeError):  # the process has ended: collecting says so
            _write_all(self._tasks, _LENGTH.pack(len(body)) + body)
        return future

    def collect(self, until: Future[Any]) -> None:
        """Read results, in the order sent, until ``until`` has its own."""
        with self._collecting:
            while not until.done() and self._sent:
                future = self._sent.popleft()
                if not self._wait_for_result():
                    future.set_exception(
                        BrokenProcessPool(
                            f"a rescoring worker (process {self.pid}) ended before it finished "
                            "a chunk"
                        )
                    )
                    continue
                is_value, value = self._read_result()
                if is_value:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _read_result(self) -> tuple[bool, Any]:
        """The next result in the memory file (whether it is a value, and it), then released."""
        at = self._read_at
        is_value, length, count = _RESULT.unpack(os.pread(self._results, _RESULT.size, at))
        at += _RESULT.size
        sizes = struct.unpack(f"<{count}Q", os.pread(self._results, 8 * count, at))
        at += 8 * count
        data = os.pread(self._results, length, at)
        at += length
        buffers = []
        for size in sizes:
            buffers.append(os.pread(self._results, size, at))
            at += size
        self._read_at = at
        # From the page the last hole ended in: only whole pages are let go.
        _fallocate()(self._results, _PUNCH_HOLE, self._released, at - self._released)
        self._released = at - at % _PAGE
        return is_value, pickle.loads(data, buffers=buffers)  # noqa: S301 - from its own fork

    def _wait_for_result(self) -> bool:
        """Wait for the next result to be announced: False if the process ended first."""
        poller = select.poll()
        poller.register(self._announced, select.POLLIN)
        poller.register(self._ended, select.POLLIN)
        ready = {fd for fd, _ in poller.poll()}
        if self._announced in ready:
            os.eventfd_read(self._announced)
            return True
        return False

    def stop(self) -> None:
        """Send nothing more: the process ends once what was sent is done."""
        if not self._stopped:
            self._stopped = True
            os.close(self._tasks)

    def close(self) -> None:
        """``stop``, collect what was sent, and reap the process."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        try:
            for future in list(self._sent):
                self.collect(future)
        finally:
            os.waitpid(self.pid, 0)
            for fd in (self._announced, self._results, self._ended):
                os.close(fd)

    def _close_ends(self) -> None:
        """In a sibling forked later: this worker's ends are not its own."""
        for fd in (self._tasks, self._announced, self._results, self._ended):
            with contextlib.suppress(OSError):
                os.close(fd)


def _serve(
    init: Callable[[], None], work: Callable[..., Any], tasks: int, announced: int, results: int
) -> None:
    """The forked process: each task's result (or exception) appended to the memory file and
    announced, until the task pipe closes. A failing ``init`` fails every task with its error."""
    failed: bytes | None = None
    try:
        init()
    except Exception as exc:
        failed = _pickled(exc)
    while (head := _read_exact(tasks, _LENGTH.size)) is not None:
        body = _read_exact(tasks, _LENGTH.unpack(head)[0])
        if body is None:
            return
        buffers: list[memoryview] = []
        if failed is not None:
            data, is_value = failed, False
        else:
            try:
                data, buffers = _pickled_value(work(*pickle.loads(body)))  # noqa: S301
                is_value = True
            except Exception as exc:
                data, buffers, is_value = _pickled(exc), [], False
        parts: list[memoryview] = [
            memoryview(_RESULT.pack(is_value, len(data), len(buffers))),
            memoryview(struct.pack(f"<{len(buffers)}Q", *(buffer.nbytes for buffer in buffers))),
            memoryview(data),
            *buffers,
        ]
        written = os.writev(results, parts)  # this process is the file's only writer
        if written < sum(part.nbytes for part in parts):
            _write_all(results, b"".join(parts)[written:])
        os.eventfd_write(announced, 1)


def _pickled_value(value: Any) -> tuple[bytes, list[memoryview]]:
    """``value`` pickled, and the buffers it gives out of band (``pickle.PickleBuffer``s, as
    ``jobs.ChunkOutput`` gives its lines), to write after the pickle as they are."""
    buffers: list[memoryview] = []
    data = pickle.dumps(
        value, _PROTOCOL, buffer_callback=lambda buffer: buffers.append(buffer.raw())
    )
    return data, buffers


def _pickled(exc: BaseException) -> bytes:
    """The exception, pickled, with its traceback in this process as a note; a ``RuntimeError``
    naming it if it does not pickle."""
    exc.add_note("".join(traceback.format_exception(exc)).rstrip())
    try:
        return pickle.dumps(exc, _PROTOCOL)
    except Exception:
        return pickle.dumps(RuntimeError(f"{type(exc).__qualname__}: {exc}"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, size: int) -> bytes | None:
    """``size`` bytes, or None at the end of the pipe."""
    parts: list[bytes] = []
    while size:
        part = os.read(fd, size)
        if not part:
            return None
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
