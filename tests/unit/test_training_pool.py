"""Training's data-generation pool: its workers stop once the process that started it is gone
(killed outright, it cannot stop them; they waited for work forever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from process_checks import assert_gone


def slow_chunk(directory: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """A chunk of 'training data' that says which process made it and takes its time."""
    Path(directory, f"{index}-{os.getpid()}").touch()
    time.sleep(0.3)
    return np.zeros((1, 2)), np.zeros(1, dtype=np.int8)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_workers_of_a_killed_training_run_stop(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "killed.py"
    script.write_text(
        "import os, signal, sys, threading, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "from riskscore.adapters.treemodel.training import _run_chunks\n"
        "from test_training_pool import slow_chunk\n"
        "def kill_when_both_work():\n"
        f"    while len({{p.name.split('-')[1] for p in Path({str(marks)!r}).iterdir()}}) < 2:\n"
        "        time.sleep(0.02)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "if __name__ == '__main__':\n"
        "    threading.Thread(target=kill_when_both_work, daemon=True).start()\n"
        f"    _run_chunks(((({str(marks)!r}), i) for i in range(200)), slow_chunk, 2)\n"
    )
    done = subprocess.run([sys.executable, str(script)], stdout=subprocess.DEVNULL, timeout=120)
    assert done.returncode == -signal.SIGKILL
    workers = {int(p.name.split("-")[1]) for p in marks.iterdir()}
    assert len(workers) == 2
    assert_gone(workers)
