"""``bench.rescore``'s judgement of the goals and the results file it writes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bench import rescore

FLOOR = {
    "parse_features_us": 134.0,
    "model_us": 8.0,
    "stored_read_us": 3.6,
    "stored_score_us": 6.3,
    "stored_model_us": 3.0,
    "stored_hash_us": 1.9,
    "stored_ids_us": 1.0,
    "stored_write_us": 2.1,
}


def case(source: str, per_second: float, worker_mb: float = 90.0) -> dict[str, Any]:
    return {
        "source": source,
        "n": 10_000,
        "per_second": per_second,
        "cpu_parent_s": 0.1,
        "cpu_workers_s": 1.8,
        "peak_rss_parent_mb": 100.0,
        "peak_rss_worker_mb": worker_mb,
        "load_average": [0.5, 0.5, 0.5],
    }


def test_a_case_misses_on_speed_or_on_memory() -> None:
    assert rescore._misses(case("jsonl", 10_053)) == []
    assert rescore._misses(case("jsonl", 9_999)) == ["9,999/s < 10,000/s"]
    assert rescore._misses(case("features", 250_000, worker_mb=600)) == ["peak 600 MB >= 500 MB"]


def test_the_results_file_says_which_goals_were_met(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rescore, "RESULTS", tmp_path)
    cases = [case("jsonl", 11_108), case("features", 151_370)]
    for item in cases:
        item["misses"] = rescore._misses(item)
    command = {"source": "features", "n": 10_000, "seconds": 0.374, "per_second": 26_737.9}
    command["load_average"] = [0.5, 0.5, 0.5]
    json_path, md_path = rescore.write_results(FLOOR, cases, cores=2, repeat=3, commands=[command])
    table = md_path.read_text()
    assert "| features | 10,000 | 0.37 | 26,738 | [0.5, 0.5, 0.5] |" in table
    assert json.loads(json_path.read_text())["commands"] == [command]
    assert "| jsonl | 10,000 | 11,108 | 10,000 | yes |" in table
    assert "| features | 10,000 | 151,370 | 200,000 | no |" in table
    assert "best of 3 runs" in table
    assert json.loads(json_path.read_text())["cases"][1]["misses"] == ["151,370/s < 200,000/s"]


@pytest.mark.skipif(shutil.which("fincore") is None, reason="fincore (util-linux) is not installed")
def test_the_share_of_an_input_in_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "input.bin"
    path.write_bytes(b"x" * 1_000_000)
    os.sync()
    assert rescore.cached_share([path]) == 1.0  # just written: every page is in the cache
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # clean pages: dropped at once
    finally:
        os.close(fd)
    share = rescore.cached_share([path])
    assert share is not None
    assert share < 0.5
    assert rescore.cached_share([]) is None


def test_the_sampler_finds_the_workers_below_it(tmp_path: Path) -> None:
    """A forked pool's workers are this process's children, a forkserver's its grandchildren (below
    the server): the children lists find both, as the scan of /proc does."""
    ready = tmp_path / "grandchild.pid"
    middle = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(ready) + '.tmp'!r}, 'w').write(str(child.pid))\n"
        f"os.replace({str(ready) + '.tmp'!r}, {str(ready)!r})\n"
        "child.wait()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    server = subprocess.Popen([sys.executable, "-c", middle])
    grandchild = None
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        grandchild = int(ready.read_text())
        found = rescore._descendants(os.getpid())
        assert {child.pid, server.pid, grandchild} <= set(found)
        # Processes other tests left below this one (a forkserver's workers) may end meanwhile:
        # the scan is compared with a tree that did not change while it ran.
        for _ in range(50):
            before = sorted(rescore._descendants(os.getpid()))
            scanned = sorted(rescore._descendants_by_scan(os.getpid()))
            if sorted(rescore._descendants(os.getpid())) == before:
                break
        assert scanned == before
    finally:
        if grandchild is not None:
            os.kill(grandchild, signal.SIGKILL)
        for process in (child, server):
            process.kill()
            process.wait()
