"""``riskscore model-server`` as a process: starts on an empty registry, follows a promotion, stops
cleanly on SIGTERM."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from riskscore.adapters.http.model_uvicorn import bind_socket
from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.treemodel.toy import one_split_model
from riskscore.domain.features.catalogue import SCHEMA

pytestmark = pytest.mark.slow  # a Python process start and a few polls


class ServerProcess:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSCORE_")}
        env |= {"RISKSCORE_LOG_FORMAT": "json", "RISKSCORE_LOG_LEVEL": "INFO"}
        cli = [sys.executable, "-m", "riskscore.adapters.cli.main", "model-server"]
        self.proc = subprocess.Popen(
            [*cli, "--data-dir", str(data_dir), "--poll-interval", "0.05", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # uvicorn's own lines are not JSON; the reader skips them
            text=True,
            env=env,
        )
        self.events: list[dict[str, object]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def wait_for_event(self, name: str, timeout_s: float = 30.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in list(self.events):
                if event.get("event") == name:
                    return event
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {name} event; got {[e.get('event') for e in self.events]}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reader.join(timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    running = ServerProcess(tmp_path, "--port", "0")
    try:
        yield running, tmp_path
    finally:
        running.stop()


def wait_for_status(url: str, status: int, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.get(url, timeout=2.0)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_starts_empty_follows_a_promotion_and_stops_on_sigterm(
    server: tuple[ServerProcess, Path],
) -> None:
    process, data_dir = server
    listening = process.wait_for_event("model_server.listening")
    assert listening["model_version"] is None
    base_url = f"http://127.0.0.1:{listening['port']}"

    empty = httpx.get(base_url + "/health")
    assert empty.status_code == 503
    assert empty.headers["Retry-After"] == "1"

    registry = LocalFsModelRegistry(data_dir / "registry", expected_schema_version=SCHEMA.version)
    info = registry.register(
        one_split_model(feature_names=SCHEMA.names, feature_schema_version=SCHEMA.version),
        metrics={},
        params={},
        training_data_fingerprint="test",
    )
    registry.promote(info.version)

    health = wait_for_status(base_url + "/health", 200)
    assert health.status_code == 200
    assert health.json()["model_version"] == info.version
    row = [1.0] + [0.0] * (len(SCHEMA) - 1)
    answer = httpx.post(base_url + "/predict-proba", json={"data": [[0, *row]]})
    assert answer.status_code == 200
    [[index, obj]] = answer.json()["data"]
    assert index == 0
    assert obj["output_feature_1"] == pytest.approx(1 / (1 + math.exp(-1.0)))  # x0 > 0.5: +1

    assert process.stop() == 0
    assert process.wait_for_event("model_server.stopped")


def test_sigint_stops_it_cleanly_too(server: tuple[ServerProcess, Path]) -> None:
    process, _ = server
    process.wait_for_event("model_server.listening")
    assert process.stop(signal.SIGINT) == 0
    assert process.wait_for_event("model_server.stopped")


def test_a_port_in_use_is_a_clear_failure(tmp_path: Path) -> None:
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    try:
        process = ServerProcess(tmp_path, "--port", str(taken.getsockname()[1]))
        code = process.proc.wait(timeout=30)
        process.stop()
    finally:
        taken.close()
    assert code == 1
    assert process.wait_for_event("model_server.bind_failed")
