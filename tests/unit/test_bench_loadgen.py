"""The load generators: wrk's ``score.lua`` and the asyncio fallback send every body, POST to the given
path, and report counts and percentiles the harness can read."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from bench.loadgen import LoadSpec, run_load
from bench.loadgen.wrk import LoadGenError, command, parse_output

SAMPLE = (
    "Running 1s test @ http://127.0.0.1:1\n"
    'WRK_JSON {"requests": 2000, "duration_us": 2000000, "bytes": 1, "errors": {"connect": 0, '
    '"read": 0, "write": 0, "status": 5, "timeout": 1}, "latency_us": {"min": 100.0, "max": 9000.0, '
    '"mean": 700.0, "stdev": 10.0, "percentiles": {"50": 500.0, "90": 900.0, "99": 4000.0, '
    '"99.9": 8000.0}}}\n'
)


def test_parse_output_reads_counts_errors_and_percentiles() -> None:
    result = parse_output(SAMPLE, connections=4)

    assert result.tool == "wrk"
    assert result.connections == 4
    assert result.requests == 2000
    assert result.errors == 6
    assert result.duration_s == 2.0
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (0.5, 0.9, 4.0)
    assert result.throughput_rps == pytest.approx((2000 - 6) / 2.0)
    assert result.to_dict()["throughput_rps"] == 997.0


def test_parse_output_without_the_marker_is_an_error() -> None:
    with pytest.raises(LoadGenError, match="WRK_JSON"):
        parse_output("Running 1s test\n", connections=1)


def test_command_pins_wrk_and_passes_bodies_and_path() -> None:
    spec = LoadSpec(
        url="http://127.0.0.1:9",
        path="/v1/score",
        bodies=Path("/tmp/b.jsonl"),
        connections=8,
        duration_s=2.5,
        cpus=(0,),
    )

    argv = command(spec)

    assert argv[:3] == ["taskset", "-c", "0"]
    assert "-c8" in argv
    assert "-t1" in argv
    assert "-d3s" in argv
    assert argv[-3:] == ["--", "/tmp/b.jsonl", "/v1/score"]


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as both generators expect
    seen: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.seen.append((self.path, body))
        answer = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _bodies(tmp_path: Path) -> tuple[Path, list[bytes]]:
    docs = [{"policy_number": f"P-{i}", "n": i} for i in range(3)]
    path = tmp_path / "bodies.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path, [json.dumps(d).encode() for d in docs]


@pytest.mark.parametrize(
    "tool",
    [
        pytest.param(
            "wrk",
            marks=pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed"),
        ),
        "asyncio",
    ],
)
def test_generators_cycle_over_every_body_to_the_path(
    tool: str, server: str, tmp_path: Path
) -> None:
    bodies, expected = _bodies(tmp_path)

    result = run_load(
        LoadSpec(url=server, path="/v1/score", bodies=bodies, connections=2, duration_s=1.0),
        tool,
    )

    assert result.tool == tool
    assert result.client_cpu_share is not None
    assert 0.0 < result.client_cpu_share < 2.0
    assert result.errors == 0
    assert result.requests > 3
    assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
    paths = {path for path, _ in _Recorder.seen}
    sent = {body for _, body in _Recorder.seen}
    assert paths == {"/v1/score"}
    assert sent == set(expected)
