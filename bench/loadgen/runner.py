"""One entry point for a load run, whichever generator is available."""

from __future__ import annotations

import subprocess
import sys

import msgspec

from bench.loadgen import wrk
from bench.loadgen.result import LoadResult, LoadSpec


def load_generator() -> str:
    """``wrk`` when installed, else ``asyncio`` (``bench/loadgen/aioclient.py``)."""
    return "wrk" if wrk.wrk_path() else "asyncio"


def _run_asyncio(spec: LoadSpec) -> LoadResult:
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen.aioclient",
        spec.url,
        str(spec.bodies),
        spec.path,
        "-c",
        str(spec.connections),
        "-d",
        str(spec.duration_s),
    ]
    if spec.cpus:
        argv = ["taskset", "-c", ",".join(map(str, spec.cpus)), *argv]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=spec.duration_s + 60, check=False
    )
    if proc.returncode != 0:
        raise wrk.LoadGenError(f"asyncio client exited {proc.returncode}: {proc.stderr[-500:]}")
    return msgspec.structs.replace(wrk.parse_output(proc.stdout, spec.connections), tool="asyncio")


def run_load(spec: LoadSpec, tool: str | None = None) -> LoadResult:
    chosen = tool or load_generator()
    if chosen == "wrk":
        return wrk.run_wrk(spec)
    return _run_asyncio(spec)
