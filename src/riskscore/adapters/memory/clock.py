"""A clock tests set and advance by hand, so "now", "today" and durations are exact."""

from __future__ import annotations

import datetime as dt

from riskscore.ports.clock import Clock


class ManualClock(Clock):
    """Starts at ``start`` (UTC); only ``advance``/``set`` move it. ``tick_s`` advances every read
    of ``monotonic`` so that measured durations are non-zero and predictable."""

    def __init__(
        self,
        start: dt.datetime = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC),
        *,
        tick_s: float = 0.0,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(dt.UTC)
        self._monotonic = 0.0
        self._tick_s = tick_s

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        value = self._monotonic
        self._monotonic += self._tick_s
        return value

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)
        self._monotonic += seconds

    def set(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware time")
        self._now = now.astimezone(dt.UTC)
