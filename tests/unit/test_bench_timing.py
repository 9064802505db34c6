"""The per-call timer counts every call and orders its percentiles."""

from __future__ import annotations

import time

from bench.timing import per_call


def test_per_call_counts_warmup_and_timed_calls_and_orders_percentiles() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if len(calls) % 10 == 0:
            time.sleep(0.002)  # one slow call in ten: p99 well above p50

    out = per_call(work, n=100, warmup=5)

    assert len(calls) == 105
    assert out["n"] == 100
    assert 0 < out["p50_us"] <= out["p90_us"] <= out["p99_us"]
    assert out["p99_us"] > 1000 > out["p50_us"]
