"""Model service round trips vs the in-process client, in one run on one machine.

Builds a tree model of production-like size (random splits over the real 141-feature schema: scoring
cost depends on the tree shapes, not on what they learned), registers and promotes it in a temporary
file-system registry, starts ``riskscore model-server --port 0`` as a separate process, and measures:

- raw HTTP round trip (``httpx.Client``, one keep-alive connection, pre-encoded flat body) to
  ``POST /predict-proba``, 1 row and 100 rows per request, p50/p99;
- ``HttpxModelClient.predict`` (the API's http-mode client: encode, round trip, decode, checks);
- ``InProcessModelClient.predict`` (the API's default) and ``TreeEnsembleModel.predict`` itself;
- the model service's Litestar app called directly over ASGI (its own cost: decode, parse, score,
  encode, framework), so the HTTP figures can be split into service work and transport.

Run: ``.venv/bin/python -m bench.model_service [--requests 2000] [--trees 200] [--depth 3]``.
Prints a table; writes ``bench/results/model_service.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from riskscore.adapters.http.model_server import create_model_server_app
from riskscore.adapters.httpx.model_client import HttpxModelClient
from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.treemodel.ensemble import RawTree, pack_trees
from riskscore.adapters.treemodel.inprocess_client import InProcessModelClient
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.adapters.treemodel.serving import ServingModel
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.schema import FeatureVector

RESULTS = Path(__file__).resolve().parent / "results"


def build_model(trees: int, depth: int, seed: int = 0) -> TreeEnsembleModel:
    """Complete binary trees of ``depth`` with random splits on random features of the schema."""
    rng = np.random.default_rng(seed)
    n_internal = 2**depth - 1
    n_nodes = 2 * n_internal + 1
    internal = np.arange(n_internal)
    left = np.concatenate([2 * internal + 1, np.full(n_internal + 1, -1)])
    right = np.concatenate([2 * internal + 2, np.full(n_internal + 1, -1)])
    raw = [
        RawTree(
            left=left,
            right=right,
            feature=rng.integers(0, len(SCHEMA), n_nodes),
            threshold=rng.integers(0, 4, n_nodes) + 0.5,
            missing_left=rng.random(n_nodes) < 0.5,
            value=rng.normal(0.0, 0.05, n_nodes),
            weight=rng.integers(1, 1000, n_nodes).astype(np.float64),
        )
        for _ in range(trees)
    ]
    return TreeEnsembleModel(
        pack_trees(raw, baseline=-2.0, n_features=len(SCHEMA), float32_inputs=False),
        feature_names=SCHEMA.names,
        feature_schema_version=SCHEMA.version,
    )


def feature_rows(n: int, seed: int = 1) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return rng.integers(-1, 6, size=(n, len(SCHEMA))).astype(np.float64)


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """``riskscore model-server --port 0``; the port comes from its ``model_server.listening`` log."""
    env = {**os.environ, "RISKSCORE_LOG_FORMAT": "json", "RISKSCORE_LOG_LEVEL": "INFO"}
    env.pop("RISKSCORE_DATA_DIR", None)
    cli = [sys.executable, "-m", "riskscore.adapters.cli.main", "model-server"]
    proc = subprocess.Popen(
        [*cli, "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    base_url = None
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "model_server.listening":
            base_url = f"http://127.0.0.1:{event['port']}"
            break
    if base_url is None:
        proc.kill()
        raise RuntimeError("model server did not start")
    # Keep reading its log so a full pipe never blocks the server.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    while httpx.get(base_url + "/health").status_code != 200:
        time.sleep(0.05)
    return proc, base_url


def stop_server(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


def percentiles(samples_s: list[float]) -> dict[str, float]:
    us = np.array(samples_s) * 1e6
    return {
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "mean_us": round(float(us.mean()), 1),
        "n": len(samples_s),
    }


Case = Callable[[], Awaitable[object] | object]


async def measure(cases: dict[str, Case], rounds: int, warmup: int) -> dict[str, dict[str, float]]:
    """Time every case once per round, round-robin, so a noisy neighbour hits all cases alike.

    Each round starts at the next case, so no case always runs first (cold after a round trip).
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases.items())
    for round_no in range(warmup + rounds):
        shift = round_no % len(order)
        for name, case in order[shift:] + order[:shift]:
            started = time.perf_counter()
            result = case()
            if inspect.isawaitable(result):
                await result
            elapsed = time.perf_counter() - started
            if round_no >= warmup:
                samples[name].append(elapsed)
    return {name: percentiles(s) for name, s in samples.items()}


def asgi_post(app: Any, path: str, body: bytes) -> Callable[[], Awaitable[None]]:
    """One POST straight into the ASGI app: the service's own cost, without sockets or uvicorn."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }

    async def call() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(dict(scope), receive, send)
        assert status == [200], status

    return call


def flat_body(rows: npt.NDArray[np.float64]) -> bytes:
    data = [[i, *row] for i, row in enumerate(rows.tolist())]
    return json.dumps({"data": data, "params": {"explain": 3}}).encode()


async def run_cases(
    serving: ServingModel, base_url: str, rows: npt.NDArray[np.float64], requests: int
) -> dict[str, dict[str, float]]:
    served = serving.current()
    assert served is not None
    inprocess = InProcessModelClient(serving)
    app = create_model_server_app(serving)
    http_client = HttpxModelClient(base_url)
    http = httpx.Client(base_url=base_url, headers={"Content-Type": "application/json"})

    def roundtrip(body: bytes) -> Callable[[], object]:
        def call() -> None:
            response = http.post("/predict-proba", content=body)
            assert response.status_code == 200, response.text

        return call

    def health() -> None:
        assert http.get("/health").status_code == 200

    results: dict[str, dict[str, float]] = {}
    try:
        for n_rows, rounds in ((1, requests), (100, max(50, requests // 10))):
            matrix = rows[:n_rows]
            vectors = [
                FeatureVector(schema_version=SCHEMA.version, values=tuple(r))
                for r in matrix.tolist()
            ]
            label = f"{n_rows} row" + ("s" if n_rows > 1 else "")
            cases: dict[str, Case] = {
                f"TreeEnsembleModel.predict, {label}": lambda m=matrix: served.predict(m),
                f"InProcessModelClient.predict, {label}": lambda v=vectors: inprocess.predict(v),
                f"model service app, no network, {label}": asgi_post(
                    app, "/predict-proba", flat_body(matrix)
                ),
                f"HTTP POST /predict-proba, {label}": roundtrip(flat_body(matrix)),
                f"HttpxModelClient.predict, {label}": lambda v=vectors: http_client.predict(v),
            }
            if n_rows == 1:
                cases["HTTP GET /health (baseline)"] = health
            results |= await measure(cases, rounds, warmup=max(20, rounds // 20))
    finally:
        http.close()
        await http_client.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="timed calls per 1-row case (100-row: a tenth)"
    )
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--depth", type=int, default=3)
    args = parser.parse_args()

    model = build_model(args.trees, args.depth)
    rows = feature_rows(100)
    with tempfile.TemporaryDirectory(prefix="riskscore-bench-") as tmp:
        data_dir = Path(tmp)
        registry = LocalFsModelRegistry(
            data_dir / "registry", expected_schema_version=SCHEMA.version
        )
        info = registry.register(
            model, metrics={}, params={"bench": "random-trees"}, training_data_fingerprint="bench"
        )
        registry.promote(info.version)
        serving = ServingModel(registry, schema=SCHEMA)
        serving.refresh()
        proc, base_url = start_server(data_dir)
        try:
            results = asyncio.run(run_cases(serving, base_url, rows, args.requests))
        finally:
            code = stop_server(proc)

    print(f"model: {args.trees} trees, depth {args.depth}, {len(SCHEMA)} features; explain=3")
    print("cases interleaved round-robin; HTTP cases against a separate server process")
    print(f"{'case':44} {'p50 us':>10} {'p99 us':>10} {'mean us':>10} {'n':>6}")
    for name, r in sorted(results.items()):
        print(f"{name:44} {r['p50_us']:>10} {r['p99_us']:>10} {r['mean_us']:>10} {r['n']:>6}")
    print(f"server exit code after SIGTERM: {code}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "model": {"trees": args.trees, "depth": args.depth, "features": len(SCHEMA)},
        "results": results,
        "server_exit_code": code,
    }
    (RESULTS / "model_service.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
