"""Where a server spends its time under the benchmark's load: pyinstrument around one server process.

Run: ``.venv/bin/python -m bench.profile TARGET [--seconds 10] [--connections 1]``, TARGET one of

- ``api``: ``riskscore serve`` with the in-process model, driven with ``POST /v1/score``;
- ``api-http``: ``riskscore serve`` in http mode (the model service runs unprofiled next to it);
- ``model-server-1`` / ``model-server-100``: ``riskscore model-server``, 1-row / 100-row bodies;
- ``seed-api`` / ``seed-model``: the seed baseline's API or model service.

It prepares a small workspace (``bench/workspace.py``), starts the target under ``python -m
pyinstrument`` on the server CPU, sends ``wrk`` load from the other CPU for ``--seconds``, stops the
server with SIGTERM (uvicorn exits cleanly, pyinstrument writes its report) and prints the report's
top. Reports go to ``bench/results/work/profile-<target>.txt``. Sampling covers the main thread,
which runs the event loop and every handler; time the loop spends waiting for the next request shows
as ``select``/``run_forever`` idle frames.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from bench.compare_e2e import CLI, ROOT, clean_env, sequential
from bench.config import RunConfig, placement
from bench.loadgen import LoadSpec, load_generator, run_load
from bench.procs import Server, free_port, running
from bench.workspace import WORK, new_root, prepare

TARGETS = ("api", "api-http", "model-server-1", "model-server-100", "seed-api", "seed-model")


def profiled(argv: list[str], out: Path, *, show_all: bool = False) -> list[str]:
    """``python -m pyinstrument -o OUT -r text -m MODULE ARGS`` for ``[python, -m, MODULE, ARGS]``."""
    assert argv[1] == "-m", argv
    options = ["-p", "show_all=true"] if show_all else []
    return [argv[0], "-m", "pyinstrument", "-o", str(out), "-r", "text", *options, "-m", *argv[2:]]


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("target", choices=TARGETS)
    cli.add_argument("--seconds", type=float, default=10.0)
    cli.add_argument("--connections", type=int, default=1)
    cli.add_argument("--show-all", action="store_true", help="library frames too (httpx, litestar)")
    cli.add_argument("--lines", type=int, default=80, help="lines of the report to print")
    args = cli.parse_args()

    load_cpus, server_cpus = placement()
    cfg = RunConfig(quick=True, tool=load_generator(), load_cpus=load_cpus, server_cpus=server_cpus)
    ws = prepare(new_root(), n_train=cfg.n_train, n_apps=cfg.n_apps)
    out = WORK / f"profile-{args.target}.txt"
    logs = ws.root / "logs"

    def server(name: str, argv: list[str], port: int, env: dict[str, str], profile: bool) -> Server:
        return Server(
            name,
            profiled(argv, out, show_all=args.show_all) if profile else argv,
            port=port,
            log_path=logs / f"{name}.log",
            env=env,
            cpus=server_cpus,
            cwd=ROOT,
            # uvicorn re-raises SIGTERM after its graceful shutdown, which kills pyinstrument
            # before it writes; SIGINT ends in a KeyboardInterrupt that pyinstrument survives.
            stop_signal=signal.SIGINT if profile else signal.SIGTERM,
        )

    model_port, port = free_port(), free_port()
    data_dir = ws.riskscore_data_dir(f"profile-{args.target}")
    model_url = f"http://127.0.0.1:{model_port}"
    servers: list[Server]
    path, bodies = "/v1/score", ws.score_bodies
    if args.target == "api":
        env = clean_env(RISKSCORE_DATA_DIR=str(data_dir))
        servers = [server("api", [*CLI, "serve", "--port", str(port)], port, env, True)]
    elif args.target == "api-http":
        model = [*CLI, "model-server", "--port", str(model_port), "--data-dir", str(data_dir)]
        env = clean_env(
            RISKSCORE_DATA_DIR=str(data_dir),
            RISKSCORE_MODEL_CLIENT="http",
            RISKSCORE_MODEL_URL=model_url,
        )
        servers = [
            server("model", model, model_port, clean_env(), False),
            server("api", [*CLI, "serve", "--port", str(port)], port, env, True),
        ]
    elif args.target.startswith("model-server"):
        argv = [*CLI, "model-server", "--port", str(port), "--data-dir", str(data_dir)]
        servers = [server("model", argv, port, clean_env(), True)]
        path = "/predict-proba"
        bodies = ws.proba_bodies_100 if args.target.endswith("100") else ws.proba_bodies_1
    else:
        seed_model = [
            sys.executable,
            "-m",
            "bench.peers.seed_model_service",
            "--estimator",
            str(ws.estimator_path),
            "--port",
            str(model_port),
        ]
        seed_api = [
            sys.executable,
            "-m",
            "bench.peers.seed_api",
            "--model-url",
            model_url,
            "--db",
            str(ws.root / "seed.sqlite3"),
            "--port",
            str(port),
        ]
        servers = [
            server("seed-model", seed_model, model_port, clean_env(), args.target == "seed-model"),
            server("seed-api", seed_api, port, clean_env(), args.target == "seed-api"),
        ]
    out.unlink(missing_ok=True)
    with running(*servers):
        url = servers[-1].url  # load always enters through the front server
        if args.connections == 1:
            result = sequential(url, path, bodies, cfg, args.seconds)
        else:
            result = run_load(
                LoadSpec(
                    url=url,
                    path=path,
                    bodies=bodies,
                    connections=args.connections,
                    duration_s=args.seconds,
                    cpus=load_cpus,
                ),
                cfg.tool,
            )
    print(
        f"{args.target}: {result.requests} requests in {result.duration_s:.1f} s at "
        f"{args.connections} connection(s), p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms,"
        f" {result.errors} errors"
    )
    if out.exists():
        print(f"profile: {out.relative_to(ROOT)}")
        print("\n".join(out.read_text().splitlines()[: args.lines]))
    else:
        print("no profile written (see the server log under", logs, ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
