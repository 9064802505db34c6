"""The synthetic generator's contract: determinism, chunking, the dataset layout and reading it back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from riskscore.adapters.synthetic import (
    DEFAULT_AS_OF,
    DatasetError,
    SyntheticApplication,
    generate,
    policy_number,
    read_dataset,
    write_dataset,
)


def _digest(apps: list[SyntheticApplication]) -> str:
    h = hashlib.sha256()
    for app in apps:
        h.update(f"{app.policy_number}|{app.as_of}|{app.label}|".encode())
        h.update(app.mib_xml.encode() + b"\0" + app.rx_xml.encode() + b"\0")
    return h.hexdigest()


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_the_same_applications() -> None:
    assert list(generate(40, seed=7)) == list(generate(40, seed=7))


def test_different_seeds_differ() -> None:
    a, b = list(generate(40, seed=7)), list(generate(40, seed=8))
    assert [x.rx_xml for x in a] != [y.rx_xml for y in b]
    assert (
        sum(x.mib_xml != y.mib_xml or x.rx_xml != y.rx_xml for x, y in zip(a, b, strict=True)) > 30
    )


def test_a_chunk_equals_the_same_slice_of_the_whole() -> None:
    whole = list(generate(15, seed=3))
    assert list(generate(10, seed=3, start=5)) == whole[5:15]
    assert [a.policy_number for a in whole[:2]] == ["SYN-0000001", "SYN-0000002"]


def test_bytes_do_not_depend_on_hash_seed_or_process() -> None:
    code = (
        "import hashlib;from riskscore.adapters.synthetic import generate;h=hashlib.sha256()\n"
        "for a in generate(25, 11): h.update((a.mib_xml+a.rx_xml+str(a.label)).encode())\n"
        "print(h.hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert len(digests) == 1
    mine = hashlib.sha256()
    for a in generate(25, 11):
        mine.update((a.mib_xml + a.rx_xml + str(a.label)).encode())
    assert digests == {mine.hexdigest()}


def test_as_of_defaults_to_a_fixed_date_and_moves_the_history() -> None:
    default = list(generate(5, seed=1))
    assert {a.as_of for a in default} == {DEFAULT_AS_OF} == {dt.date(2026, 1, 1)}
    later = list(generate(5, seed=1, as_of=dt.date(2027, 6, 30)))
    assert {a.as_of for a in later} == {dt.date(2027, 6, 30)}
    assert [a.label for a in later] == [a.label for a in default]  # same people, same outcome
    assert any(a.rx_xml != b.rx_xml for a, b in zip(default, later, strict=True))


def test_invalid_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="n and start"):
        list(generate(-1, seed=1))
    with pytest.raises(ValueError, match="n and start"):
        list(generate(1, seed=1, start=-2))


def test_policy_numbers_are_zero_padded_and_ordered() -> None:
    assert policy_number(0) == "SYN-0000001"
    assert policy_number(9_999_999) == "SYN-10000000"


def test_write_dataset_layout(tmp_path: Path) -> None:
    out = write_dataset(tmp_path / "ds", 12, seed=5)
    apps = list(generate(12, seed=5))
    assert out == tmp_path / "ds"
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "manifest.json", "mib", "rx"]
    lines = (out / "labels.csv").read_text().splitlines()
    assert lines[0] == "policy_number,as_of,label"
    assert lines[1:] == [f"{a.policy_number},2026-01-01,{a.label}" for a in apps]
    for app in apps:
        assert (out / "mib" / f"{app.policy_number}.xml").read_bytes() == app.mib_xml.encode()
        assert (out / "rx" / f"{app.policy_number}.xml").read_bytes() == app.rx_xml.encode()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == {
        "generator": "riskscore.adapters.synthetic",
        "generator_version": manifest["generator_version"],
        "n": 12,
        "seed": 5,
        "as_of": "2026-01-01",
        "positives": sum(a.label for a in apps),
    }
    assert manifest["generator_version"]


def test_dataset_round_trips_and_is_byte_identical(tmp_path: Path) -> None:
    first = write_dataset(tmp_path / "a", 20, seed=9, as_of=dt.date(2025, 3, 1))
    second = write_dataset(tmp_path / "b", 20, seed=9, as_of=dt.date(2025, 3, 1))
    assert _tree_digest(first) == _tree_digest(second)
    assert list(read_dataset(first)) == list(generate(20, seed=9, as_of=dt.date(2025, 3, 1)))


def test_read_dataset_orders_by_policy_number(tmp_path: Path) -> None:
    out = write_dataset(tmp_path / "ds", 5, seed=2)
    labels = out / "labels.csv"
    header, *rows = labels.read_text().splitlines()
    labels.write_text("\n".join([header, *reversed(rows)]) + "\n")
    assert [a.policy_number for a in read_dataset(out)] == [policy_number(i) for i in range(5)]


def test_rewriting_a_dataset_replaces_it_without_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_dataset(out, 10, seed=1)
    write_dataset(out, 4, seed=2)
    assert len(list((out / "mib").iterdir())) == 4
    assert len(list((out / "rx").iterdir())) == 4
    assert list(read_dataset(out)) == list(generate(4, seed=2))


def test_a_foreign_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not empty"):
        write_dataset(tmp_path, 3, seed=1)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("policy,as_of,label\n", "first line"),
        ("policy_number,as_of,label\nSYN-0000001,2026-01-01\n", "3 fields"),
        ("policy_number,as_of,label\nSYN-0000001,2026-01-01,2\n", "label must be 0 or 1"),
        ("policy_number,as_of,label\nSYN-0000001,01/01/2026,1\n", "ISO date"),
        ("policy_number,as_of,label\n../etc/passwd,2026-01-01,1\n", "policy number"),
        ("policy_number,as_of,label\nSYN-0000099,2026-01-01,1\n", "documents of SYN-0000099"),
    ],
)
def test_read_dataset_names_the_problem(tmp_path: Path, labels: str, message: str) -> None:
    out = write_dataset(tmp_path / "ds", 1, seed=1)
    (out / "labels.csv").write_text(labels)
    with pytest.raises(DatasetError, match=message):
        list(read_dataset(out))


def test_read_dataset_without_labels_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"cannot read .*labels\.csv"):
        list(read_dataset(tmp_path))
