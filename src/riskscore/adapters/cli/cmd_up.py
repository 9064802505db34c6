"""``riskscore up``: the whole embedded stack in one command (what ``make run`` calls).

1. If the registry in ``RISKSCORE_DATA_DIR`` has no default model, train one on ``--train-n``
   synthetic applications with the training code (``train_and_register``) and promote it.
2. Start ``riskscore model-server --port MODEL_PORT`` and wait for its ``/health``.
3. Start ``riskscore serve --port PORT`` with ``RISKSCORE_MODEL_CLIENT=http`` pointing at that model
   service, as deployed on Snowflake (the API and the model are separate services there too), and
   wait for its ``/health``. ``--workers N`` (or ``RISKSCORE_WORKERS``) is passed through: N API
   processes, one per core in production.
4. Print the URLs and a copy-paste ``curl`` with the reference samples of DOMAIN.md.
5. Wait. Ctrl-C or SIGTERM stops the API first (it drains its audit trail), then the model service;
   a child that dies on its own stops the other one and ``up`` exits with 1. Killed outright
   (SIGKILL), ``up`` can stop nothing: each service watches it (``adapters/parent_watch.py``) and
   stops gracefully once it is gone, freeing its port.

The children inherit stdout/stderr, so their logs show in the same terminal (console format unless
``RISKSCORE_LOG_FORMAT`` says otherwise).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

HELP = "Train a first model if needed, start the model service and the API, and wait."

DEFAULT_TRAIN_N = 4000
"""Synthetic applications for the first model: about 10 s on two cores (ROC AUC ~0.78 held out)."""
STOP_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 120.0

MIB_SAMPLE = '<?xml version="1.0"?><Response><ResponseData>CODE1</ResponseData></Response>'
RX_SAMPLE = (
    '<?xml version="1.0"?><IntelRXResponse><DrugFill><DrugGenericName>METFORMIN'
    "</DrugGenericName></DrugFill></IntelRXResponse>"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="API port")
    parser.add_argument("--model-port", type=int, default=5000, help="model service port")
    parser.add_argument("--host", default="127.0.0.1", help="interface both services listen on")
    parser.add_argument(
        "--data-dir", default=None, help="data directory (default: RISKSCORE_DATA_DIR)"
    )
    parser.add_argument(
        "--train-n",
        type=int,
        default=DEFAULT_TRAIN_N,
        help="synthetic applications to train the first model on (only when none is registered)",
    )
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="API processes (default: RISKSCORE_WORKERS, else 1); production: one per core",
    )


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run(args: argparse.Namespace) -> int:
    from riskscore.settings import load_settings

    try:
        settings = load_settings(data_dir=args.data_dir, workers=args.workers)
    except ValueError as exc:
        print(f"riskscore up: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(settings.data_dir).resolve()
    signal.signal(signal.SIGTERM, _raise_stop)
    children: list[subprocess.Popen[bytes]] = []
    try:
        _ensure_model(data_dir, settings.model_name, args.train_n, args.seed)
        env = _child_env(os.environ, data_dir)
        model_url = f"http://{args.host}:{args.model_port}"
        api_url = f"http://{args.host}:{args.port}"
        children.append(
            _spawn(["model-server", "--host", args.host, "--port", str(args.model_port)], env)
        )
        _wait_ready(model_url, children)
        api_env = {**env, "RISKSCORE_MODEL_CLIENT": "http", "RISKSCORE_MODEL_URL": model_url}
        children.append(_spawn(serve_argv(args.host, args.port, args.workers), api_env))
        _wait_ready(api_url, children)
        print(banner(api_url, model_url, data_dir, with_key=bool(settings.api_key)), flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
        print("riskscore up: a service stopped on its own; stopping the other", file=sys.stderr)
        return 1
    except (_Stop, KeyboardInterrupt):
        return 0
    except _NotReady as exc:
        print(f"riskscore up: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the drain short
        _stop_all(children)


def serve_argv(host: str, port: int, workers: int | None) -> list[str]:
    """The ``riskscore serve`` arguments; without ``workers`` the API reads RISKSCORE_WORKERS."""
    argv = ["serve", "--host", host, "--port", str(port)]
    return argv if workers is None else [*argv, "--workers", str(workers)]


def _ensure_model(data_dir: Path, model_name: str, n: int, seed: int) -> None:
    from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
    from riskscore.domain.features.catalogue import SCHEMA

    registry = LocalFsModelRegistry(data_dir / "registry", expected_schema_version=SCHEMA.version)
    if registry.default_version(model_name) is not None:
        return
    from riskscore.adapters.treemodel.training import generated_training_data, train_and_register

    print(f"riskscore up: no model yet; training one on {n} synthetic applications...", flush=True)
    started = time.monotonic()
    info, result = train_and_register(
        registry, generated_training_data(n, seed), promote=True, name=model_name
    )
    print(
        f"riskscore up: registered {info.name} {info.version} "
        f"(ROC AUC {result.metrics.get('roc_auc', float('nan')):.3f}, "
        f"{time.monotonic() - started:.0f} s)",
        flush=True,
    )


def _child_env(environ: Mapping[str, str], data_dir: Path) -> dict[str, str]:
    from riskscore.adapters.parent_watch import SUPERVISOR_PID_ENV

    env = dict(environ)
    env["RISKSCORE_DATA_DIR"] = str(data_dir)
    env.setdefault("RISKSCORE_LOG_FORMAT", "console")
    # Each service watches `up` and stops (SIGTERM: gracefully) once it is gone: killed outright,
    # `up` cannot stop them, and they kept its ports.
    env[SUPERVISOR_PID_ENV] = str(os.getpid())
    return env


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "riskscore.adapters.cli.main", *argv]
    # Own process group: a terminal's Ctrl-C reaches only `up`, which then stops the children in
    # order (API first, so it drains its audit trail while the model service is still there).
    return subprocess.Popen(command, env=env, start_new_session=True)


class _NotReady(Exception):
    pass


def _wait_ready(url: str, children: list[subprocess.Popen[bytes]]) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                raise _NotReady(f"{shlex.join(map(str, child.args))} exited ({child.returncode})")  # type: ignore[arg-type]
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise _NotReady(f"{url}/health did not answer 200 within {READY_TIMEOUT_S:.0f} s")


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in reversed(children):  # the API first, then the model service
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def curl_example(api_url: str, *, with_key: bool = False) -> str:
    import json

    body = json.dumps(
        {"policy_number": "TEST-001", "mib_xml": MIB_SAMPLE, "rx_xml": RX_SAMPLE},
        separators=(", ", ": "),
    )
    parts = ["curl", "-s", f"{api_url}/v1/score", "-H", "Content-Type: application/json"]
    command = shlex.join(parts)
    if with_key:
        command += ' -H "X-API-Key: $RISKSCORE_API_KEY"'
    return f"{command} -d {shlex.quote(body)}"


def banner(api_url: str, model_url: str, data_dir: Path, *, with_key: bool = False) -> str:
    return "\n".join(
        [
            "",
            "riskscore is up",
            f"  API            {api_url}/v1/score",
            f"  batch (SQL)    {api_url}/v1/service-function/score",
            f"  OpenAPI        {api_url}/schema  ({api_url}/schema/openapi.json)",
            f"  metrics        {api_url}/metrics",
            f"  health         {api_url}/health",
            f"  model service  {model_url}/predict-proba  (health {model_url}/health)",
            f"  data           {data_dir}",
            "",
            "Try it:",
            "  " + curl_example(api_url, with_key=with_key),
            "",
            "Ctrl-C stops both services.",
            "",
        ]
    )
