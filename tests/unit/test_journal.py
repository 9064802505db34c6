"""FileJournal: framing, segments, checkpoint, torn and corrupt frames, ownership."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskscore.adapters.localfs.journal import (
    HEADER,
    FileJournal,
    JournalError,
    JournalInUse,
    Position,
    frame,
)


def _payloads(n: int, start: int = 0) -> list[bytes]:
    return [f"record-{i:05d}".encode() for i in range(start, start + n)]


def _read_all(
    journal: FileJournal, position: Position | None = None
) -> tuple[list[bytes], Position, int]:
    position = journal.checkpoint if position is None else position
    got: list[bytes] = []
    skipped = 0
    while True:
        result = journal.read(position, 7)
        got += result.payloads
        skipped += result.skipped_bytes
        if result.position == position:
            return got, position, skipped
        position = result.position


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[FileJournal]:
    j = FileJournal(tmp_path / "journal")
    yield j
    j.close()


def test_records_read_back_in_order_in_bounded_batches(journal: FileJournal) -> None:
    journal.append(_payloads(3))
    journal.append(_payloads(20, start=3))
    first = journal.read(journal.checkpoint, 5)
    assert first.payloads == _payloads(5)
    rest, end, skipped = _read_all(journal, first.position)
    assert rest == _payloads(18, start=5)
    assert end == journal.end()
    assert skipped == 0
    assert journal.appended == 23
    assert journal.count(journal.checkpoint) == 23


def test_append_returns_the_end_position(journal: FileJournal) -> None:
    position = journal.append([b"abc", b"de"])
    assert position == journal.end()
    assert position.offset == 2 * HEADER.size + 5


def test_an_empty_record_is_refused(journal: FileJournal) -> None:
    with pytest.raises(JournalError):
        journal.append([b""])


def test_a_record_larger_than_a_read_chunk_reads_back(journal: FileJournal) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    journal.append([b"small", big, b"after"])
    got, _, _ = _read_all(journal)
    assert got == [b"small", big, b"after"]


def test_segments_rotate_by_size_and_delivered_ones_are_deleted(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path, segment_bytes=100)
    for payload in _payloads(30):
        journal.append([payload])
    assert len(journal.segments()) > 3
    result = journal.read(journal.checkpoint, 12)
    journal.commit(result.position)
    assert min(journal.segments()) == result.position.segment
    got, end, _ = _read_all(journal, result.position)
    assert result.payloads + got == _payloads(30)
    journal.commit(end)
    assert journal.segments() == []
    journal.close()


def test_a_new_process_appends_to_a_new_segment_and_resumes_at_the_checkpoint(
    tmp_path: Path,
) -> None:
    first = FileJournal(tmp_path)
    first.append(_payloads(10))
    result = first.read(first.checkpoint, 4)
    first.commit(result.position)
    first.close()

    second = FileJournal(tmp_path)
    assert second.checkpoint == result.position
    second.append(_payloads(2, start=10))
    assert len(second.segments()) == 2
    assert second.count(second.checkpoint) == 8
    got, _, _ = _read_all(second)
    assert got == _payloads(8, start=4)
    second.close()


def test_the_checkpoint_only_moves_forward(journal: FileJournal) -> None:
    end = journal.append(_payloads(2))
    journal.commit(end)
    with pytest.raises(ValueError):
        journal.commit(Position(end.segment, 0))


def test_a_torn_last_frame_is_skipped_and_later_records_still_flow(tmp_path: Path) -> None:
    crashed = FileJournal(tmp_path)
    crashed.append(_payloads(5))
    segment = tmp_path / f"{crashed.end().segment:016d}.seg"
    crashed.close()
    torn = frame(b"acknowledged-never")[:-3]  # the crash cut the last write short
    with segment.open("ab") as f:
        f.write(torn)

    journal = FileJournal(tmp_path)
    assert journal.count(journal.checkpoint) == 5
    journal.append(_payloads(2, start=5))
    got, _, skipped = _read_all(journal)
    assert got == _payloads(7)
    assert skipped == len(torn)
    journal.close()


@pytest.mark.parametrize("damage", ["zeros", "bad-crc", "huge-length"])
def test_damage_in_a_sealed_segment_skips_to_the_next_segment(tmp_path: Path, damage: str) -> None:
    crashed = FileJournal(tmp_path)
    crashed.append(_payloads(3))
    segment = tmp_path / f"{crashed.end().segment:016d}.seg"
    crashed.close()
    bad = {
        "zeros": b"\0" * 64,
        "bad-crc": HEADER.pack(4, 12345) + b"abcd",
        "huge-length": HEADER.pack(2**31, 0) + b"x",
    }[damage]
    with segment.open("ab") as f:
        f.write(bad + frame(b"lost-behind-damage"))

    journal = FileJournal(tmp_path)
    journal.append([b"next-process"])
    got, end, skipped = _read_all(journal)
    assert got == [*_payloads(3), b"next-process"]
    assert skipped == len(bad) + len(frame(b"lost-behind-damage"))
    assert end == journal.end()
    journal.close()


def test_a_failed_write_seals_the_segment(journal: FileJournal) -> None:
    journal.append([b"one"])
    before = journal.end().segment
    assert journal._fd is not None
    os.close(journal._fd)  # the next os.write fails (EBADF), as a full disk would
    with pytest.raises(JournalError):
        journal.append([b"lost"])
    journal.append([b"two"])
    assert journal.end().segment == before + 1
    got, _, _ = _read_all(journal)
    assert got == [b"one", b"two"]


def test_one_owner_at_a_time(tmp_path: Path) -> None:
    owner = FileJournal(tmp_path)
    with pytest.raises(JournalInUse):
        FileJournal(tmp_path)
    owner.close()
    FileJournal(tmp_path).close()


def test_an_unreadable_checkpoint_replays_from_the_oldest_segment(tmp_path: Path) -> None:
    first = FileJournal(tmp_path)
    end = first.append(_payloads(4))
    first.commit(Position(end.segment, end.offset // 2))
    first.close()
    (tmp_path / "checkpoint").write_bytes(b"")  # e.g. power loss before the rename hit the disk
    second = FileJournal(tmp_path)
    assert second.count(second.checkpoint) == 4
    second.close()


def test_records_set_aside_are_kept(journal: FileJournal) -> None:
    assert journal.dead_letters() == []
    journal.set_aside([b"refused-1"])
    journal.set_aside([b"refused-2"])
    assert journal.dead_letters() == [b"refused-1", b"refused-2"]
    assert journal.segments() == []


def test_a_closed_journal_refuses_appends(journal: FileJournal) -> None:
    journal.close()
    with pytest.raises(JournalError):
        journal.append([b"late"])
    journal.close()
