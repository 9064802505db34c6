"""Journal slots for several processes on one data directory: claiming, orphans, adoption.

``claim_slot`` hands out ``w<k>`` directories by the journal's ``flock``; ``in_slot`` trails adopt
what no live process holds. Two real processes contend for slots in the last tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_audit_trail import FAST, Stores, entry

from riskscore.adapters.localfs.audit_trail import JournaledAuditTrail
from riskscore.adapters.localfs.journal import (
    FileJournal,
    JournalInUse,
    claim_slot,
    orphan_journals,
    slot_directory,
    slot_number,
)

ROOT = Path(__file__).resolve().parents[2]


def test_slot_names_round_trip() -> None:
    assert slot_directory("/j", 3) == Path("/j/w3")
    assert slot_number(Path("/j/w3")) == 3
    assert slot_number("w") is None
    assert slot_number("x3") is None
    with pytest.raises(ValueError, match="from 0"):
        slot_directory("/j", -1)


def test_each_claim_takes_the_lowest_free_slot_and_a_held_slot_is_never_shared(
    tmp_path: Path,
) -> None:
    first, second = claim_slot(tmp_path), claim_slot(tmp_path)
    try:
        assert (first.directory.name, second.directory.name) == ("w0", "w1")
        with pytest.raises(JournalInUse):
            FileJournal(first.directory)
        first.close()
        third = claim_slot(tmp_path)  # w0 is free again, and lower than w2
        assert third.directory.name == "w0"
        third.close()
    finally:
        first.close()
        second.close()


def test_claims_give_up_when_every_slot_is_held(tmp_path: Path) -> None:
    held = [claim_slot(tmp_path, max_slots=2) for _ in range(2)]
    try:
        with pytest.raises(JournalInUse, match="all 2"):
            claim_slot(tmp_path, max_slots=2)
    finally:
        for journal in held:
            journal.close()


def test_orphans_are_the_slots_at_or_above_the_worker_count_and_a_legacy_root(
    tmp_path: Path,
) -> None:
    for k in (0, 1, 2, 10):
        slot_directory(tmp_path, k).mkdir()
    (tmp_path / "w3").write_text("a file, not a journal")
    (tmp_path / "other").mkdir()
    assert orphan_journals(tmp_path, workers=2, own=tmp_path / "w0") == [
        tmp_path / "w2",
        tmp_path / "w10",
    ]
    assert orphan_journals(tmp_path, workers=1, own=tmp_path / "w2") == [
        tmp_path / "w1",
        tmp_path / "w10",
    ]
    (tmp_path / "0000000000000001.seg").write_bytes(b"")  # riskscore before slots wrote here
    assert orphan_journals(tmp_path, workers=4, own=tmp_path / "w0") == [tmp_path, tmp_path / "w10"]
    assert orphan_journals(tmp_path / "absent", workers=1, own=tmp_path / "w0") == []


def _leave_undelivered(directory: Path, ids: range) -> None:
    """A trail that journals entries and stops without delivering them (as after a SIGKILL)."""
    stores = Stores()
    trail = JournaledAuditTrail(directory, stores.features, stores.predictions, **FAST)
    trail.record_many([entry(i) for i in ids])
    trail.close()


def test_a_worker_replays_its_slot_and_adopts_orphan_slots_exactly_once(tmp_path: Path) -> None:
    _leave_undelivered(tmp_path / "w0", range(30))
    _leave_undelivered(tmp_path / "w1", range(30, 50))
    _leave_undelivered(tmp_path / "w3", range(50, 60))
    _leave_undelivered(tmp_path, range(60, 65))  # the one journal of riskscore before slots
    stores = Stores()
    trail = JournaledAuditTrail.in_slot(
        tmp_path, stores.features, stores.predictions, workers=1, **FAST
    )
    try:
        assert trail.journal.directory == tmp_path / "w0"
        assert trail.stats().queue_depth == 30  # adoption starts with start()
        trail.start()
        assert trail.drain(10.0)
        expected = sorted(f"pred-{i:06d}" for i in range(65))
        assert stores.ids() == expected
        assert stores.feature_ids() == expected
        stats = trail.stats()
        assert (stats.delivered, stats.queue_depth, stats.dead_lettered) == (65, 0, 0)
    finally:
        trail.close()
    # Released once delivered: each adopted journal opens again, with nothing left in it.
    for directory in (tmp_path / "w1", tmp_path / "w3", tmp_path):
        again = FileJournal(directory)
        assert again.count(again.checkpoint) == 0
        again.close()


def test_a_journal_held_by_a_live_trail_is_not_adopted(tmp_path: Path) -> None:
    live_stores = Stores()
    live = JournaledAuditTrail(
        tmp_path / "w1", live_stores.features, live_stores.predictions, **FAST
    )
    live.record_many([entry(i) for i in range(5)])
    stores = Stores()
    trail = JournaledAuditTrail.in_slot(
        tmp_path, stores.features, stores.predictions, workers=1, **FAST
    )
    try:
        trail.start()
        assert trail.drain(5.0)
        assert stores.ids() == []
        assert live.drain(5.0)
        assert len(live_stores.ids()) == 5
    finally:
        trail.close()
        live.close()


def test_several_workers_take_distinct_slots_and_leave_lower_slots_to_their_claimants(
    tmp_path: Path,
) -> None:
    _leave_undelivered(tmp_path / "w1", range(10))
    stores = Stores()
    first = JournaledAuditTrail.in_slot(
        tmp_path, stores.features, stores.predictions, workers=2, **FAST
    )
    first.start()
    assert first.drain(5.0)
    assert stores.ids() == []  # w1 belongs to the second worker of two, not to an adopter
    second = JournaledAuditTrail.in_slot(
        tmp_path, stores.features, stores.predictions, workers=2, **FAST
    )
    try:
        assert second.journal.directory.name == "w1"
        second.start()
        assert second.drain(5.0)
        assert len(stores.ids()) == 10
    finally:
        first.close()
        second.close()


def test_bad_options_are_refused_and_leave_no_slot_held(tmp_path: Path) -> None:
    stores = Stores()
    with pytest.raises(ValueError, match="workers"):
        JournaledAuditTrail.in_slot(tmp_path, stores.features, stores.predictions, workers=0)
    with pytest.raises(ValueError, match="batch size"):
        JournaledAuditTrail.in_slot(tmp_path, stores.features, stores.predictions, batch_size=0)
    journal = claim_slot(tmp_path)
    assert journal.directory.name == "w0"
    journal.close()


HOLDER = """
import sys, time
from riskscore.adapters.localfs.journal import claim_slot
journal = claim_slot(sys.argv[1])
print(journal.directory.name, flush=True)
time.sleep(60)
"""


def test_two_processes_never_own_one_slot_and_a_dead_ones_slot_is_free_again(
    tmp_path: Path,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "w0"
        mine = claim_slot(tmp_path)
        assert mine.directory.name == "w1"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        freed = claim_slot(tmp_path)
        assert freed.directory.name == "w0"
        freed.close()
        mine.close()
    finally:
        holder.kill()
        holder.wait(timeout=10)
