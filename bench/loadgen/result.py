"""What one load run asks for (``LoadSpec``) and what it measured (``LoadResult``)."""

from __future__ import annotations

from pathlib import Path

import msgspec


class LoadSpec(msgspec.Struct, frozen=True, kw_only=True):
    """``connections`` clients, each sending its next request when the previous answer arrived
    (closed loop), for ``duration_s`` seconds, cycling over the bodies in ``bodies`` (JSON lines)."""

    url: str
    path: str
    bodies: Path
    connections: int
    duration_s: float
    timeout_s: float = 10.0
    cpus: tuple[int, ...] | None = None


class LoadResult(msgspec.Struct, frozen=True, kw_only=True):
    """Counts and latency percentiles (milliseconds) of one load run."""

    tool: str
    connections: int
    duration_s: float
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    client_cpu_share: float | None = None
    """CPU time the load generator used / wall time of the run: near 1.0 would mean the client, not
    the server, set the pace (it has one core)."""

    @property
    def ok_requests(self) -> int:
        return max(0, self.requests - self.errors)

    @property
    def throughput_rps(self) -> float:
        """Answered-with-2xx requests per second."""
        return self.ok_requests / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = msgspec.to_builtins(self)
        out["throughput_rps"] = round(self.throughput_rps, 1)
        return out
