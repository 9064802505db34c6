"""Running ``RescorePolicies`` over a stream of inputs: chunks, a process pool, input order kept.

- The input is cut into chunks of ``batch_size`` rows, each tagged with the index of its first row,
  so whatever order workers finish in, chunk results are handed back in input order.
- ``workers == 1`` runs in this process. Otherwise a ``ProcessPoolExecutor`` runs the chunks. Its
  workers are forked while this process runs no other thread (the CLI, a plain script: a few
  milliseconds, the model and the imports inherited), else started from the ``forkserver`` (a clean,
  preloaded process: never a fork of a caller whose threads may hold locks). Each worker builds its
  parser and use case once and receives the loaded model(s) once, in its initializer, so a registry
  is read once per run whatever the number of workers.
- At most ``2 * workers`` chunks are in flight: memory stays bounded by a few chunks whatever the
  input size, and the reader never runs far ahead of the writer.
- Rows cross the process boundary as plain tuples (stored feature values packed as float64 bytes),
  which pickle several times faster than structs; results come back as whatever the job returns
  (bytes in practice: encoded output lines or msgpack). A chunk of a dataset directory crosses as
  file references (``EvidenceFiles``): the worker reads the XML itself. A chunk of a JSON Lines
  file crosses as a ``JsonlSpan`` (its bytes' place in the file): the worker reads and decodes
  it, and the parent only finds where lines end. A chunk of stored vectors
  crosses as a ``FeaturePage`` when the store plans pages (the worker reads it: the parent neither
  reads nor ships the vectors), else as the ``FeatureBatch`` the parent read (a matrix pickles as one
  buffer, but reading and pickling 10,000 rows costs the parent about 60 ms: measured, that makes
  a pool slower than one process).
- Stored vectors in a forked pool: this process is one of the ``workers`` (``workers - 1`` are
  forked) and scores every ``workers``-th chunk itself: a chunk of them is milliseconds of work,
  and a worker per core beside a parent that commits had more processes than cores. The forked
  ones are ``forks.ForkedWorker``s, not a ``ProcessPoolExecutor``: results come back through a
  memory file, with no pool threads in this process to wait for the GIL (``forks.py``).
- A run of a single chunk stays in this process whatever ``workers`` says: starting processes would
  cost more than they save. While a forkserver pool's first worker is still starting (about half a
  second: a new interpreter imports numpy, lxml and unpickles the model) chunks are scored in this
  process. Those workers are started from a thread: starting one blocks until the forkserver has
  imported everything (0.5 to 0.8 s measured), time this process now spends scoring.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import itertools
import multiprocessing
import os
import signal
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from riskscore.adapters.batch import forks
from riskscore.adapters.batch.sources import (
    BatchedSource,
    DeferredSource,
    EvidenceFiles,
    JsonlSource,
    JsonlSpan,
    Pending,
    SourceError,
    resolve,
)
from riskscore.adapters.parent_watch import watch_parent
from riskscore.domain.evidence import PolicyEvidence
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import RiskClassThresholds
from riskscore.domain.usecases.rescore import (
    RescoreInput,
    RescorePolicies,
    StoredVector,
    UnreadableRow,
)
from riskscore.domain.usecases.score_policy import ScoreRequest
from riskscore.ports.evidence_parser import EvidenceParser
from riskscore.ports.feature_store import FeatureBatch, FeaturePage, FeatureStoreError
from riskscore.ports.model_registry import ScoringModel
from riskscore.settings import Settings

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Batches:
    """Stored vectors of consecutive rows, column-wise: one batch per run of one vector length."""

    batches: tuple[FeatureBatch, ...]

    def __len__(self) -> int:
        return sum(len(batch) for batch in self.batches)


Payload = list[RescoreInput] | Batches
"""What a job scores: rows, or stored vectors column-wise."""
Shipped = list[Pending] | FeatureBatch | FeaturePage | JsonlSpan
Chunk = tuple[int, Shipped]
"""``(index of the first row, rows, a batch, or a page or span of lines to read)`` on its way to a
job."""
Packed = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a worker needs, picklable: settings, the loaded model(s), the run's parameters."""

    settings: Settings
    models: tuple[ScoringModel, ...]
    batch_run_id: str
    run_started_at: dt.datetime
    thresholds: RiskClassThresholds
    explain: int = 3
    as_of: dt.date | None = None


class Worker:
    """One process's parser and use case, built once from a ``RunSpec``.

    Built without the composition root on purpose: a forkserver or spawned worker would import
    dependency-injector and every adapter module for three objects. The pieces are the
    container's: the parser with the settings' limits, the thresholds the parent resolved, the
    system clock. The parser and the feature extraction are imported when first used: a run of
    stored vectors uses neither, and importing them (lxml, the feature tables) cost 25 ms, an
    eighth of a 10,000-row run.
    """

    def __init__(self, spec: RunSpec) -> None:
        from riskscore.adapters.system_clock import SystemClock

        settings = spec.settings
        self.models = spec.models
        self.batch_run_id = spec.batch_run_id
        self.policies = RescorePolicies(
            parser=_ParserOnFirstUse(settings.max_xml_bytes, settings.max_xml_depth),
            extract=_extract_features,
            model=spec.models[0],
            clock=SystemClock(),
            thresholds=spec.thresholds,
            explain=spec.explain,
            as_of=spec.as_of,
            batch_run_id=spec.batch_run_id,
            run_started_at=spec.run_started_at,
        )


class _ParserOnFirstUse(EvidenceParser):
    """``LxmlEvidenceParser`` with these limits, built (and lxml imported) on the first parse."""

    def __init__(self, max_bytes: int, max_depth: int) -> None:
        self._limits = (max_bytes, max_depth)
        self._parser: EvidenceParser | None = None

    def parse(
        self, policy_number: str, mib_xml: str | bytes, rx_xml: str | bytes
    ) -> PolicyEvidence:
        if self._parser is None:
            from riskscore.adapters.lxml import LxmlEvidenceParser

            max_bytes, max_depth = self._limits
            self._parser = LxmlEvidenceParser(max_bytes=max_bytes, max_depth=max_depth)
        return self._parser.parse(policy_number, mib_xml, rx_xml)


def _extract_features(evidence: PolicyEvidence, as_of: dt.date) -> FeatureVector:
    """``extract_features``, imported on the first call."""
    from riskscore.domain.features.extract import extract_features

    return extract_features(evidence, as_of)


Job = Callable[[Worker, int, Payload], R]
"""What is done with one chunk in a worker: ``job(worker, start, rows)``; must be picklable."""


FEATURE_CHUNK_ROWS = 10_000
"""Fewest rows per chunk of stored vectors read column-wise. Reading, scoring and writing one costs
about 12 us of CPU (``docs/rescoring.md``) and committing a chunk (append, sidecar, fsyncs) about
1.5 ms: 1,000-row chunks would spend an eighth of a run committing."""

FORKED_CHUNK_ROWS = 2_500
"""The same for a pool of forked workers. Commits run on a thread of their own, so one per 2,500
rows costs the run little, while a 10,000-row run becomes four chunks shared between the worker
and the parent instead of one for the parent alone, and a worker's result is a quarter of the
bytes. Measured (``bench.rescore``, 2 workers, alternated): 10,000 rows 74-79k/s -> 83-107k/s,
200,000 rows 140-147k/s -> 159-161k/s (before the parent took its share); 1,250, 5,000 and 10,000
rows measured level with 2,500 since. A forkserver pool keeps ``FEATURE_CHUNK_ROWS``: while its
workers start (half a second) the parent scores the chunks itself."""


def feature_chunk_rows(batch_size: int, *, forked: bool = False) -> int:
    """Rows per chunk of a column-wise source: ``batch_size``, at least ``FEATURE_CHUNK_ROWS``
    (``FORKED_CHUNK_ROWS`` for a pool of forked workers)."""
    return max(batch_size, FORKED_CHUNK_ROWS if forked else FEATURE_CHUNK_ROWS)


def source_rows(source: Iterable[RescoreInput] | DeferredSource) -> Iterator[Pending]:
    """A source's rows, as references to read in the workers when the source can give them."""
    if isinstance(source, DeferredSource):
        return iter(source.references())
    return iter(source)


def evidence_chunks(
    source: Iterable[RescoreInput] | DeferredSource, batch_size: int
) -> Iterator[Chunk]:
    """A row-wise source's chunks: spans of lines the workers read for JSON Lines, else rows."""
    if isinstance(source, JsonlSource):
        return page_chunks(source.spans(batch_size))
    return chunks(source_rows(source), batch_size)


def batch_chunks(batches: Iterable[FeatureBatch], *, start: int = 0) -> Iterator[Chunk]:
    """``(index of the first row, batch)`` of every non-empty batch."""
    index = start
    for batch in batches:
        if len(batch):
            yield index, batch
            index += len(batch)


def page_chunks(pages: Iterable[FeaturePage | JsonlSpan], *, start: int = 0) -> Iterator[Chunk]:
    """``(index of the first row, page)`` of every page of stored vectors or span of lines."""
    index = start
    for page in pages:
        yield index, page
        index += page.rows


def stored_chunks(source: BatchedSource, rows: int) -> Iterator[Chunk]:
    """A column-wise source's chunks of ``rows`` rows (``feature_chunk_rows``): pages the workers
    read if it has them, else its batches."""
    pages = source.pages(rows)
    return page_chunks(pages) if pages is not None else batch_chunks(source.batches(rows))


def _size(shipped: Shipped) -> int:
    return len(shipped) if isinstance(shipped, list | FeatureBatch) else shipped.rows


def chunks(rows: Iterable[Pending], batch_size: int, *, start: int = 0) -> Iterator[Chunk]:
    """``(index of the first row, rows)`` of at most ``batch_size`` rows."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    iterator = iter(rows)
    index = start
    while chunk := list(itertools.islice(iterator, batch_size)):
        yield index, chunk
        index += len(chunk)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


class ChunkRunner(Generic[R]):
    """Runs ``job`` over chunks in order, in this process or in a pool of ``workers`` processes."""

    def __init__(self, spec: RunSpec, job: Job[R], *, workers: int | None = None) -> None:
        self.spec = spec
        self.job = job
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        self._local: Worker | None = None
        # Whether a pool would fork, as of now: only sizes chunks (``feature_rows``); the pool
        # decides again when it starts.
        self.forks = self.workers > 1 and self._context().get_start_method() == "fork"

    def _context(self) -> multiprocessing.context.BaseContext:
        return start_context(self.spec.settings.rescore_start)

    def feature_rows(self, batch_size: int) -> int:
        """Rows per chunk of stored vectors for this runner (``feature_chunk_rows``)."""
        return feature_chunk_rows(batch_size, forked=self.forks)

    def run(self, source: Iterable[Chunk]) -> Iterator[tuple[int, int, R]]:
        """``(start, rows in chunk, job result)`` per chunk, in input order; at most
        ``2 * workers`` chunks in flight."""
        pending: deque[tuple[int, int, Future[R]]] = deque()
        chunks = self.futures(source)
        try:
            for item in chunks:
                pending.append(item)
                while len(pending) >= 2 * self.workers or (pending and pending[0][2].done()):
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
        finally:
            chunks.close()

    def futures(
        self, source: Iterable[Chunk], *, before_fork: Callable[[], None] | None = None
    ) -> Generator[tuple[int, int, Future[R]], None, None]:
        """``(start, rows in chunk, future of the job's result)`` per chunk, in input order, each
        as soon as its chunk is handed to a worker (or scored here). The next chunk is read and
        handed out when the next future is asked for: how far ahead of the results that runs is
        the caller's to bound (``run`` keeps ``2 * workers`` in flight). Once the source is done
        this waits for every chunk, then shuts the pool down; closed early, it drops the chunks
        no worker has started and waits for the others. ``before_fork`` is called once, before
        workers of stored vectors are forked by hand (``_shared_with_forks``): it may start a
        thread that only waits (a thread started while the workers run was not scheduled for
        0.8-3.6 ms, time this thread spent waiting in ``Thread.start``)."""
        iterator = iter(source)
        first = list(itertools.islice(iterator, 2))
        if self.workers == 1 or len(first) < 2:
            yield from self._in_process(itertools.chain(first, iterator))
        else:
            stored = not isinstance(first[0][1], list | JsonlSpan)  # a batch, or a page to read
            yield from self._in_pool(
                itertools.chain(first, iterator), parent_scores=stored, before_fork=before_fork
            )

    def _here(self, start: int, rows: Shipped) -> R:
        if self._local is None:
            self._local = Worker(self.spec)
        return self.job(self._local, start, read_shipped(rows))

    def _scored_here(self, start: int, rows: Shipped) -> Future[R]:
        """The chunk scored in this process, as a pool would give it: a failure is raised when
        its turn comes, after the chunks before it (which the caller may have committed)."""
        done: Future[R] = Future()
        try:
            done.set_result(self._here(start, rows))
        except Exception as exc:
            done.set_exception(exc)
        return done

    def _in_process(self, source: Iterator[Chunk]) -> Iterator[tuple[int, int, Future[R]]]:
        for start, rows in source:
            yield start, _size(rows), self._scored_here(start, rows)

    def _in_pool(
        self,
        source: Iterator[Chunk],
        *,
        parent_scores: bool = False,
        before_fork: Callable[[], None] | None = None,
    ) -> Iterator[tuple[int, int, Future[R]]]:
        handed: deque[Future[R]] = deque()  # to the pool, not yet done
        context = self._context()
        forked = context.get_start_method() == "fork"
        if parent_scores and forked and forks.supported():
            yield from self._shared_with_forks(source, before_fork)
            return
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.spec, self.job, os.getpid()),
        )
        started: list[Future[None]] = []
        failed: list[BaseException] = []
        spawner: threading.Thread | None = None
        unfreeze = False
        if forked:
            # A fork is a few milliseconds and inherits the loaded model: the first chunk handed
            # out forks every worker at once (ProcessPoolExecutor forks all of them on its first
            # task, from this thread, before it starts threads of its own; multiprocessing
            # flushes stdout and stderr first), and the first worker finds it waiting. An empty
            # task per worker first, to know each was up, delayed that chunk by 3-5 ms: every
            # task crosses two threads of the pool in this process, which wait for the GIL while
            # this one reads its own page.
            # What this process holds is frozen first, so the workers' collections never walk it
            # (nor copy its pages by touching it): parsing makes garbage enough to collect often.
            # (9 % less CPU per application from XML, measured.) It stays frozen until the pool is
            # shut down, so this process's own collections do not copy it either (measured when
            # this pool also had this process score stored vectors, now ``_shared_with_forks``:
            # 200,000 of them 207k -> 224k/s, medians of 5 alternated runs; 10,000 and JSON Lines
            # level), then is unfrozen, unless the caller had frozen objects itself: then what it
            # froze stays frozen.
            unfreeze = not gc.get_freeze_count()
            gc.freeze()
        else:
            # Starting a worker blocks until the forkserver has imported numpy, lxml and riskscore
            # (0.5 to 0.8 s): a thread waits for that while this one scores the first chunks.
            spawner = threading.Thread(
                target=_spawn, args=(pool, self.workers, started, failed), name="rescore-pool-start"
            )
            spawner.start()
        try:
            for start, rows in source:
                if failed:
                    raise failed[0]
                if spawner is not None and (
                    spawner.is_alive() or not any(future.done() for future in started)
                ):
                    # No worker is up yet (a new interpreter importing numpy, lxml and the model
                    # takes about half a second): score this chunk here meanwhile. Nor is a chunk
                    # submitted while workers are still being started: submitting waits for the
                    # pool's lock, which a start holds until its worker has read its arguments.
                    yield start, _size(rows), self._scored_here(start, rows)
                    continue
                shipped = pack(rows) if isinstance(rows, list) else rows
                future = pool.submit(_run_chunk, start, shipped)
                handed.append(future)
                while handed and handed[0].done():
                    handed.popleft()
                yield start, _size(rows), future
            wait(handed)
            if spawner is not None:
                spawner.join()
            if failed:  # every chunk was scored here, but a pool that cannot start is a fault
                raise failed[0]
        finally:
            if spawner is not None:
                spawner.join()
            # On an interruption (KeyboardInterrupt, a consumer that stops) drop queued chunks.
            pool.shutdown(wait=True, cancel_futures=True)
            if unfreeze:
                gc.unfreeze()

    def _shared_with_forks(
        self, source: Iterator[Chunk], before_fork: Callable[[], None] | None = None
    ) -> Generator[tuple[int, int, Future[R]], None, None]:
        """Stored vectors in a forked pool: ``workers - 1`` processes forked from this one
        (``forks.ForkedWorker``), and this process, which scores every ``workers``-th chunk
        itself, between handing chunks out and committing. Chunks go round: every worker gets the
        same share, a chunk of stored vectors being as much work as the next.

        A chunk of them is milliseconds of work, so a process per core plus this one, which
        commits (writes, fsyncs) and moved every result through the pool's pipe, had three
        processes taking turns on two cores. Measured (bench.rescore, 2 workers, alternated;
        medians of 6 and 3): 10,000 rows 122k -> 144k/s, 200,000 rows 195k -> 212k/s. Not for
        evidence: a chunk of XML is 0.2 s of parsing, and this process committing 200 of them per
        200,000 applications is better left to run beside the workers (JSON Lines 11.0k ->
        10.6k/s). This process takes the last chunk of each round, and the workers' chunks of the
        next round are sent before it starts on its own: a worker done with this round starts on
        the next at once (taking the first chunk, before chunks were sent ahead, left the worker
        idle while this process scored it: 10,000 rows 113k -> 85k/s; with them sent ahead,
        186k against 182k for the first).

        Closed early (an interruption), this sends nothing more and waits for the chunks already
        sent, milliseconds each."""
        # What this process holds is frozen first, so the workers' collections never walk it (nor
        # copy its pages by touching it); as in ``_in_pool``.
        unfreeze = not gc.get_freeze_count()
        gc.freeze()
        workers: list[forks.ForkedWorker] = []
        try:
            if before_fork is not None:
                before_fork()
            init = functools.partial(_init_worker, self.spec, self.job, os.getpid())
            for _ in range(self.workers - 1):
                workers.append(forks.ForkedWorker(init, _run_chunk, others=workers))
            rounds = iter(lambda: list(itertools.islice(source, self.workers)), [])
            current = next(rounds, [])
            sent = [worker.send(*chunk) for worker, chunk in zip(workers, current, strict=False)]
            while current:
                # The next round's chunks go out before this process scores its own chunk of this
                # one: a worker done with this round's starts on the next at once.
                following = next(rounds, [])
                sent_next = [
                    worker.send(*chunk) for worker, chunk in zip(workers, following, strict=False)
                ]
                for (start, rows), future in zip(current, sent, strict=False):
                    yield start, _size(rows), future
                if len(current) > len(workers):
                    start, rows = current[-1]
                    yield start, _size(rows), self._scored_here(start, rows)
                current, sent = following, sent_next
        finally:
            try:
                for worker in workers:
                    worker.stop()
                for worker in workers:
                    worker.close()
            finally:
                if unfreeze:
                    gc.unfreeze()


def _spawn(
    pool: ProcessPoolExecutor,
    workers: int,
    started: list[Future[None]],
    failed: list[BaseException],
) -> None:
    """Start ``workers`` processes; ``started`` gets a future per worker, done once it is up.
    Runs in a thread: what goes wrong goes to ``failed``, which the scoring thread raises."""
    try:
        started.extend(pool.submit(_started) for _ in range(workers))
    except BaseException as exc:
        failed.append(exc)


def _result(item: tuple[int, int, Future[R]]) -> tuple[int, int, R]:
    start, size, future = item
    return start, size, future.result()


def start_context(preference: str = "auto") -> multiprocessing.context.BaseContext:
    """``fork`` on Linux when this process runs no other thread, else ``forkserver`` or ``spawn``.

    A fork starts a worker in milliseconds with the parent's model and imports already in memory;
    a forkserver worker is a new interpreter that imports numpy, lxml and riskscore and unpickles
    the model (0.5 to 0.8 s, and about 0.4 s of CPU per run). Forking is only safe while no other
    thread can hold a lock the child would inherit taken (a caller's server thread, a logging
    handler mid-write), so any other live thread means ``forkserver``; so does any system but
    Linux (macOS's system libraries are not safe in a forked child; Python stopped forking there).
    A ``preference`` other than ``auto`` (``RISKSCORE_RESCORE_START``: ``fork``, ``forkserver``,
    ``spawn``) overrides the choice.
    """
    methods = multiprocessing.get_all_start_methods()
    if preference != "auto":
        if preference not in methods:
            raise ValueError(
                f"RISKSCORE_RESCORE_START={preference!r}: this platform has {', '.join(methods)}"
            )
        return _configured(multiprocessing.get_context(preference))
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        return _configured(multiprocessing.get_context("forkserver"))
    return multiprocessing.get_context("spawn")


def _configured(
    context: multiprocessing.context.BaseContext,
) -> multiprocessing.context.BaseContext:
    if isinstance(context, multiprocessing.context.ForkServerContext):
        context.set_forkserver_preload([__name__, "riskscore.adapters.lxml"])
    return context


# -- worker process side -------------------------------------------------------------------------
_worker: Worker | None = None
_job: Job[Any] | None = None


def _init_worker(spec: RunSpec, job: Job[Any], run_pid: int) -> None:
    global _worker, _job
    # Ctrl-C reaches the whole process group: only the parent handles it (it stops handing out
    # chunks and waits for the running ones), so workers ignore it instead of dying mid-chunk.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the caller's handler
    # A run killed outright (SIGKILL) cannot stop its workers, and they waited for their next
    # chunk forever: a forked worker holds a copy of the queue's writing end, so it never reads an
    # end of input; a forkserver's keeps the server alive, and the server it. Alive, they kept
    # the killed command's stdout and stderr open, so whatever waited for its output waited too.
    # SIGTERM (its default action: the end) once the run's process is gone.
    watch_parent(run_pid)
    _worker = Worker(spec)
    _job = job


def _started() -> None:
    """A first task per worker: when one is done, a worker is up."""


def _run_chunk(start: int, shipped: list[Packed] | FeatureBatch | FeaturePage | JsonlSpan) -> Any:
    assert _worker is not None, "worker not initialised"
    assert _job is not None, "worker not initialised"
    return _job(
        _worker, start, read_shipped(unpack(shipped) if isinstance(shipped, list) else shipped)
    )


def read_shipped(shipped: Shipped) -> Payload:
    """What the job scores, read here (in the worker): evidence files, a page of stored vectors,
    a span of JSON lines."""
    if isinstance(shipped, list):
        return resolve(shipped)
    if isinstance(shipped, FeatureBatch):
        return Batches((shipped,))
    if isinstance(shipped, JsonlSpan):
        return shipped.read()
    try:
        return Batches(tuple(shipped.read()))
    except FeatureStoreError as exc:
        raise SourceError(f"feature store: {exc}") from exc


# -- rows across the process boundary ------------------------------------------------------------
_FLOATS: dict[int, struct.Struct] = {}


def _floats(count: int) -> struct.Struct:
    packer = _FLOATS.get(count)
    if packer is None:
        packer = _FLOATS[count] = struct.Struct(f"<{count}d")
    return packer


def pack(rows: list[Pending]) -> list[Packed]:
    """Rows as tuples of builtins (feature values as float64 bytes) for a cheap pickle."""
    out: list[Packed] = []
    for row in rows:
        if isinstance(row, EvidenceFiles):
            out.append((3, row.policy_number, row.as_of, row.mib_path, row.rx_path))
        elif isinstance(row, ScoreRequest):
            out.append((0, row.policy_number, row.mib_xml, row.rx_xml, row.as_of, row.source))
        elif isinstance(row, StoredVector):
            values = row.vector.values
            out.append(
                (
                    1,
                    row.policy_number,
                    row.vector.schema_version,
                    _floats(len(values)).pack(*values),
                    row.as_of,
                    row.prediction_id,
                )
            )
        else:
            out.append((2, row.policy_number, row.type, row.title, row.detail, row.document))
    return out


def unpack(packed: list[Packed]) -> list[Pending]:
    rows: list[Pending] = []
    for item in packed:
        kind = item[0]
        if kind == 3:
            _, policy, as_of, mib_path, rx_path = item
            rows.append(
                EvidenceFiles(policy_number=policy, as_of=as_of, mib_path=mib_path, rx_path=rx_path)
            )
        elif kind == 0:
            _, policy, mib, rx, as_of, source = item
            rows.append(
                ScoreRequest(
                    policy_number=policy, mib_xml=mib, rx_xml=rx, as_of=as_of, source=source
                )
            )
        elif kind == 1:
            _, policy, schema_version, blob, as_of, prediction_id = item
            values = _floats(len(blob) // 8).unpack(blob)
            rows.append(
                StoredVector(
                    policy_number=policy,
                    vector=FeatureVector(schema_version=schema_version, values=values),
                    as_of=as_of,
                    prediction_id=prediction_id,
                )
            )
        else:
            _, policy, type_, title, detail, document = item
            rows.append(
                UnreadableRow(
                    policy_number=policy, type=type_, title=title, detail=detail, document=document
                )
            )
    return rows
