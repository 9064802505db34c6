"""The durable audit trail: a local journal on the request path, batched delivery behind it.

``record`` encodes the entry with msgspec (MessagePack) and appends it to a ``FileJournal``; when it
returns the entry survives SIGKILL (and power loss with ``fsync=True``). A background thread reads
what was journaled, writes it in batches to the feature store and then the prediction log (both
idempotent by ``prediction_id``), and only then moves the journal checkpoint. Hence:

- nothing acknowledged is lost: an entry leaves the journal only after both stores took it;
- nothing is duplicated: a batch delivered again after a crash (between the store writes and the
  checkpoint) is a no-op in the stores;
- a store that is down (an error whose ``retryable`` is true, or any unexpected exception) is retried
  with capped exponential backoff with jitter, forever; entries wait in the journal meanwhile;
- a store refusing entries for good (a port error with ``retryable`` false) has the batch split in
  halves until the refused entries are isolated; those are set aside in ``dead-letter.seg`` in the
  journal directory (kept, counted, logged by prediction id) and the rest flows on;
- on start, everything after the checkpoint (left by a crashed or stopped process) is delivered first.

Several processes (``riskscore serve --workers N``) share one data directory through
``JournaledAuditTrail.in_slot``: each claims a journal slot of its own, and each also *adopts* the
orphan journals (slots numbered N or above that no live process holds, e.g. after scaling from 4
workers to 2 or a SIGKILL of a larger set): it opens each (taking its lock, so no other process
replays it at the same time), delivers its backlog with a trail of its own, then releases it.

See docs/audit-trail.md for the guarantees and the trade-offs behind the defaults.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

import msgspec
import structlog

from riskscore.adapters.localfs.journal import (
    DEFAULT_SEGMENT_BYTES,
    FileJournal,
    JournalError,
    JournalInUse,
    Position,
    claim_slot,
    orphan_journals,
)
from riskscore.domain.scoring import AuditEntry
from riskscore.ports.audit_trail import AuditStats, AuditTrail, AuditTrailError, AuditTrailInUse
from riskscore.ports.feature_store import FeatureStore
from riskscore.ports.prediction_log import PredictionLog

_Item = tuple[bytes, AuditEntry]


def is_retryable(exc: BaseException) -> bool:
    """Port errors say so themselves; anything unexpected is retried rather than set aside."""
    return bool(getattr(exc, "retryable", True))


def backoff_delay(
    attempt: int, *, initial_s: float, max_s: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): capped exponential backoff with "equal
    jitter", i.e. in ``[ceiling / 2, ceiling]`` where ``ceiling = min(max_s, initial_s * 2**(attempt-1))``.
    The fixed half keeps the growth; the random half spreads retries of many processes apart."""
    ceiling = min(max_s, initial_s * 2.0 ** min(attempt - 1, 60))
    return ceiling / 2 + rng() * ceiling / 2


class TrailOptions(TypedDict, total=False):
    """The tuning keywords of ``JournaledAuditTrail`` (adopted journals get the same)."""

    batch_size: int
    flush_interval_s: float
    fsync: bool
    max_backoff_s: float
    initial_backoff_s: float
    segment_bytes: int


class JournaledAuditTrail(AuditTrail):
    def __init__(
        self,
        journal_dir: str | Path | FileJournal,
        feature_store: FeatureStore,
        prediction_log: PredictionLog,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        fsync: bool = False,
        max_backoff_s: float = 5.0,
        initial_backoff_s: float = 0.05,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        adopt: Sequence[Path] = (),
    ) -> None:
        """``journal_dir`` is a directory to open, or a journal already open (``claim_slot``);
        ``adopt`` lists other journal directories to deliver from ``start`` on, those no process
        holds then (see ``in_slot``)."""
        if batch_size <= 0 or flush_interval_s <= 0 or max_backoff_s <= 0 or initial_backoff_s <= 0:
            raise ValueError("batch size, flush interval and backoffs must be positive")
        if isinstance(journal_dir, FileJournal):
            self._journal = journal_dir
        else:
            self._journal = _open_journal(journal_dir, fsync=fsync, segment_bytes=segment_bytes)
        self._options = TrailOptions(
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            fsync=fsync,
            max_backoff_s=max_backoff_s,
            initial_backoff_s=initial_backoff_s,
            segment_bytes=segment_bytes,
        )
        self._orphans = list(adopt)
        self._adopted: list[JournaledAuditTrail] = []
        self._adopted_lock = threading.Lock()
        self._retired = AuditStats(
            recorded=0,
            delivered=0,
            queue_depth=0,
            lag_s=0.0,
            failed_attempts=0,
            last_error_type=None,
        )
        self._features = feature_store
        self._predictions = prediction_log
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_backoff_s = max_backoff_s
        self._initial_backoff_s = initial_backoff_s
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(AuditEntry)
        self._log = structlog.get_logger("riskscore.audit_trail")

        self._position: Position = self._journal.checkpoint
        self._backlog = self._journal.count(self._position)
        self._delivered = 0
        self._dead_lettered = 0
        self._failed_attempts = 0
        self._last_error_type: str | None = None
        self._pending_since: dt.datetime | None = None
        self._caught_up_at = time.monotonic()

        self._deliver_lock = threading.Lock()
        self._progress = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        if self._backlog:
            self._log.info("audit.replay_pending", entries=self._backlog)

    @classmethod
    def in_slot(
        cls,
        root: str | Path,
        feature_store: FeatureStore,
        prediction_log: PredictionLog,
        *,
        workers: int = 1,
        **options: Unpack[TrailOptions],
    ) -> JournaledAuditTrail:
        """The trail of one of ``workers`` processes sharing the journal root ``root``: it claims
        the lowest free slot ``root/w<k>`` (replaying what an earlier owner left there) and, once
        started, adopts the orphan journals (``journal.orphan_journals``)."""
        if workers <= 0:
            raise ValueError("workers must be positive")
        try:
            journal = claim_slot(
                root,
                fsync=options.get("fsync", False),
                segment_bytes=options.get("segment_bytes", DEFAULT_SEGMENT_BYTES),
            )
        except JournalInUse as exc:
            raise AuditTrailInUse(str(exc)) from exc
        except JournalError as exc:
            raise AuditTrailError(str(exc)) from exc
        structlog.get_logger("riskscore.audit_trail").info(
            "audit.journal_slot", journal=str(journal.directory)
        )
        try:
            orphans = orphan_journals(root, workers=workers, own=journal.directory)
        except OSError as exc:
            journal.close()
            raise AuditTrailError(f"cannot list the journals under {root}: {exc}") from exc
        try:
            return cls(journal, feature_store, prediction_log, adopt=orphans, **options)
        except BaseException:
            journal.close()  # release the slot: nobody else holds this journal object
            raise

    # -- request path -------------------------------------------------------------------------

    def record(self, entry: AuditEntry) -> None:
        self._append((entry,))

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            self._append(entries)

    def _append(self, entries: Sequence[AuditEntry]) -> None:
        try:
            self._journal.append([self._encoder.encode(e) for e in entries])
        except (JournalError, msgspec.EncodeError, TypeError) as exc:
            raise AuditTrailError(f"entry not recorded: {exc}") from exc
        if self._queue_depth() >= self._batch_size:
            self._wake.set()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._closed:
            raise AuditTrailError("audit trail is closed")
        if self._thread is not None:
            return
        self._adopt_orphans()
        self._thread = threading.Thread(target=self._run, name="audit-trail", daemon=True)
        self._thread.start()

    def drain(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        if self._closed:
            return self._caught_up()
        if self._thread is None or not self._thread.is_alive():
            try:
                self._deliver_available(deadline)
            except JournalError as exc:
                self._note_failure(exc, attempt=0, batch=0, delay=0.0)
                return False
            return self._caught_up()
        self._wake.set()
        with self._progress:
            while not self._caught_up():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.set()
                self._progress.wait(min(left, self._flush_interval_s))
        drained = True
        for adopted in self._adopted_trails():
            drained = adopted.drain(max(deadline - time.monotonic(), 0.0)) and drained
        return drained

    def close(self) -> None:
        """Stop delivering (a batch being retried stays in the journal) and release the journal
        (and the adopted ones)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        for adopted in self._adopted_trails():
            self._retire(adopted)
        self._journal.close()

    # -- adopted journals ---------------------------------------------------------------------

    def _adopt_orphans(self) -> None:
        """Open each orphan journal no process holds and deliver its backlog on a trail of its own."""
        for directory in self._orphans:
            try:
                trail = JournaledAuditTrail(
                    directory, self._features, self._predictions, **self._options
                )
            except AuditTrailInUse:
                continue  # a live process owns it, or another one is adopting it right now
            except AuditTrailError as exc:
                self._log.warning(
                    "audit.adopt_failed", journal=directory.name, error_type=type(exc).__name__
                )
                continue
            backlog = trail.stats().queue_depth
            if not backlog:
                trail.close()
                continue
            self._log.info("audit.adopted", journal=str(directory), entries=backlog)
            trail.start()
            with self._adopted_lock:
                self._adopted.append(trail)
        self._orphans = []

    def _adopted_trails(self) -> list[JournaledAuditTrail]:
        with self._adopted_lock:
            return list(self._adopted)

    def _retire_caught_up(self) -> None:
        """Release adopted journals that are fully delivered (another process may claim them)."""
        for adopted in self._adopted_trails():
            if adopted.stats().queue_depth == 0 and adopted.drain(0.0):
                self._retire(adopted)
                self._log.info("audit.adopted_delivered", journal=str(adopted.journal.directory))

    def _retire(self, adopted: JournaledAuditTrail) -> None:
        adopted.close()
        final = adopted.stats()
        with self._adopted_lock:
            if adopted not in self._adopted:
                return
            self._adopted.remove(adopted)
            self._retired = _sum_stats(self._retired, final)

    # -- observability ------------------------------------------------------------------------

    def _queue_depth(self) -> int:
        return max(
            self._backlog + self._journal.appended - self._delivered - self._dead_lettered, 0
        )

    def stats(self) -> AuditStats:
        """This trail's figures plus those of the journals it adopted (``recorded`` stays its own)."""
        own = self._own_stats()
        with self._adopted_lock:
            adopted = [self._retired, *(trail.stats() for trail in self._adopted)]
        total = own
        for extra in adopted:
            total = _sum_stats(total, extra)
        return total

    def _own_stats(self) -> AuditStats:
        depth = self._queue_depth()
        pending_since = self._pending_since
        if depth == 0:
            lag = 0.0
        elif pending_since is not None:
            lag = max(time.time() - pending_since.timestamp(), 0.0)
        else:  # journaled after the writer last caught up: an upper bound
            lag = time.monotonic() - self._caught_up_at
        return AuditStats(
            recorded=self._journal.appended,
            delivered=self._delivered,
            queue_depth=depth,
            lag_s=lag,
            failed_attempts=self._failed_attempts,
            last_error_type=self._last_error_type,
            dead_lettered=self._dead_lettered,
            running=self._thread is not None and self._thread.is_alive() and not self._closed,
        )

    @property
    def journal(self) -> FileJournal:
        return self._journal

    # -- delivery -----------------------------------------------------------------------------

    def _caught_up(self) -> bool:
        return self._position >= self._journal.end()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._deliver_available(None)
            except Exception as exc:  # a journal or checkpoint I/O error: log, wait, go on
                self._note_failure(exc, attempt=0, batch=0, delay=self._max_backoff_s)
                self._stop.wait(self._max_backoff_s)
            if self._adopted:
                self._retire_caught_up()
            self._wake.wait(self._flush_interval_s)
            self._wake.clear()

    def _deliver_available(self, deadline: float | None) -> None:
        """Deliver batch after batch until caught up, stopped or past ``deadline``."""
        with self._deliver_lock:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    return
                dead_before = self._dead_lettered
                result = self._journal.read(self._position, self._batch_size)
                if result.skipped_bytes:
                    self._log.warning(
                        "audit.journal_damage_skipped",
                        skipped_bytes=result.skipped_bytes,
                        segment=self._position.segment,
                    )
                if not result.payloads:
                    if result.position != self._position:
                        self._advance(result.position, delivered=0)
                    self._caught_up_at = time.monotonic()
                    return
                items = self._decode(result.payloads)
                if items:
                    self._pending_since = items[0][1].prediction.scored_at
                    if not self._deliver(items, deadline):
                        return
                self._pending_since = None
                set_aside = self._dead_lettered - dead_before
                self._advance(result.position, delivered=len(result.payloads) - set_aside)

    def _decode(self, payloads: list[bytes]) -> list[_Item]:
        items: list[_Item] = []
        for payload in payloads:
            try:
                items.append((payload, self._decoder.decode(payload)))
            except msgspec.DecodeError as exc:
                self._set_aside([payload], exc, prediction_id=None)
        return items

    def _advance(self, position: Position, *, delivered: int) -> None:
        self._journal.commit(position)
        with self._progress:
            self._position = position
            self._delivered += delivered
            self._progress.notify_all()

    def _deliver(self, items: Sequence[_Item], deadline: float | None) -> bool:
        """Write ``items`` to both stores, retrying; False when stopped or out of time first."""
        attempt = 0
        while True:
            try:
                self._features.write_many([entry.features for _, entry in items])
                self._predictions.append_many([entry.prediction for _, entry in items])
                return True
            except Exception as exc:
                attempt += 1
                if not is_retryable(exc):
                    self._note_failure(exc, attempt=attempt, batch=len(items), delay=0.0)
                    return self._isolate(items, exc, deadline)
                delay = backoff_delay(
                    attempt, initial_s=self._initial_backoff_s, max_s=self._max_backoff_s
                )
                self._note_failure(exc, attempt=attempt, batch=len(items), delay=delay)
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    delay = min(delay, left)
                if self._stop.wait(delay):
                    return False

    def _isolate(self, items: Sequence[_Item], exc: Exception, deadline: float | None) -> bool:
        """A store refused the batch for good: find the refused entries by halving, set them aside."""
        if len(items) == 1:
            payload, entry = items[0]
            self._set_aside([payload], exc, prediction_id=entry.prediction.prediction_id)
            return True
        middle = len(items) // 2
        return self._deliver(items[:middle], deadline) and self._deliver(items[middle:], deadline)

    def _set_aside(
        self, payloads: list[bytes], exc: Exception, *, prediction_id: str | None
    ) -> None:
        self._journal.set_aside(payloads)
        self._dead_lettered += len(payloads)
        self._log.error(
            "audit.entry_set_aside", prediction_id=prediction_id, error_type=type(exc).__name__
        )

    def _note_failure(self, exc: Exception, *, attempt: int, batch: int, delay: float) -> None:
        self._failed_attempts += 1
        self._last_error_type = type(exc).__name__
        self._log.warning(
            "audit.delivery_failed",
            error_type=type(exc).__name__,
            retryable=is_retryable(exc),
            attempt=attempt,
            batch=batch,
            retry_in_s=round(delay, 3),
        )


def _open_journal(directory: str | Path, *, fsync: bool, segment_bytes: int) -> FileJournal:
    try:
        return FileJournal(directory, fsync=fsync, segment_bytes=segment_bytes)
    except JournalInUse as exc:
        raise AuditTrailInUse(str(exc)) from exc
    except JournalError as exc:
        raise AuditTrailError(str(exc)) from exc


def _sum_stats(a: AuditStats, b: AuditStats) -> AuditStats:
    """``a`` with ``b``'s delivery figures added (``recorded`` and ``running`` stay ``a``'s)."""
    return msgspec.structs.replace(
        a,
        delivered=a.delivered + b.delivered,
        queue_depth=a.queue_depth + b.queue_depth,
        lag_s=max(a.lag_s, b.lag_s),
        failed_attempts=a.failed_attempts + b.failed_attempts,
        last_error_type=a.last_error_type or b.last_error_type,
        dead_lettered=a.dead_lettered + b.dead_lettered,
    )
