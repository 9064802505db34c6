"""Running ``wrk`` with ``score.lua`` and reading the ``WRK_JSON`` line its ``done()`` prints.

One wrk thread drives all connections: on this 2-core machine the load generator gets one core
(``taskset``), and one epoll thread saturates Python servers many times over (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

from bench.loadgen.result import LoadResult, LoadSpec

SCRIPT = Path(__file__).resolve().parent / "score.lua"
MARKER = "WRK_JSON "


class LoadGenError(RuntimeError):
    """The load generator failed or printed no result."""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "missing"
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "unknown"


def command(spec: LoadSpec, wrk: str = "wrk") -> list[str]:
    """The argv of one run (``taskset`` first when the spec pins CPUs)."""
    seconds = max(1, math.ceil(spec.duration_s))
    argv = [
        wrk,
        "-t1",
        f"-c{spec.connections}",
        f"-d{seconds}s",
        f"--timeout={max(1, math.ceil(spec.timeout_s))}s",
        "-s",
        str(SCRIPT),
        spec.url,
        "--",
        str(spec.bodies),
        spec.path,
    ]
    if spec.cpus:
        argv = ["taskset", "-c", ",".join(map(str, spec.cpus)), *argv]
    return argv


def parse_output(text: str, connections: int) -> LoadResult:
    """The ``LoadResult`` from wrk's output; ``LoadGenError`` when the marker line is missing."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise LoadGenError("wrk printed no WRK_JSON line (did score.lua load?)")
    errors = data["errors"]
    lat = data["latency_us"]
    pct = lat["percentiles"]
    return LoadResult(
        tool="wrk",
        connections=connections,
        duration_s=data["duration_us"] / 1e6,
        requests=int(data["requests"]),
        # A timeout is also counted as a request by wrk; connect errors are not.
        errors=int(errors["status"] + errors["read"] + errors["write"] + errors["timeout"]),
        p50_ms=pct["50"] / 1000,
        p90_ms=pct["90"] / 1000,
        p99_ms=pct["99"] / 1000,
        max_ms=lat["max"] / 1000,
        mean_ms=lat["mean"] / 1000,
    )


def run_wrk(spec: LoadSpec) -> LoadResult:
    path = wrk_path()
    if path is None:
        raise LoadGenError("wrk is not installed")
    proc = subprocess.run(
        command(spec, path),
        capture_output=True,
        text=True,
        timeout=spec.duration_s + spec.timeout_s + 30,
        check=False,
    )
    if proc.returncode != 0:
        raise LoadGenError(f"wrk exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return parse_output(proc.stdout, spec.connections)
