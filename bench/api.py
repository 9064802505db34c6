"""The scoring API end to end: ``python -m bench.api [--duration 60] [--modes inprocess,http]``.

For each model-client mode (``inprocess``: the model in the API process; ``http``: the API calling
``riskscore model-server`` over httpx, as deployed), start the real servers (``riskscore serve`` and,
for ``http``, ``riskscore model-server``) on 127.0.0.1 with a freshly trained model, then measure
``POST /v1/score`` with the harness's load generator (``wrk`` with bench/loadgen/score.lua when it
is installed, else the asyncio+httpx client; ``--loadgen`` forces one):

- **sequential latency**: one keep-alive connection, each request sent when the previous answer
  arrived; p50/p90/p99 over ``--sequential-s`` seconds, for the two reference samples of DOMAIN.md
  and for typical generated applications (median ~1.5 KB of XML);
- **throughput**: closed-loop runs at 1, 2, 4, 8 and 16 connections (``--step-s`` each) with the
  typical applications; the best rate with no errors;
- **memory**: the API process's RSS sampled every second during a ``--duration``-second run at 8
  connections (60 s by default).

Logging stays as in production (one JSON line per request at INFO, to a file). Results are printed
and written to ``bench/results/api.json``; scratch data lives under ``bench/results/work/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench.compare_e2e import CLI, ROOT, clean_env
from bench.loadgen import LoadResult, LoadSpec, load_generator, run_load
from bench.procs import Server, free_port, running
from bench.workspace import Workspace, new_root, prepare, write_jsonl

RESULTS = Path(__file__).resolve().parent / "results" / "api.json"
MIB_SAMPLE = '<?xml version="1.0"?><Response><ResponseData>CODE1</ResponseData></Response>'
RX_SAMPLE = (
    '<?xml version="1.0"?><IntelRXResponse><DrugFill><DrugGenericName>METFORMIN'
    "</DrugGenericName></DrugFill></IntelRXResponse>"
)
LEVELS = (1, 2, 4, 8, 16)


def servers(mode: str, ws: Workspace) -> list[Server]:
    logs = ws.root / "logs"
    data_dir = ws.riskscore_data_dir(f"api-{mode}")
    api_port = free_port()
    env = {"RISKSCORE_DATA_DIR": str(data_dir), "RISKSCORE_MODEL_CLIENT": mode}
    chain: list[Server] = []
    if mode == "http":
        model_port = free_port()
        chain.append(
            Server(
                "model-server",
                [*CLI, "model-server", "--port", str(model_port)],
                port=model_port,
                log_path=logs / "model-server.log",
                env=clean_env(RISKSCORE_DATA_DIR=str(data_dir)),
                cwd=ROOT,
            )
        )
        env["RISKSCORE_MODEL_URL"] = f"http://127.0.0.1:{model_port}"
    chain.append(
        Server(
            f"api-{mode}",
            [*CLI, "serve", "--port", str(api_port)],
            port=api_port,
            log_path=logs / f"api-{mode}.log",
            env=clean_env(**env),
            cwd=ROOT,
        )
    )
    return chain


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def load(url: str, bodies: Path, connections: int, seconds: float, tool: str) -> LoadResult:
    spec = LoadSpec(
        url=url, path="/v1/score", bodies=bodies, connections=connections, duration_s=seconds
    )
    return run_load(spec, tool)


def summary(result: LoadResult) -> dict[str, object]:
    return {
        "connections": result.connections,
        "requests": result.requests,
        "errors": result.errors,
        "rps": round(result.throughput_rps, 1),
        "p50_ms": round(result.p50_ms, 3),
        "p90_ms": round(result.p90_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "client_cpu_share": result.client_cpu_share,
    }


def measure_mode(
    mode: str, ws: Workspace, samples: Path, args: argparse.Namespace
) -> dict[str, object]:
    chain = servers(mode, ws)
    with running(*chain):
        api = chain[-1]
        assert api.pid is not None
        rss_idle = rss_mb(api.pid)
        load(api.url, ws.score_bodies, 4, args.warmup_s, args.loadgen)  # warm caches and pools
        sequential = {
            "reference_samples": summary(
                load(api.url, samples, 1, args.sequential_s, args.loadgen)
            ),
            "typical_applications": summary(
                load(api.url, ws.score_bodies, 1, args.sequential_s, args.loadgen)
            ),
        }
        steps = [
            summary(load(api.url, ws.score_bodies, level, args.step_s, args.loadgen))
            for level in LEVELS
        ]
        clean = [s for s in steps if s["errors"] == 0]
        best = max(clean, key=lambda s: float(s["rps"])) if clean else None  # type: ignore[arg-type]
        rss: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(1.0):
                rss.append(rss_mb(api.pid))  # type: ignore[arg-type]

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        soak = load(api.url, ws.score_bodies, 8, args.duration, args.loadgen)
        done.set()
        sampler.join()
    return {
        "mode": mode,
        "sequential": sequential,
        "throughput_steps": steps,
        "best_throughput": best,
        "soak": {
            **summary(soak),
            "duration_s": args.duration,
            "rss_idle_mb": round(rss_idle, 1),
            "rss_first_mb": round(rss[0], 1) if rss else None,
            "rss_max_mb": round(max(rss), 1) if rss else None,
            "rss_last_mb": round(rss[-1], 1) if rss else None,
        },
    }


def render(doc: dict[str, object]) -> str:
    lines = [f"bench.api  loadgen={doc['loadgen']}  {doc['machine']}"]
    for result in doc["modes"]:  # type: ignore[attr-defined]
        lines.append(f"\n== model client: {result['mode']}")
        for name, s in result["sequential"].items():
            lines.append(
                f"sequential ({name}): p50 {s['p50_ms']:.3f} ms  p90 {s['p90_ms']:.3f} ms  "
                f"p99 {s['p99_ms']:.3f} ms  ({s['requests']} requests, {s['errors']} errors)"
            )
        for s in result["throughput_steps"]:
            lines.append(
                f"  c={s['connections']:>2}: {s['rps']:>8.1f} req/s  p50 {s['p50_ms']:.2f} ms  "
                f"p99 {s['p99_ms']:.2f} ms  errors {s['errors']}  "
                f"client CPU share {s['client_cpu_share']}"
            )
        best = result["best_throughput"]
        if best:
            lines.append(f"best throughput: {best['rps']} req/s at c={best['connections']}")
        soak = result["soak"]
        lines.append(
            f"soak {soak['duration_s']} s at c=8: {soak['rps']} req/s, p99 {soak['p99_ms']} ms, "
            f"errors {soak['errors']}; API RSS idle {soak['rss_idle_mb']} MB, first "
            f"{soak['rss_first_mb']} MB, max {soak['rss_max_mb']} MB, last {soak['rss_last_mb']} MB"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.splitlines()[0])
    cli.add_argument("--modes", default="inprocess,http", help="comma-separated model-client modes")
    cli.add_argument("--duration", type=float, default=60.0, help="RSS soak seconds (default 60)")
    cli.add_argument("--sequential-s", type=float, default=10.0)
    cli.add_argument("--step-s", type=float, default=5.0)
    cli.add_argument("--warmup-s", type=float, default=2.0)
    cli.add_argument("--n-train", type=int, default=3000, help="applications to train on")
    cli.add_argument("--n-apps", type=int, default=500, help="distinct request bodies")
    cli.add_argument("--loadgen", choices=("wrk", "asyncio"), default=None)
    args = cli.parse_args(argv)
    args.loadgen = args.loadgen or load_generator()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"inprocess", "http"}:
        cli.error("modes are inprocess and http")

    root = new_root()
    print(f"preparing a model and {args.n_apps} request bodies under {root} ...", flush=True)
    ws = prepare(root, n_train=args.n_train, n_apps=args.n_apps)
    samples = write_jsonl(
        root / "reference-samples.jsonl",
        [
            {"policy_number": "TEST-001", "mib_xml": MIB_SAMPLE, "rx_xml": RX_SAMPLE},
            {"policy_number": "TEST-002", "mib_xml": "<r/>", "rx_xml": "<r/>"},
        ],
    )
    started = time.perf_counter()
    doc: dict[str, object] = {
        "loadgen": args.loadgen,
        "machine": f"{platform.machine()} {platform.processor() or ''} python {sys.version.split()[0]}",
        "model": ws.model_info,
        "modes": [measure_mode(mode, ws, samples, args) for mode in modes],
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(render(doc))
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
