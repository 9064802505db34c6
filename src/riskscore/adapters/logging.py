"""structlog configuration, called once by each entrypoint (never at import).

Evidence content (XML, drug names, codes) must never be passed to a logger: it is consumer-report data
under the FCRA. Log identifiers, counts, error types and timings only.

The JSON path is on every request, so it renders with msgspec straight to bytes and writes them to the
stream's binary buffer: measured about 2x cheaper per line (6.4 vs 11.2 us CPU to /dev/null) than structlog's default ``JSONRenderer``
(stdlib ``json``) printed through a flushed ``print``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import msgspec
import structlog

_encoder = msgspec.json.Encoder(enc_hook=repr)


def render_json_bytes(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    """One JSON object per line; a value msgspec cannot encode is written as its ``repr``."""
    return _encoder.encode(event_dict)


def configure_logging(
    fmt: Literal["json", "console"] = "json", level: str = "INFO", *, stream: TextIO | None = None
) -> None:
    """JSON lines to stdout in production, a console renderer in development."""
    level_no = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    out = sys.stdout if stream is None else stream
    binary = getattr(out, "buffer", None)
    logger_factory: Any
    renderer: structlog.types.Processor
    if fmt == "json" and binary is not None:
        out.flush()
        renderer = render_json_bytes
        logger_factory = structlog.BytesLoggerFactory(file=binary)
    else:
        renderer = (
            structlog.processors.JSONRenderer()
            if fmt == "json"
            else structlog.dev.ConsoleRenderer(colors=False)
        )
        logger_factory = structlog.PrintLoggerFactory(file=out)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=logger_factory,
        cache_logger_on_first_use=False,
    )
