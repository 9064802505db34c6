"""Fallback load generator when ``wrk`` is missing: closed-loop HTTP/1.1 keep-alive clients on asyncio.

``python -m bench.loadgen.aioclient URL BODIES PATH -c N -d SECONDS`` prints the same ``WRK_JSON``
line as ``score.lua``, so ``bench.loadgen.wrk.parse_output`` reads both. It uses raw asyncio streams
(uvloop when installed), pre-encodes every request and reads answers by ``Content-Length``: its own
cost per request is a few tens of microseconds, which ``python -m bench loadcheck`` measures against
wrk on the same server (docs/benchmarks.md). Prefer wrk: it costs less and is not Python.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np


def encode_requests(host: str, port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    return [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer: (status code, whether the server closes the connection after it).

    Only ``Content-Length`` bodies (every server measured here answers so)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    close = lines[0].startswith(b"HTTP/1.0")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if length is None:
        raise ValueError("answer without Content-Length")
    await reader.readexactly(length)
    return status, close


async def _client(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    deadline: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            writer.write(request)
            status, close = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                errors[0] += 1
            if close:  # like wrk: reconnect and go on
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def run(
    url: str, bodies: list[bytes], path: str, connections: int, duration_s: float
) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = encode_requests(host, port, path, bodies)
    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    deadline = started + duration_s
    await asyncio.gather(
        *(
            _client(host, port, requests, k * 7919, deadline, latencies, errors)
            for k in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    us = np.asarray(latencies) * 1e6 if latencies else np.zeros(1)
    pct = {str(q): round(float(np.percentile(us, q)), 1) for q in (50, 90, 99, 99.9)}
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "bytes": 0,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": errors[0], "timeout": 0},
        "latency_us": {
            "min": float(us.min()),
            "max": float(us.max()),
            "mean": float(us.mean()),
            "stdev": float(us.std()),
            "percentiles": {k.removesuffix(".0"): v for k, v in pct.items()},
        },
    }


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("url")
    cli.add_argument("bodies", type=Path)
    cli.add_argument("path")
    cli.add_argument("-c", "--connections", type=int, default=1)
    cli.add_argument("-d", "--duration", type=float, default=5.0)
    args = cli.parse_args()
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(run(args.url, bodies, args.path, args.connections, args.duration))
    print("WRK_JSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
