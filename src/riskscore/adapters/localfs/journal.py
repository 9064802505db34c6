"""An append-only journal of opaque records in segment files, with a delivery checkpoint.

Layout of the journal directory (one process owns it at a time: ``LOCK`` is held with ``flock``)::

    LOCK                      flock'ed while a process has the journal open
    0000000000000001.seg      segments: frames appended with os.write on an O_APPEND fd
    0000000000000002.seg
    checkpoint                {"segment": 2, "offset": 8192}: everything before it was delivered
    dead-letter.seg           records a store refused for good, in the same framing

A frame is an 8-byte header, ``<u32 length><u32 crc32(payload)>``, then the payload. A frame is
*complete* when its header and payload are there and the CRC matches; length 0 is never valid (a run
of zero bytes left by a crash cannot pass for a record).

Durability: ``append`` returns after ``os.write`` has handed every byte to the kernel. The data then
lives in the page cache and survives SIGKILL or any crash of this process. Surviving power loss or a
kernel crash needs ``fsync=True`` (``fdatasync`` after every append, milliseconds on most disks).

Crash safety: a process never appends to a segment that an earlier process wrote; it starts a new one.
So a torn frame (a write cut short by a crash, or a failed write, after which the journal also moves
to a new segment) can only be the last frame of a *sealed* segment. The reader stops at the first
incomplete or invalid frame of a sealed segment, counts the rest as skipped and moves on to the next
segment; nothing acknowledged is in a torn frame because ``append`` had not returned.

Positions are ``(segment, offset)`` pairs and order like tuples. ``end()`` is the position after the
last complete append (``(next segment, 0)`` when this process has not appended yet), so a reader in
this process never sees a half-written frame of the live segment.

Slots: several processes sharing one data directory (``riskscore serve --workers N``) each own one
journal, ``<root>/w<k>``. ``claim_slot`` opens the lowest-numbered one whose ``LOCK`` is free, so
the lock that guards a journal is also what hands out slots: two live processes can never own the
same one, and the slot of a dead process is free again the moment the kernel drops its lock.
``orphan_journals`` lists what a new set of workers would otherwise leave unread (see
docs/audit-trail.md, "Several worker processes").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import msgspec

HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 16 * 1024 * 1024
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_SUFFIX = ".seg"
_DEAD_LETTER = "dead-letter.seg"
_SLOT_PREFIX = "w"
MAX_SLOTS = 1024
"""``claim_slot`` gives up beyond this many held slots (a sign of leaked processes, not of load)."""


class JournalError(Exception):
    """The journal could not be written or opened."""


class JournalInUse(JournalError):
    """Another process (or another journal object) has this directory open."""


class Position(NamedTuple):
    segment: int
    offset: int


class ReadResult(NamedTuple):
    payloads: list[bytes]
    position: Position
    """Where the next read starts: after the payloads returned and any bytes skipped."""
    skipped_bytes: int
    """Bytes of torn or corrupt frames passed over (sealed segments only)."""


class _Checkpoint(msgspec.Struct, frozen=True):
    segment: int
    offset: int


def frame(payload: bytes) -> bytes:
    if not payload or len(payload) > MAX_RECORD_BYTES:
        raise JournalError(f"record of {len(payload)} bytes is empty or too large")
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class _Parsed(NamedTuple):
    payloads: list[bytes]
    consumed: int
    need: int
    """Bytes the next frame takes from its start; 0 when parsing stopped for another reason."""
    corrupt: bool


def _parse(buf: bytes, limit: int) -> _Parsed:
    """Frames from the start of ``buf``, at most ``limit`` of them."""
    payloads: list[bytes] = []
    at = 0
    size = len(buf)
    view = memoryview(buf)
    while len(payloads) < limit:
        if size - at < HEADER.size:
            return _Parsed(payloads, at, HEADER.size if size > at else 0, corrupt=False)
        length, crc = HEADER.unpack_from(buf, at)
        if length == 0 or length > MAX_RECORD_BYTES:
            return _Parsed(payloads, at, 0, corrupt=True)
        if size - at - HEADER.size < length:
            return _Parsed(payloads, at, HEADER.size + length, corrupt=False)
        payload = bytes(view[at + HEADER.size : at + HEADER.size + length])
        if zlib.crc32(payload) != crc:
            return _Parsed(payloads, at, 0, corrupt=True)
        payloads.append(payload)
        at += HEADER.size + length
    return _Parsed(payloads, at, 0, corrupt=False)


class FileJournal:
    """Thread-safe appends; reads and commits come from one reader at a time (the delivery side)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        fsync: bool = False,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if segment_bytes <= 0:
            raise ValueError("segment_bytes must be positive")
        self.directory = Path(directory)
        self.fsync = fsync
        self._segment_bytes = segment_bytes
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open journal {self.directory}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            raise JournalInUse(f"journal {self.directory} is in use by another process") from exc
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._active_size = 0
        self._appended = 0
        self._closed = False
        self._checkpoint = self._load_checkpoint()
        existing = self.segments()
        self._next = max([*existing, self._checkpoint.segment, 0]) + 1
        self._deleted_below = 0

    # -- writing -------------------------------------------------------------------------------

    def append(self, payloads: Sequence[bytes]) -> Position:
        """Append records in one ``os.write``; returns the end position after them."""
        data = b"".join(frame(p) for p in payloads)
        with self._lock:
            if self._closed:
                raise JournalError("journal is closed")
            fd = self._fd if self._fd is not None else self._open_segment()
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:] if written else data)
                if self.fsync:
                    os.fdatasync(fd)
            except OSError as exc:
                # The segment may now end in a torn frame: seal it so nothing follows that frame.
                self._seal()
                raise JournalError(f"journal write failed: {exc.strerror or exc}") from exc
            self._active_size += written
            self._appended += len(payloads)
            position = Position(self._next, self._active_size)
            if self._active_size >= self._segment_bytes:
                self._seal()
            return position

    def _open_segment(self) -> int:
        path = self._segment_path(self._next)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            if self.fsync:
                self._sync_directory()
        except OSError as exc:
            raise JournalError(f"cannot create journal segment: {exc.strerror or exc}") from exc
        self._fd = fd
        self._active_size = 0
        return fd

    def _seal(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._next += 1
            self._active_size = 0

    @property
    def appended(self) -> int:
        """Records appended by this object since it was opened."""
        return self._appended

    def end(self) -> Position:
        """The position after the last complete append."""
        with self._lock:
            return Position(self._next, self._active_size)

    # -- reading ------------------------------------------------------------------------------

    def read(self, position: Position, max_records: int) -> ReadResult:
        """Up to ``max_records`` complete records from ``position`` (never beyond ``end()``)."""
        try:
            return self._read(position, max_records)
        except OSError as exc:
            raise JournalError(f"cannot read the journal: {exc.strerror or exc}") from exc

    def _read(self, position: Position, max_records: int) -> ReadResult:
        end = self.end()
        payloads: list[bytes] = []
        skipped = 0
        while len(payloads) < max_records and position < end:
            if position.segment < end.segment:
                path = self._segment_path(position.segment)
                if not path.exists():
                    position = Position(self._next_existing(position.segment, end.segment), 0)
                    continue
                got, position, lost = self._read_sealed(path, position, max_records - len(payloads))
                payloads += got
                skipped += lost
            else:
                got, offset = self._read_live(position, end.offset, max_records - len(payloads))
                payloads += got
                position = Position(position.segment, offset)
        return ReadResult(payloads, position, skipped)

    def _read_sealed(
        self, path: Path, position: Position, limit: int
    ) -> tuple[list[bytes], Position, int]:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            got, offset, damaged = self._read_frames(f.fileno(), position.offset, size, limit)
        if damaged or offset >= size:
            lost = max(size - offset, 0)
            return got, Position(position.segment + 1, 0), lost
        return got, Position(position.segment, offset), 0

    def _read_live(
        self, position: Position, limit: int, max_records: int
    ) -> tuple[list[bytes], int]:
        with self._segment_path(position.segment).open("rb") as f:
            got, offset, damaged = self._read_frames(
                f.fileno(), position.offset, limit, max_records
            )
        # Complete frames only were written below ``limit``: damage here means the file was
        # altered under us. Skip to the end rather than stall forever.
        return got, (limit if damaged else offset)

    @staticmethod
    def _read_frames(
        fd: int, offset: int, limit: int, max_records: int
    ) -> tuple[list[bytes], int, bool]:
        """Frames in ``[offset, limit)``; ``damaged`` when a frame is corrupt or runs past ``limit``."""
        payloads: list[bytes] = []
        want = _READ_CHUNK
        while len(payloads) < max_records and offset < limit:
            buf = os.pread(fd, min(limit - offset, max(want, _READ_CHUNK)), offset)
            if not buf:
                return payloads, offset, True
            parsed = _parse(buf, max_records - len(payloads))
            payloads += parsed.payloads
            offset += parsed.consumed
            if parsed.corrupt or (parsed.need and offset + parsed.need > limit):
                return payloads, offset, True
            want = parsed.need
        return payloads, offset, False

    def _next_existing(self, after: int, end_segment: int) -> int:
        later = [s for s in self.segments() if after < s < end_segment]
        return min(later, default=end_segment)

    def count(self, start: Position) -> int:
        """How many complete records lie between ``start`` and ``end()``."""
        total = 0
        position = start
        while True:
            result = self.read(position, 10_000)
            total += len(result.payloads)
            if result.position == position:
                return total
            position = result.position

    # -- checkpoint ---------------------------------------------------------------------------

    @property
    def checkpoint(self) -> Position:
        """Everything before this position has been delivered."""
        return Position(self._checkpoint.segment, self._checkpoint.offset)

    def commit(self, position: Position) -> None:
        """Persist ``position`` as delivered (temp file + rename) and delete segments before it."""
        if position < self.checkpoint:
            raise ValueError("the checkpoint only moves forward")
        tmp = self.directory / "checkpoint.tmp"
        data = msgspec.json.encode(_Checkpoint(position.segment, position.offset))
        try:
            with tmp.open("wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, self.directory / "checkpoint")
            if self.fsync:
                self._sync_directory()
        except OSError as exc:
            raise JournalError(f"cannot write the journal checkpoint: {exc}") from exc
        self._checkpoint = _Checkpoint(position.segment, position.offset)
        if position.segment > self._deleted_below:
            for segment in self.segments():
                if segment < position.segment:
                    with contextlib.suppress(FileNotFoundError):
                        self._segment_path(segment).unlink()
            self._deleted_below = position.segment

    def _load_checkpoint(self) -> _Checkpoint:
        path = self.directory / "checkpoint"
        try:
            return msgspec.json.decode(path.read_bytes(), type=_Checkpoint)
        except FileNotFoundError:
            return _Checkpoint(0, 0)
        except (OSError, msgspec.DecodeError):
            # Unreadable (e.g. power loss without fsync): replay from the oldest segment. Stores
            # are idempotent, so replaying delivered records costs time, never correctness.
            return _Checkpoint(0, 0)

    # -- dead letters, housekeeping -----------------------------------------------------------

    def set_aside(self, payloads: Sequence[bytes]) -> None:
        """Keep records no store will take in ``dead-letter.seg`` (same framing, always fsync'ed)."""
        data = b"".join(frame(p) for p in payloads)
        try:
            fd = os.open(
                self.directory / _DEAD_LETTER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise JournalError(f"cannot write the dead-letter file: {exc}") from exc

    def dead_letters(self) -> list[bytes]:
        """Records set aside so far (for inspection and re-delivery tools)."""
        path = self.directory / _DEAD_LETTER
        if not path.exists():
            return []
        data = path.read_bytes()
        return _parse(data, len(data)).payloads

    def segments(self) -> list[int]:
        """Numbers of the segment files present, ascending."""
        found = []
        for name in os.listdir(self.directory):
            stem = name[: -len(_SUFFIX)]
            if name.endswith(_SUFFIX) and stem.isdigit():
                found.append(int(stem))
        return sorted(found)

    def _segment_path(self, segment: int) -> Path:
        return self.directory / f"{segment:016d}{_SUFFIX}"

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close the live segment and release the lock. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._seal()
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)


# -- slots: one journal per process under a shared root -------------------------------------------


def slot_directory(root: str | Path, slot: int) -> Path:
    """The journal directory of slot ``slot`` under ``root``: ``root/w<slot>``."""
    if slot < 0:
        raise ValueError("slots are numbered from 0")
    return Path(root) / f"{_SLOT_PREFIX}{slot}"


def slot_number(directory: str | Path) -> int | None:
    """The slot a directory is (``w3`` -> 3), None for any other name."""
    name = Path(directory).name
    digits = name[len(_SLOT_PREFIX) :]
    if not name.startswith(_SLOT_PREFIX) or not digits.isdigit():
        return None
    return int(digits)


def claim_slot(
    root: str | Path,
    *,
    fsync: bool = False,
    segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    max_slots: int = MAX_SLOTS,
) -> FileJournal:
    """Open the journal of the lowest-numbered slot under ``root`` that no process holds.

    Holding is the journal's ``flock``: a slot taken by a live process raises ``JournalInUse`` and
    the next one is tried; the slot of a dead process is free, and its claimant replays what it
    left (the journal's usual start-up)."""
    for slot in range(max_slots):
        try:
            return FileJournal(slot_directory(root, slot), fsync=fsync, segment_bytes=segment_bytes)
        except JournalInUse:
            continue
    raise JournalInUse(f"all {max_slots} journal slots under {root} are held")


def orphan_journals(root: str | Path, *, workers: int, own: str | Path) -> list[Path]:
    """Journals under ``root`` that no worker of a set of ``workers`` would claim: the slots numbered
    ``workers`` or above (left by a larger set, or by a process that claimed a high slot), other than
    ``own``, in slot order; and ``root`` itself when it holds segments (the single journal of riskscore
    before slots). Whether a process still holds one is for the caller to find out by opening it."""
    root = Path(root)
    own_path = Path(own).resolve()
    found: list[tuple[int, Path]] = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    for entry in entries:
        number = slot_number(entry.name)
        path = Path(entry.path)
        if number is None or number < workers or not entry.is_dir():
            continue
        if path.resolve() != own_path:
            found.append((number, path))
    orphans = [path for _, path in sorted(found)]
    legacy = any(e.name.endswith(_SUFFIX) and e.name[: -len(_SUFFIX)].isdigit() for e in entries)
    return ([root] if legacy else []) + orphans
