"""Part 2, model serving: ``riskscore model-server`` against ``mlflow models serve`` (local env
manager, one worker) serving the same scikit-learn estimator.

Both get byte-identical request bodies: ``{"dataframe_split": {"columns": [141 feature names],
"data": [[...]]}}`` with 1 row or 100 rows (feature rows of the generated applications), posted to
riskscore's ``/predict-proba`` and MLflow's ``/invocations``. No ``params``: riskscore therefore
computes its default 3 reason codes per row, work MLflow does not do.

Equality first: P(class 1) of every row of the equality sample (single rows and two 100-row
batches) must match the reference. Then sequential latency (``wrk -c1``) for each shape, and the
rate of 1-row requests at 8 concurrent connections, and riskscore's 100-row latency without reason
codes (``"params": {"explain": 0}``), both for information (no goal on them).
"""

from __future__ import annotations

from typing import Any

import httpx

from bench.compare_e2e import model_server, sequential
from bench.config import RunConfig
from bench.equality import compare
from bench.figures import get, ratio
from bench.loadgen import LoadSpec, run_load
from bench.peers import mlflow_peer
from bench.procs import Server, free_port, running
from bench.workspace import Workspace
from riskscore.domain.features.catalogue import SCHEMA

BATCHES_CHECKED = 2


def p1_riskscore(answer: dict[str, Any]) -> list[float]:
    return [float(row[1]["output_feature_1"]) for row in answer["data"]]


def p1_mlflow(answer: dict[str, Any]) -> list[float]:
    return [float(row[1]) for row in answer["predictions"]]


class Peer:
    def __init__(self, key: str, label: str, server: Server, path: str, reader: Any) -> None:
        self.key, self.label, self.server, self.path, self.reader = key, label, server, path, reader


def peers(ws: Workspace, cfg: RunConfig) -> list[Peer]:
    logs = ws.root / "logs"
    data_dir = ws.riskscore_data_dir("rs-serving")
    rs = model_server("riskscore-model-server-serving", data_dir, logs, cfg.server_cpus)
    mlflow_port = free_port()
    model_dir = ws.root / "mlflow-model"
    mlflow = Server(
        "mlflow-serve",
        mlflow_peer.server_argv(model_dir, mlflow_port),
        port=mlflow_port,
        log_path=logs / "mlflow-serve.log",
        env=mlflow_peer.server_env(model_dir),
        cpus=cfg.server_cpus,
        health_path="/ping",
        start_timeout_s=180.0,
        cwd=ws.root,
    )
    return [
        Peer("riskscore", "riskscore model service", rs, "/predict-proba", p1_riskscore),
        Peer("mlflow", "MLflow scoring server", mlflow, "/invocations", p1_mlflow),
    ]


def answers(peer: Peer, ws: Workspace, n: int) -> tuple[dict[str, float], list[str]]:
    """Row key -> P(class 1) for ``n`` single-row bodies and two 100-row bodies."""
    got: dict[str, float] = {}
    problems: list[str] = []
    singles = ws.proba_bodies_1.read_text().splitlines()[:n]
    batches = ws.proba_bodies_100.read_text().splitlines()[:BATCHES_CHECKED]
    with httpx.Client(base_url=peer.server.url, timeout=60.0) as client:
        for kind, lines, size in (("1", singles, 1), ("100", batches, 100)):
            for i, line in enumerate(lines):
                response = client.post(
                    peer.path, content=line, headers={"Content-Type": "application/json"}
                )
                if response.status_code != 200:
                    problems.append(f"{kind}-row body {i}: HTTP {response.status_code}")
                    continue
                for j, p in enumerate(peer.reader(response.json())):
                    got[f"{kind}:{i * size + j}"] = p
    return got, problems


def reference(ws: Workspace, n: int) -> dict[str, float]:
    ref = {f"1:{i}": float(ws.reference[i]) for i in range(min(n, len(ws.reference)))}
    for i in range(min(BATCHES_CHECKED * 100, len(ws.reference) // 100 * 100)):
        ref[f"100:{i}"] = float(ws.reference[i])
    return ref


def measure(peer: Peer, ws: Workspace, cfg: RunConfig) -> dict[str, object]:
    out: dict[str, object] = {"label": peer.label, "path": peer.path}
    with running(peer.server):
        url = peer.server.url
        got, problems = answers(peer, ws, cfg.equality_n)
        check = compare(peer.key, reference(ws, cfg.equality_n), got, cfg.tolerance)
        out["equality"] = check.summary() | {"http_problems": problems[:5]}
        if not check.ok:
            out["error"] = check.describe()
            return out
        sequential(url, peer.path, ws.proba_bodies_1, cfg, cfg.warmup_s)
        out["rows_1"] = sequential(
            url, peer.path, ws.proba_bodies_1, cfg, cfg.sequential_s
        ).to_dict()
        sequential(url, peer.path, ws.proba_bodies_100, cfg, cfg.warmup_s)
        out["rows_100"] = sequential(
            url, peer.path, ws.proba_bodies_100, cfg, cfg.sequential_s
        ).to_dict()
        if peer.key == "riskscore":
            # For the analysis only (not a goal): the same 100 rows without reason codes, the
            # work MLflow's answer does not include.
            out["rows_100_no_reasons"] = sequential(
                url, peer.path, ws.proba_bodies_100_no_reasons, cfg, cfg.sequential_s / 2
            ).to_dict()
        concurrent = run_load(
            LoadSpec(
                url=url,
                path=peer.path,
                bodies=ws.proba_bodies_1,
                connections=8,
                duration_s=cfg.step_s,
                cpus=cfg.load_cpus,
            ),
            cfg.tool,
        )
        out["rows_1_c8"] = concurrent.to_dict()
    return out


def run(ws: Workspace, cfg: RunConfig) -> dict[str, object]:
    mlflow_peer.ensure_venv()
    model_dir = ws.root / "mlflow-model"
    if not model_dir.exists():
        mlflow_peer.save_model(ws.estimator_path, model_dir, SCHEMA.names)
    results: dict[str, object] = {}
    for peer in peers(ws, cfg):
        if cfg.remaining_s() < 45:
            results[peer.key] = {"label": peer.label, "error": "skipped: time budget spent"}
            continue
        try:
            results[peer.key] = measure(peer, ws, cfg)
        except Exception as exc:  # keep the other peer's figures
            results[peer.key] = {"label": peer.label, "error": f"{type(exc).__name__}: {exc}"}
    rs, ml = results.get("riskscore"), results.get("mlflow")
    ratios = {
        f"{shape}_{q}_speedup": ratio(get(ml, shape, f"{q}_ms"), get(rs, shape, f"{q}_ms"))
        for shape in ("rows_1", "rows_100")
        for q in ("p50", "p99")
    }
    ratios["rows_100_no_reasons_p50_speedup"] = ratio(
        get(ml, "rows_100", "p50_ms"), get(rs, "rows_100_no_reasons", "p50_ms")
    )
    ratios["rows_1_c8_throughput_ratio"] = ratio(
        get(rs, "rows_1_c8", "throughput_rps"), get(ml, "rows_1_c8", "throughput_rps")
    )
    return {
        "systems": results,
        "ratios": ratios,
        "request_bytes": {
            "rows_1": len(ws.proba_bodies_1.read_text().splitlines()[0]),
            "rows_100": len(ws.proba_bodies_100.read_text().splitlines()[0]),
        },
    }
