"""``riskscore generate`` as a user runs it: a subprocess writing a dataset directory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from lxml import etree


def _riskscore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskscore.adapters.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generate_writes_the_dataset_layout(tmp_path: Path) -> None:
    out = tmp_path / "tmp"
    result = _riskscore("generate", "--n", "50", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote 50 applications" in result.stdout

    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["n"], manifest["seed"], manifest["as_of"]) == (50, 3, "2026-01-01")
    lines = (out / "labels.csv").read_text().splitlines()
    assert lines[0] == "policy_number,as_of,label"
    rows = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in rows] == [f"SYN-{i:07d}" for i in range(1, 51)]
    assert {r[1] for r in rows} == {"2026-01-01"}
    assert {r[2] for r in rows} <= {"0", "1"}
    assert sum(int(r[2]) for r in rows) == manifest["positives"]
    for policy, _, _ in rows:
        for kind in ("mib", "rx"):
            etree.fromstring((out / kind / f"{policy}.xml").read_bytes())  # well-formed


def test_generate_is_reproducible_and_honours_as_of(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out in (a, b):
        assert _riskscore("generate", "--n", "8", "--seed", "4", "--out", str(out)).returncode == 0
    assert _tree(a) == _tree(b)
    result = _riskscore(
        "generate", "--n", "8", "--seed", "4", "--out", str(c), "--as-of", "2024-07-01"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((c / "manifest.json").read_text())["as_of"] == "2024-07-01"
    assert _tree(c) != _tree(a)


def test_generate_refuses_bad_input_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    occupied = _riskscore("generate", "--n", "3", "--out", str(tmp_path))
    assert occupied.returncode == 1
    assert "not empty" in occupied.stderr
    assert "Traceback" not in occupied.stderr

    bad_date = _riskscore(
        "generate", "--n", "3", "--out", str(tmp_path / "x"), "--as-of", "01/02/2026"
    )
    assert bad_date.returncode == 2
    assert "YYYY-MM-DD" in bad_date.stderr
    bad_n = _riskscore("generate", "--n", "0", "--out", str(tmp_path / "x"))
    assert bad_n.returncode == 2
    assert "at least 1" in bad_n.stderr
    assert not (tmp_path / "x").exists()
