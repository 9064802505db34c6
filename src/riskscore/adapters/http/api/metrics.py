"""A tiny Prometheus registry: counters, histograms and gauges rendered in the text format 0.0.4.

Written here rather than taking ``prometheus_client`` because the API needs a handful of series, one
process and one event loop (no locks, no multiprocess mode), and every observation sits on the hot
path: an observation is a dict lookup and a few additions. Gauges are read at scrape time from
callbacks (audit-trail queue depth, in-flight requests), so nothing polls in the background.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

Labels = tuple[str, ...]

LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _format_number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, labels: Labels = ()) -> float:
        return self._values.get(labels, 0.0)

    def samples(self) -> Iterable[str]:
        for labels, value in sorted(self._values.items()):
            yield f"{self.name}{_format_labels(self.label_names, labels)} {_format_number(value)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS_S,
    ) -> None:
        super().__init__(name, help_text, label_names)
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("histogram buckets must be a non-empty increasing sequence")
        self.buckets = tuple(buckets)
        # per label set: [count per bucket (non-cumulative, last is +Inf)], sum, count
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, labels: Labels = ()) -> None:
        series = self._series.get(labels)
        if series is None:
            series = ([0] * (len(self.buckets) + 1), [0.0, 0.0])
            self._series[labels] = series
        series[0][bisect.bisect_left(self.buckets, value)] += 1
        totals = series[1]
        totals[0] += value
        totals[1] += 1

    def count(self, labels: Labels = ()) -> int:
        series = self._series.get(labels)
        return 0 if series is None else int(series[1][1])

    def samples(self) -> Iterable[str]:
        for labels, (counts, (total, count)) in sorted(self._series.items()):
            cumulative = 0
            for bound, bucket_count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += bucket_count
                le = f'le="{_format_number(bound)}"'
                yield (
                    f"{self.name}_bucket{_format_labels(self.label_names, labels, le)} {cumulative}"
                )
            suffix = _format_labels(self.label_names, labels)
            yield f"{self.name}_sum{suffix} {_format_number(total)}"
            yield f"{self.name}_count{suffix} {_format_number(count)}"


class Callback(_Metric):
    """Values read at scrape time: ``read`` answers ``{label values: value}``. ``kind`` is
    ``gauge``, or ``counter`` for a running total kept elsewhere (e.g. entries delivered)."""

    def __init__(
        self,
        name: str,
        help_text: str,
        read: Callable[[], dict[Labels, float]],
        label_names: Sequence[str] = (),
        kind: str = "gauge",
    ) -> None:
        super().__init__(name, help_text, label_names)
        if kind not in ("gauge", "counter"):
            raise ValueError("a callback metric is a gauge or a counter")
        self.kind = kind
        self._read = read

    def samples(self) -> Iterable[str]:
        for labels, value in sorted(self._read().items()):
            yield f"{self.name}{_format_labels(self.label_names, labels)} {_format_number(value)}"


M = TypeVar("M", bound=_Metric)


class MetricsRegistry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def add(self, metric: M) -> M:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} is already registered")
        self._metrics[metric.name] = metric
        return metric

    def render(self) -> str:
        """The whole registry in the Prometheus text exposition format."""
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"
