"""Per-call timing for the in-process parts: percentiles over single calls.

The per-part scripts (``bench/parse.py``, ``bench/predict.py``) time batches of calls and report batch
medians; the harness reports p50/p99 per call, as its HTTP parts do, so it times each call
(``perf_counter_ns`` costs well under a microsecond, against calls of 10 us and more).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def per_call(fn: Callable[[], object], n: int, warmup: int) -> dict[str, float]:
    """p50/p90/p99/mean in microseconds of ``n`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = np.empty(n, dtype=np.float64)
    clock = time.perf_counter_ns
    for i in range(n):
        started = clock()
        fn()
        samples[i] = clock() - started
    us = samples / 1000.0
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {
        "p50_us": round(float(p50), 2),
        "p90_us": round(float(p90), 2),
        "p99_us": round(float(p99), 2),
        "mean_us": round(float(us.mean()), 2),
        "n": n,
    }
