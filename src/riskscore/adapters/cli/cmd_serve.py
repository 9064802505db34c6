"""``riskscore serve``: the scoring API on one port (uvicorn, uvloop + httptools).

Configuration comes from ``RISKSCORE_*`` (read once here); ``--data-dir`` overrides
``RISKSCORE_DATA_DIR`` and ``--workers`` overrides ``RISKSCORE_WORKERS``. The access log is off: the
API logs one structured line per request itself. SIGINT/SIGTERM stop it gracefully: no new
connections, in-flight requests finish, then the app's shutdown drains the audit trail (everything
answered reaches the stores, or stays journaled for the next start) and closes the model client.

``--workers 1`` (the default) serves in this process. ``--workers N`` binds the socket here and runs N
worker processes on it (``riskscore.adapters.http.api.workers``), each with its own container, model
and audit-trail journal; this process only supervises them, and a signal to it stops them all, each
draining its own journal. One Python process uses one core, so production runs one worker per core.
"""

from __future__ import annotations

import argparse

HELP = "Run the scoring API (POST /v1/score, /v1/service-function/score; GET /health, /metrics)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--data-dir", default=None, help="data directory (default: RISKSCORE_DATA_DIR)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="API processes sharing the port (default: RISKSCORE_WORKERS, else 1); "
        "production: one per core",
    )


def run(args: argparse.Namespace) -> int:
    import os

    import structlog
    import uvicorn

    from riskscore.adapters.http.api.app import create_app
    from riskscore.adapters.http.model_uvicorn import bind_socket, server_config
    from riskscore.adapters.logging import configure_logging
    from riskscore.adapters.parent_watch import watch_supervisor
    from riskscore.container import build_container
    from riskscore.settings import load_settings

    try:
        settings = load_settings(data_dir=args.data_dir, workers=args.workers)
    except ValueError as exc:
        print(f"riskscore serve: {exc}")
        return 2
    configure_logging(settings.log_format, settings.log_level)
    log = structlog.get_logger("riskscore.serve")
    watch_supervisor()  # under `riskscore up`: stop once it is gone
    # Worker processes read their settings from the environment: hand the overrides down.
    os.environ["RISKSCORE_DATA_DIR"] = settings.data_dir
    os.environ["RISKSCORE_WORKERS"] = str(settings.workers)
    app = None if settings.workers > 1 else create_app(build_container(settings))
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        log.error("api.bind_failed", host=args.host, port=args.port, error=str(exc))
        return 1
    log.info(
        "api.listening",
        host=args.host,
        port=sock.getsockname()[1],
        backend=settings.backend,
        model_client=settings.model_client,
        model_url=settings.model_url if settings.model_client == "http" else None,
        auth="api-key" if settings.api_key else "off",
        workers=settings.workers,
    )
    if app is None:
        from riskscore.adapters.http.api.workers import serve_workers

        try:
            return 0 if serve_workers(sock, settings.workers, log_level=settings.log_level) else 1
        finally:
            sock.close()
    server = uvicorn.Server(server_config(app, log_level=settings.log_level))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    # uvicorn re-raises SIGINT/SIGTERM after a graceful shutdown, so a signalled server exits by
    # that signal and never gets here; reaching here without having started means startup failed.
    return 0 if server.started else 1
