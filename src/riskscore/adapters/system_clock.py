"""The real clock: UTC wall time and a monotonic high-resolution counter."""

from __future__ import annotations

import datetime as dt
import time

from riskscore.ports.clock import Clock


class SystemClock(Clock):
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.perf_counter()
