"""``python -m bench``: every comparison in one run, results to ``bench/results/latest.{json,md}``.

Order of a run: describe the machine; prepare the workspace (generate, train, register, write
bodies; ``bench/workspace.py``); then the parts in order e2e, serving, inference, features, audit,
each skipped with a note once the 10-minute budget is nearly spent; then goal verdicts, JSON and
Markdown. Servers are always stopped (``bench.procs.running``); a part that fails records its error
and the run goes on. The exit status is 1 when any system disagreed with the reference or a part
failed, so a fast wrong answer cannot pass unnoticed; a missed goal is a finding, not a failure.

A run of every part writes ``bench/results/latest.json`` and ``latest.md``; a run of some parts
writes ``bench/results/work/latest-<parts>.{json,md}`` (git-ignored) so ``latest.*`` always
describes one complete run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import compare_e2e, compare_inprocess, compare_serving, report
from bench.config import RunConfig
from bench.goals import verdicts
from bench.loadgen import wrk
from bench.machine import describe, load_average, mlflow_version
from bench.peers import mlflow_peer
from bench.workspace import WORK, Workspace, new_root, prepare

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("e2e", "serving", "inference", "features", "audit")
KEEP_RUNS = 3
BUSY_LOAD = 1.5
"""A 1-minute load average above this when the run starts gets a note in the results."""
# Rough seconds each part needs in a full run; a part is skipped when less than this is left.
NEEDS_S = {"e2e": 120, "serving": 60, "inference": 20, "features": 20, "audit": 20}


def placement_text(cfg: RunConfig, tool: str) -> str:
    if not cfg.load_cpus or not cfg.server_cpus:
        return (
            "none (fewer than 2 usable CPUs or no taskset): load generator and servers share CPUs"
        )
    return (
        f"{tool} on CPU {cfg.load_cpus[0]} (taskset); every server process of the system under test, "
        f"and the in-process parts, on CPU {cfg.server_cpus[0]}; the harness waits on CPU "
        f"{cfg.load_cpus[0]}"
    )


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def prune_runs(base: Path = WORK, keep: int = KEEP_RUNS, min_age_s: float = 3600.0) -> None:
    """Delete scratch runs beyond the newest ``keep``, but only those older than ``min_age_s``
    (other benchmark scripts create runs here too and may still be using theirs)."""
    runs = sorted(p for p in base.glob("run-*") if p.is_dir())
    now = time.time()
    for old in runs[:-keep]:
        if now - old.stat().st_mtime > min_age_s:
            shutil.rmtree(old, ignore_errors=True)


def max_client_cpu(node: object) -> float | None:
    """The highest ``client_cpu_share`` of any load run anywhere in ``node``."""
    found: list[float] = []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            share = x.get("client_cpu_share")
            if isinstance(share, int | float):
                found.append(float(share))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(node)
    return max(found, default=None)


def part_failed(part: object) -> bool:
    """A part (or one of its systems) recorded an error: equality failure, crash, or skip."""
    if not isinstance(part, dict):
        return True
    if part.get("error"):
        return True
    systems = part.get("systems")
    return isinstance(systems, dict) and any(
        isinstance(s, dict) and s.get("error") for s in systems.values()
    )


def run(
    parts: Sequence[str], cfg: RunConfig, out_dir: Path | None = None
) -> tuple[dict[str, object], int]:
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    tool = cfg.tool
    machine = describe()
    libraries = machine["libraries"]
    assert isinstance(libraries, dict)
    load_before = load_average()
    load_generator: dict[str, object] = {
        "tool": tool,
        "version": wrk.wrk_version() if tool == "wrk" else "bench/loadgen/aioclient.py",
        "script": "bench/loadgen/score.lua" if tool == "wrk" else "bench/loadgen/aioclient.py",
        "bodies": f"{cfg.n_apps} generated applications",
    }
    doc: dict[str, object] = {
        "schema": 1,
        "started_at": started_at.isoformat(timespec="seconds"),
        "run": cfg.describe(),
        "machine": machine,
        "load_before": load_before,
        "load_generator": load_generator,
        "placement": {
            "load_generator_cpus": cfg.load_cpus,
            "server_cpus": cfg.server_cpus,
            "description": placement_text(cfg, tool),
        },
    }
    results: dict[str, dict[str, object]] = {}
    notes: list[str] = []
    ws: Workspace | None = None
    root = new_root()
    try:
        needs_workspace = any(p != "audit" for p in parts)
        if needs_workspace:
            ws = prepare(root, n_train=cfg.n_train, n_apps=cfg.n_apps)
            doc["model"] = ws.model_info
            doc["setup_s"] = round(ws.setup_seconds, 1)
        if cfg.load_cpus and hasattr(os, "sched_setaffinity"):
            # From here the harness mostly waits on load runs: keep it off the server CPU.
            os.sched_setaffinity(0, set(cfg.load_cpus))
        if "serving" in parts:
            libraries["mlflow"] = mlflow_version(mlflow_peer.PY)
        runners: dict[str, Callable[[], dict[str, object]]] = {
            "e2e": lambda: compare_e2e.run(_ws(ws), cfg),
            "serving": lambda: compare_serving.run(_ws(ws), cfg),
            "inference": lambda: compare_inprocess.inference(_ws(ws), cfg),
            "features": lambda: compare_inprocess.features(_ws(ws), cfg),
            "audit": lambda: compare_inprocess.audit(cfg),
        }
        for name in PARTS:
            if name not in parts:
                continue
            need = NEEDS_S[name] // (3 if cfg.quick else 1)
            if cfg.remaining_s() < need:
                results[name] = {"error": f"skipped: {cfg.remaining_s():.0f} s left of the budget"}
                notes.append(f"{name} skipped: the 10-minute budget was nearly spent")
                continue
            part_started = time.perf_counter()
            print(f"bench: {name} ...", flush=True)
            try:
                results[name] = runners[name]()
            except Exception as exc:  # record and go on with the other parts
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            results[name]["elapsed_s"] = round(time.perf_counter() - part_started, 1)
    finally:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        prune_runs()
    doc["parts"] = results
    load_generator["max_cpu_share"] = max_client_cpu(results)
    doc["goals"] = verdicts(results)
    doc["load_after"] = load_average()
    doc["elapsed_s"] = round(time.perf_counter() - t0, 1)
    doc["work_dir"] = str(root.relative_to(RESULTS.parent.parent))
    if load_before and load_before[0] > BUSY_LOAD:
        notes.append(
            f"the machine was busy when the run started (1-minute load average {load_before[0]}, "
            f"above {BUSY_LOAD}): figures are noisier and slower than on an idle machine"
        )
    doc["notes"] = notes
    write_results(doc, parts, out_dir)
    failed = [name for name, part in results.items() if part_failed(part)]
    return doc, (1 if failed else 0)


def _ws(ws: Workspace | None) -> Workspace:
    if ws is None:
        raise RuntimeError("the workspace was not prepared")
    return ws


def write_results(doc: dict[str, object], parts: Sequence[str], out_dir: Path | None) -> Path:
    complete = set(parts) == set(PARTS)
    target = out_dir or (RESULTS if complete else WORK)
    target.mkdir(parents=True, exist_ok=True)
    stem = "latest" if complete else f"latest-{'-'.join(parts)}"
    write_atomically(target / f"{stem}.json", json.dumps(doc, indent=2, default=str) + "\n")
    write_atomically(target / f"{stem}.md", report.render(doc))
    return target / f"{stem}.json"
