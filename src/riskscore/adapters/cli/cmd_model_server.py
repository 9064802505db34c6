"""``riskscore model-server``: the model service (Snowflake inference protocol) on one port.

Serves the registry's default version of the model from ``RISKSCORE_DATA_DIR``/registry and follows
promotions and rollbacks by polling (docs/model-service.md). An empty registry is not an error: the
service starts, ``/health`` answers 503 until a model is promoted, then the poll picks it up.
"""

from __future__ import annotations

import argparse

HELP = "Run the model service (POST /predict, /predict-proba; GET /health)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=5000, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--data-dir", default=None, help="data directory (default: RISKSCORE_DATA_DIR)"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.5,
        help="seconds between checks of the registry's default version",
    )


def run(args: argparse.Namespace) -> int:
    import structlog

    from riskscore.adapters.http.model_server import create_model_server_app
    from riskscore.adapters.http.model_uvicorn import bind_socket, serve
    from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
    from riskscore.adapters.logging import configure_logging
    from riskscore.adapters.parent_watch import watch_supervisor
    from riskscore.adapters.treemodel.serving import ServingModel
    from riskscore.domain.features.catalogue import SCHEMA
    from riskscore.settings import load_settings

    settings = load_settings(data_dir=args.data_dir)
    configure_logging(settings.log_format, settings.log_level)
    log = structlog.get_logger("riskscore.model_server")
    watch_supervisor()  # under `riskscore up`: stop once it is gone
    if args.poll_interval <= 0:
        log.error("model_server.bad_argument", argument="--poll-interval")
        return 2
    registry = LocalFsModelRegistry(settings.registry_dir, expected_schema_version=SCHEMA.version)
    serving = ServingModel(
        registry,
        schema=SCHEMA,
        model_name=settings.model_name,
        poll_interval_s=args.poll_interval,
    )
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        log.error("model_server.bind_failed", host=args.host, port=args.port, error=str(exc))
        return 1
    serving.start()

    def announce() -> None:
        log.info(
            "model_server.listening",
            host=args.host,
            port=sock.getsockname()[1],
            model_name=settings.model_name,
            model_version=serving.version,
            feature_schema_version=SCHEMA.version,
        )

    try:
        serve(
            create_model_server_app(serving),
            sock,
            log_level=settings.log_level,
            on_ready=announce,
        )
    finally:
        serving.stop()
        sock.close()
    log.info("model_server.stopped")
    return 0
