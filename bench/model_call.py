"""What one model call costs the API in http mode, split into the model service and the client.

Run: ``.venv/bin/python -m bench.model_call [--calls 2000] [--uvloop]``. Prepares a small
workspace, starts ``riskscore model-server`` pinned to the server CPU, pins this process to the
same CPU (where the API would run in the end-to-end benchmark) and times, per call, over one
keep-alive connection:

1. ``HttpxModelClient.predict([vector])``: what ``ScorePolicy`` awaits in http mode (flat body,
   ``params.explain`` 3, answer decoding and checks), on its default transport
   (``AsyncioHttp11Transport``) and on httpx's stock one (``http_transport="httpx"``);
2. ``httpx.AsyncClient.post`` of a pre-encoded body of the same bytes: httpx alone, stock transport;
3. the same bytes as a prebuilt ``httpx.Request`` handed to ``AsyncioHttp11Transport`` directly (what
   the client does), and through ``httpx.AsyncClient`` on that transport (what ``AsyncClient.send``
   itself costs);
4. the same bytes over a raw asyncio socket (``bench/loadgen/aioclient.py``'s reader): the model
   service's own round trip with next to no client.

(1) - (4) is what the Python HTTP client adds to every scored application in http mode.
Prints p50/p90/p99 per case; writes nothing outside ``bench/results/work``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable

import httpx
import numpy as np
import uvloop

from bench.compare_e2e import model_server
from bench.config import placement
from bench.loadgen.aioclient import encode_requests, read_response
from bench.procs import running
from bench.workspace import new_root, prepare
from riskscore.adapters.httpx.asyncio_transport import AsyncioHttp11Transport
from riskscore.adapters.httpx.model_client import HttpxModelClient
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.schema import FeatureVector


async def _time(fn: Callable[[int], Awaitable[object]], calls: int) -> str:
    for i in range(calls // 10):
        await fn(i)
    samples = np.empty(calls)
    for i in range(calls):
        started = time.perf_counter()
        await fn(i)
        samples[i] = time.perf_counter() - started
    p50, p90, p99 = np.percentile(samples * 1e6, [50, 90, 99])
    return f"p50 {p50:7.0f} us   p90 {p90:7.0f} us   p99 {p99:7.0f} us"


async def measure(url: str, rows: np.ndarray, calls: int) -> None:
    # Plain floats, as feature extraction gives them to the API (not numpy scalars).
    vectors = [FeatureVector(schema_version=SCHEMA.version, values=tuple(r)) for r in rows.tolist()]
    body = json.dumps({"data": [[0, *rows[0].tolist()]], "params": {"explain": 3}}).encode()
    client = HttpxModelClient(url)
    stock_client = HttpxModelClient(url, http_transport="httpx")
    raw = httpx.AsyncClient(base_url=url)
    light = AsyncioHttp11Transport()
    light_client = httpx.AsyncClient(base_url=url, transport=AsyncioHttp11Transport())
    predict_url = httpx.URL(url).copy_with(path="/predict-proba")
    json_headers = httpx.Headers({"Content-Type": "application/json"})
    timeouts = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}
    headers = {"Content-Type": "application/json"}
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(host, port)
    (request,) = encode_requests(host, port, "/predict-proba", [body])

    async def transport_call(_: int) -> None:
        request = httpx.Request(
            "POST", predict_url, headers=json_headers, content=body, extensions=timeouts
        )
        response = await light.handle_async_request(request)
        await response.aread()

    async def socket_call(_: int) -> None:
        writer.write(request)
        await read_response(reader)

    try:
        cases: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
            (
                "HttpxModelClient.predict (http mode)",
                lambda i: client.predict([vectors[i % len(vectors)]]),
            ),
            (
                "HttpxModelClient.predict, stock httpx",
                lambda i: stock_client.predict([vectors[i % len(vectors)]]),
            ),
            (
                "httpx.AsyncClient.post, same bytes",
                lambda _: raw.post("/predict-proba", content=body, headers=headers),
            ),
            (
                "AsyncClient.post on AsyncioHttp11",
                lambda _: light_client.post("/predict-proba", content=body, headers=headers),
            ),
            ("AsyncioHttp11Transport, same bytes", transport_call),
            ("raw asyncio socket, same bytes", socket_call),
        ]
        for name, fn in cases:
            print(f"{name:40} {await _time(fn, calls)}", flush=True)
    finally:
        writer.close()
        await client.aclose()
        await stock_client.aclose()
        await raw.aclose()
        await light.aclose()
        await light_client.aclose()


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--calls", type=int, default=2000)
    cli.add_argument("--uvloop", action="store_true", help="the client on uvloop, as the API runs")
    args = cli.parse_args()
    _, server_cpus = placement()
    ws = prepare(new_root(), n_train=2000, n_apps=200)
    server = model_server(
        "model-call", ws.riskscore_data_dir("model-call"), ws.root / "logs", server_cpus
    )
    with running(server):
        if server_cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(server_cpus))  # where the API runs in the benchmark
        print(f"model service and this client on CPU {server_cpus}; load average {os.getloadavg()}")
        loop = uvloop.new_event_loop if args.uvloop else asyncio.new_event_loop
        print(f"client event loop: {'uvloop' if args.uvloop else 'asyncio'}")
        with asyncio.Runner(loop_factory=loop) as runner:
            runner.run(measure(server.url, ws.features[:200], args.calls))


if __name__ == "__main__":
    main()
