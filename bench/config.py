"""How long and how hard each measurement runs, where processes are placed, and the time budget."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

from bench.equality import DEFAULT_TOLERANCE

P99_CEILING_MS = 20.0
"""The fixed p99 ceiling for "sustained throughput": the highest rate a system holds while 99 % of
answers still come back within 20 ms (every system gets the same ceiling)."""

LEVELS = (1, 2, 4, 8, 16, 32, 64)
"""Concurrent connections tried, in order, until p99 passes the ceiling."""

TIME_BUDGET_S = 570.0
"""The whole run must finish within 10 minutes; parts that would start after this are skipped."""


def placement(cpus: int | None = None) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(load generator CPUs, server CPUs): one core each on a machine with 2+ CPUs and ``taskset``."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cpus is not None:
        usable = usable[:cpus]
    if len(usable) < 2 or shutil.which("taskset") is None:
        return None, None
    return (usable[0],), (usable[-1],)


@dataclass(frozen=True)
class RunConfig:
    quick: bool = False
    p99_ceiling_ms: float = P99_CEILING_MS
    levels: tuple[int, ...] = LEVELS
    tolerance: float = DEFAULT_TOLERANCE
    tool: str = "wrk"
    load_cpus: tuple[int, ...] | None = None
    server_cpus: tuple[int, ...] | None = None
    started: float = field(default_factory=time.monotonic)
    budget_s: float = TIME_BUDGET_S

    # Durations (seconds) and sizes, full run / --quick.
    @property
    def sequential_s(self) -> float:
        return 3.0 if self.quick else 10.0

    @property
    def step_s(self) -> float:
        return 2.0 if self.quick else 5.0

    @property
    def warmup_s(self) -> float:
        return 1.0 if self.quick else 2.0

    @property
    def equality_n(self) -> int:
        return 50 if self.quick else 200

    @property
    def n_train(self) -> int:
        return 2000 if self.quick else 5000

    @property
    def n_apps(self) -> int:
        return 1000

    def remaining_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def describe(self) -> dict[str, object]:
        return {
            "quick": self.quick,
            "p99_ceiling_ms": self.p99_ceiling_ms,
            "levels": list(self.levels),
            "tolerance": self.tolerance,
            "sequential_s": self.sequential_s,
            "step_s": self.step_s,
            "warmup_s": self.warmup_s,
            "equality_n": self.equality_n,
            "n_train": self.n_train,
            "n_apps": self.n_apps,
            "budget_s": self.budget_s,
        }
