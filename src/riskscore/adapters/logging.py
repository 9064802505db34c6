"""structlog configuration, called once by each entrypoint (never at import).

Evidence content (XML, drug names, codes) must never be passed to a logger: it is consumer-report data
under the FCRA. Log identifiers, counts, error types and timings only.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog


def configure_logging(
    fmt: Literal["json", "console"] = "json", level: str = "INFO", *, stream: TextIO | None = None
) -> None:
    """JSON lines to stdout in production, a console renderer in development."""
    level_no = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout if stream is None else stream),
        cache_logger_on_first_use=False,
    )
