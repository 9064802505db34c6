"""The hand-written Prometheus registry renders the text exposition format correctly."""

from __future__ import annotations

import pytest

from riskscore.adapters.http.api.metrics import Callback, Counter, Histogram, MetricsRegistry


def test_counter_histogram_and_callbacks_render_in_prometheus_text() -> None:
    registry = MetricsRegistry()
    requests = registry.add(Counter("req_total", "Requests.", ("route", "status")))
    latency = registry.add(Histogram("lat_seconds", "Latency.", ("route",), buckets=(0.1, 1.0)))
    registry.add(Callback("depth", "Queue depth.", lambda: {(): 3.0}))
    registry.add(Callback("done_total", "Done.", lambda: {(): 12.0}, kind="counter"))
    requests.inc(("/a", "200"))
    requests.inc(("/a", "200"))
    requests.inc(('/b"\n\\', "500"), 2.5)
    for value in (0.05, 0.1, 0.5, 7.0):
        latency.observe(value, ("/a",))

    lines = registry.render().splitlines()

    assert lines[:2] == ["# HELP req_total Requests.", "# TYPE req_total counter"]
    assert 'req_total{route="/a",status="200"} 2' in lines
    assert 'req_total{route="/b\\"\\n\\\\",status="500"} 2.5' in lines
    assert "# TYPE lat_seconds histogram" in lines
    assert 'lat_seconds_bucket{route="/a",le="0.1"} 2' in lines  # le is inclusive
    assert 'lat_seconds_bucket{route="/a",le="1"} 3' in lines
    assert 'lat_seconds_bucket{route="/a",le="+Inf"} 4' in lines
    assert 'lat_seconds_count{route="/a"} 4' in lines
    assert 'lat_seconds_sum{route="/a"} 7.65' in lines
    assert "# TYPE depth gauge" in lines
    assert "depth 3" in lines
    assert "# TYPE done_total counter" in lines
    assert "done_total 12" in lines
    assert requests.value(("/a", "200")) == 2
    assert latency.count(("/a",)) == 4


def test_names_are_unique_and_buckets_increasing() -> None:
    registry = MetricsRegistry()
    registry.add(Counter("x_total", "X."))
    with pytest.raises(ValueError, match="already registered"):
        registry.add(Counter("x_total", "X again."))
    with pytest.raises(ValueError, match="increasing"):
        Histogram("h", "H.", buckets=(1.0, 0.5))
    with pytest.raises(ValueError, match="gauge or a counter"):
        Callback("c", "C.", dict, kind="histogram")
