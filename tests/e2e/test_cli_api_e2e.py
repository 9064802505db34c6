"""End to end: ``riskscore score`` and ``riskscore up`` (what ``make run`` calls) as a user runs them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import clean_env
from http_contract_checks import MIB_SAMPLE, RX_SAMPLE, free_port

pytestmark = pytest.mark.slow

RISKSCORE = [sys.executable, "-m", "riskscore.adapters.cli.main"]


def riskscore(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RISKSCORE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_score_one_application_from_files(data_dir: Path, tmp_path: Path) -> None:
    mib, rx, bad = tmp_path / "mib.xml", tmp_path / "rx.xml", tmp_path / "bad.xml"
    mib.write_text(MIB_SAMPLE)
    rx.write_text(RX_SAMPLE)
    bad.write_text("<Response><oops>")
    env = clean_env(data_dir)
    files = ["--mib", str(mib), "--rx", str(rx)]

    human = riskscore(["score", "--policy", "TEST-001", *files], env)
    assert human.returncode == 0, human.stderr
    assert "policy TEST-001: risk score" in human.stdout
    assert "EVIDENCE_RISK_MODEL V1" in human.stdout

    as_json = riskscore(
        ["score", "--policy", "TEST-001", *files, "--json", "--as-of", "2024-02-29"], env
    )
    assert as_json.returncode == 0, as_json.stderr
    record = json.loads(as_json.stdout)
    assert record["as_of"] == "2024-02-29"
    assert record["source"] == "cli"
    assert record["risk_class"] in {"preferred", "standard", "substandard", "refer"}

    invalid = riskscore(["score", "--policy", "TEST-001", "--mib", str(bad), "--rx", str(rx)], env)
    assert invalid.returncode == 2
    assert "mib_xml" in invalid.stderr
    assert "oops" not in invalid.stderr + invalid.stdout

    missing = riskscore(
        ["score", "--policy", "P", "--mib", str(tmp_path / "no.xml"), "--rx", str(rx)], env
    )
    assert missing.returncode == 2

    no_model = riskscore(["score", "--policy", "P", *files], clean_env(tmp_path / "empty"))
    assert no_model.returncode == 1
    assert "riskscore train" in no_model.stderr


def test_up_trains_a_first_model_serves_the_printed_curl_and_stops_cleanly(tmp_path: Path) -> None:
    api_port, model_port = free_port(), free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [
                *RISKSCORE,
                "up",
                "--port",
                str(api_port),
                "--model-port",
                str(model_port),
                "--train-n",
                "400",
            ],
            env=clean_env(tmp_path / "data", RISKSCORE_LOG_FORMAT="console"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            output = wait_for_text(log_path, "Ctrl-C stops both services", up, timeout_s=300)
            assert "no model yet; training one on 400 synthetic applications" in output
            assert f"http://127.0.0.1:{api_port}/schema" in output
            assert f"http://127.0.0.1:{api_port}/metrics" in output
            assert f"http://127.0.0.1:{model_port}" in output
            curl = next(
                line.strip() for line in output.splitlines() if line.strip().startswith("curl ")
            )
            answer = subprocess.run(
                ["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True
            )
            body = json.loads(answer.stdout)
            assert body["policy_number"] == "TEST-001"
            assert body["model_version"] == "V1"
        finally:
            up.send_signal(signal.SIGTERM)
            code = up.wait(timeout=60)
    assert code == 0, log_path.read_text()
    for port in (api_port, model_port):
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    assert "api.stopped" in log_path.read_text()


def wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        output = path.read_text(errors="replace")
        if text in output:
            return output
        assert process.poll() is None, f"exited with {process.returncode}:\n{output[-3000:]}"
        time.sleep(0.25)
    raise AssertionError(f"{text!r} not seen within {timeout_s}s:\n{path.read_text()[-3000:]}")


@pytest.mark.parametrize("workers", [1, 2])
def test_the_services_of_a_killed_up_stop_and_free_their_ports(
    data_dir: Path, tmp_path: Path, workers: int
) -> None:
    """SIGKILL of ``up`` alone (it cannot pass that on): the model service and the API, each in a
    session of its own, notice and stop gracefully, so the next ``make run`` finds its ports."""
    api_port, model_port = free_port(), free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [*RISKSCORE, "up", "--port", str(api_port), "--model-port", str(model_port),
             "--workers", str(workers)],
            env=clean_env(data_dir, RISKSCORE_LOG_FORMAT="console"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        services: list[int] = []
        try:
            wait_for_text(log_path, "Ctrl-C stops both services", up, timeout_s=120)
            services = children(up.pid)
        finally:
            up.kill()
            up.wait(timeout=30)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(listening(p) for p in (api_port, model_port)):
            time.sleep(0.2)
        assert not [p for p in (api_port, model_port) if listening(p)], log_path.read_text()
    finally:
        for pid in services:  # whatever outlived the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    output = log_path.read_text()
    assert "api.stopped" in output  # a graceful stop: the audit trail drained
    assert "model_server.stopped" in output


def children(pid: int) -> list[int]:
    """``pid``'s child processes (the kernel's per-thread lists)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
