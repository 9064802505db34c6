"""One entry point for a load run, whichever generator is available."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

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


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_load(spec: LoadSpec, tool: str | None = None) -> LoadResult:
    """One load run; the result also says how much of its CPU the load generator used."""
    chosen = tool or load_generator()
    cpu_before, started = _children_cpu_s(), time.perf_counter()
    result = wrk.run_wrk(spec) if chosen == "wrk" else _run_asyncio(spec)
    share = (_children_cpu_s() - cpu_before) / (time.perf_counter() - started)
    return msgspec.structs.replace(result, client_cpu_share=round(share, 3))
