"""Part 1, end to end: ``POST /v1/score`` on riskscore (in-process model, and with the separate model
service) against the seed architecture (``bench/peers/seed_api.py`` + ``seed_model_service.py``).

For each system, one at a time (the others stopped): start its servers pinned to the server CPU,
wait for ``/health``, ask it the equality sample and compare with the reference (a system that
disagrees gets no timings), warm up, then

- **sequential latency**: one connection, each request sent when the previous answer arrived
  (``wrk -c1``), p50/p90/p99 over ``sequential_s`` seconds;
- **throughput at the p99 ceiling**: closed-loop runs at 1, 2, 4, ... connections, ``step_s`` seconds
  each, until p99 passes the ceiling; the figure is the highest rate among runs with p99 under the
  ceiling and no errors.

One more row, ``riskscore_inprocess_workers2``, runs ``riskscore serve --workers 2`` *unpinned*: both
workers and the load generator may use every core (so the load generator takes some of the servers'
CPU, and the figure is a floor for two dedicated cores). It is not comparable with the one-core rows
above it; it answers "what does this machine serve with one worker per core".

Every request is a generated application of typical size (20-60 Rx fills, median 33, about 11 KB of
Rx XML: ``workspace.typical_applications``), cycling over ``n_apps`` different ones.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.config import RunConfig
from bench.equality import compare
from bench.figures import get, ratio
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.procs import Server, free_port, running
from bench.workspace import Workspace, score_body

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "riskscore.adapters.cli.main"]


@dataclass
class System:
    key: str
    label: str
    servers: list[Server]
    path: str = "/v1/score"
    notes: list[str] = field(default_factory=list)
    unpinned: bool = False
    """Servers and load generator on every CPU (``every_cpu``) instead of one core each."""

    @property
    def front(self) -> Server:
        return self.servers[-1]


def clean_env(**extra: str) -> dict[str, str]:
    """The harness's environment without any ``RISKSCORE_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
    env.update(extra)
    return env


def model_server(
    name: str, data_dir: Path, logs: Path, cpus: Sequence[int] | None, port: int | None = None
) -> Server:
    """``riskscore model-server`` serving the registry under ``data_dir``, on a free port."""
    port = port or free_port()
    return Server(
        name,
        [*CLI, "model-server", "--port", str(port), "--data-dir", str(data_dir)],
        port=port,
        log_path=logs / f"{name}.log",
        env=clean_env(),
        cpus=cpus,
        cwd=ROOT,
    )


def every_cpu(cfg: RunConfig) -> RunConfig:
    """``cfg`` with the load generator (and servers) allowed on every CPU. Explicitly so: the harness
    pins itself to the load generator's CPU and its children would inherit that."""
    if not cfg.load_cpus:  # no pinning at all (--no-pin, one CPU or no taskset)
        return cfg
    cpus = tuple(range(os.cpu_count() or 1))
    return dataclasses.replace(cfg, load_cpus=cpus, server_cpus=cpus)


def systems(ws: Workspace, cfg: RunConfig) -> list[System]:
    logs = ws.root / "logs"
    cpus = cfg.server_cpus

    def server(
        name: str,
        argv: Sequence[str],
        port: int,
        env: dict[str, str],
        on: Sequence[int] | None = cpus,
    ) -> Server:
        return Server(
            name, argv, port=port, log_path=logs / f"{name}.log", env=env, cpus=on, cwd=ROOT
        )

    inproc_port = free_port()
    inproc = server(
        "riskscore-api-inprocess",
        [*CLI, "serve", "--port", str(inproc_port)],
        inproc_port,
        clean_env(
            RISKSCORE_DATA_DIR=str(ws.riskscore_data_dir("rs-inprocess")),
            RISKSCORE_MODEL_CLIENT="inprocess",
        ),
    )
    workers_port = free_port()
    workers2 = server(
        "riskscore-api-inprocess-workers2",
        [*CLI, "serve", "--port", str(workers_port), "--workers", "2"],
        workers_port,
        clean_env(
            RISKSCORE_DATA_DIR=str(ws.riskscore_data_dir("rs-inprocess-workers2")),
            RISKSCORE_MODEL_CLIENT="inprocess",
        ),
        on=every_cpu(cfg).server_cpus,
    )
    model_port, api_port = free_port(), free_port()
    http_dir = ws.riskscore_data_dir("rs-http")
    model_url = f"http://127.0.0.1:{model_port}"
    rs_model = model_server("riskscore-model-server", http_dir, logs, cpus, model_port)
    rs_api = server(
        "riskscore-api-http",
        [*CLI, "serve", "--port", str(api_port)],
        api_port,
        clean_env(
            RISKSCORE_DATA_DIR=str(http_dir),
            RISKSCORE_MODEL_CLIENT="http",
            RISKSCORE_MODEL_URL=model_url,
        ),
    )
    seed_model_port, seed_port = free_port(), free_port()
    seed_model = server(
        "seed-model-service",
        [
            sys.executable,
            "-m",
            "bench.peers.seed_model_service",
            "--estimator",
            str(ws.estimator_path),
            "--port",
            str(seed_model_port),
        ],
        seed_model_port,
        clean_env(),
    )
    seed_api = server(
        "seed-api",
        [
            sys.executable,
            "-m",
            "bench.peers.seed_api",
            "--model-url",
            f"http://127.0.0.1:{seed_model_port}",
            "--db",
            str(ws.root / "seed.sqlite3"),
            "--port",
            str(seed_port),
        ],
        seed_port,
        clean_env(),
    )
    return [
        System(
            "seed", "seed baseline (FastAPI + model service over httpx)", [seed_model, seed_api]
        ),
        System("riskscore_inprocess", "riskscore, in-process model", [inproc]),
        System(
            "riskscore_inprocess_workers2",
            "riskscore, in-process model, --workers 2, unpinned (load generator shares both cores)",
            [workers2],
            unpinned=True,
        ),
        System("riskscore_http", "riskscore + model service (httpx)", [rs_model, rs_api]),
    ]


def score_answers(url: str, ws: Workspace, n: int) -> tuple[dict[str, float], list[str]]:
    """Ask ``n`` applications one by one; (policy number -> risk score, problems seen)."""
    answers: dict[str, float] = {}
    problems: list[str] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for app in ws.apps[:n]:
            response = client.post("/v1/score", json=score_body(app))
            if response.status_code != 200:
                problems.append(f"{app.policy_number}: HTTP {response.status_code}")
                continue
            answers[app.policy_number] = float(response.json()["risk_score"])
    return answers, problems


def sweep(
    url: str, path: str, bodies: Path, cfg: RunConfig, levels: Sequence[int] | None = None
) -> list[LoadResult]:
    """Closed-loop runs at growing concurrency until p99 passes the ceiling or errors appear."""
    results = []
    for connections in levels or cfg.levels:
        result = run_load(
            LoadSpec(
                url=url,
                path=path,
                bodies=bodies,
                connections=connections,
                duration_s=cfg.step_s,
                cpus=cfg.load_cpus,
            ),
            cfg.tool,
        )
        results.append(result)
        if result.errors or result.p99_ms > cfg.p99_ceiling_ms:
            break
    return results


def best_under_ceiling(results: Sequence[LoadResult], ceiling_ms: float) -> LoadResult | None:
    eligible = [r for r in results if r.errors == 0 and r.p99_ms <= ceiling_ms]
    return max(eligible, key=lambda r: r.throughput_rps, default=None)


def sequential(url: str, path: str, bodies: Path, cfg: RunConfig, seconds: float) -> LoadResult:
    spec = LoadSpec(
        url=url, path=path, bodies=bodies, connections=1, duration_s=seconds, cpus=cfg.load_cpus
    )
    return run_load(spec, cfg.tool)


def measure(system: System, ws: Workspace, cfg: RunConfig) -> dict[str, object]:
    out: dict[str, object] = {
        "label": system.label,
        "servers": [s.name for s in system.servers],
    }
    if system.unpinned:
        cfg = every_cpu(cfg)
        out["cpus"] = {"servers": cfg.server_cpus, "load_generator": cfg.load_cpus}
    with running(*system.servers):
        url = system.front.url
        answers, problems = score_answers(url, ws, cfg.equality_n)
        check = compare(system.key, ws.reference_by_policy(cfg.equality_n), answers, cfg.tolerance)
        out["equality"] = check.summary() | {"http_problems": problems[:5]}
        if not check.ok:
            out["error"] = check.describe()
            return out
        sequential(url, system.path, ws.score_bodies, cfg, cfg.warmup_s)  # warm-up, discarded
        seq = sequential(url, system.path, ws.score_bodies, cfg, cfg.sequential_s)
        runs = sweep(url, system.path, ws.score_bodies, cfg)
    best = best_under_ceiling(runs, cfg.p99_ceiling_ms)
    out["sequential"] = seq.to_dict()
    out["sweep"] = [r.to_dict() for r in runs]
    out["at_ceiling"] = None if best is None else best.to_dict()
    out["peak_rps"] = round(max(r.throughput_rps for r in runs), 1)
    return out


def run(ws: Workspace, cfg: RunConfig, only: Sequence[str] | None = None) -> dict[str, object]:
    results: dict[str, object] = {}
    for system in systems(ws, cfg):
        if only and system.key not in only:
            continue
        if cfg.remaining_s() < 60:
            results[system.key] = {"label": system.label, "error": "skipped: time budget spent"}
            continue
        try:
            results[system.key] = measure(system, ws, cfg)
        except Exception as exc:  # one system failing must not lose the others' figures
            results[system.key] = {"label": system.label, "error": f"{type(exc).__name__}: {exc}"}
    return {"systems": results, "ratios": ratios(results)}


def ratios(results: dict[str, object]) -> dict[str, dict[str, float | None]]:
    """For each riskscore variant: seed p50 / riskscore p50 and riskscore rate / seed rate."""
    seed = results.get("seed")
    out: dict[str, dict[str, float | None]] = {}
    for key in ("riskscore_inprocess", "riskscore_inprocess_workers2", "riskscore_http"):
        ours = results.get(key)
        p50_seed, p50_ours = get(seed, "sequential", "p50_ms"), get(ours, "sequential", "p50_ms")
        rps_seed = get(seed, "at_ceiling", "throughput_rps")
        rps_ours = get(ours, "at_ceiling", "throughput_rps")
        out[key] = {
            "p50_speedup": ratio(p50_seed, p50_ours),
            "p99_speedup": ratio(
                get(seed, "sequential", "p99_ms"), get(ours, "sequential", "p99_ms")
            ),
            "throughput_ratio": ratio(rps_ours, rps_seed),
        }
    return out
