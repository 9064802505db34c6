"""The production log format: one JSON object per line, written as bytes."""

from __future__ import annotations

import io
import json

import structlog

from riskscore.adapters.logging import configure_logging


def test_json_lines_are_written_to_the_binary_buffer_with_level_and_time() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    configure_logging("json", "INFO", stream=stream)
    try:
        log = structlog.get_logger("t").bind(request_id="r-1")
        log.info("scored", status=200, total_ms=0.5, odd=object())
        log.debug("hidden")
    finally:
        structlog.reset_defaults()
    lines = raw.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "scored"
    assert record["level"] == "info"
    assert record["request_id"] == "r-1"
    assert record["status"] == 200
    assert record["odd"].startswith("<object object")
    assert record["timestamp"].endswith("Z")


def test_console_format_writes_text() -> None:
    stream = io.StringIO()
    configure_logging("console", "INFO", stream=stream)
    try:
        structlog.get_logger("t").warning("careful", n=3)
    finally:
        structlog.reset_defaults()
    assert "careful" in stream.getvalue()
    assert "n=3" in stream.getvalue()
