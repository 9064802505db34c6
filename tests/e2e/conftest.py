"""Fixtures for end-to-end tests of the API as a user runs it: real processes on 127.0.0.1.

A small model is trained once per session through the training API (few trees, few applications:
seconds, not minutes) and copied into each test's own ``RISKSCORE_DATA_DIR``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from http_contract_checks import RiskscoreProcess, free_port, wait_until_ready

from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.treemodel.training import (
    DEFAULT_PARAMS,
    generated_training_data,
    train_and_register,
)
from riskscore.domain.features.catalogue import SCHEMA

SMALL_MODEL = {**DEFAULT_PARAMS["hgb"], "max_iter": 25}


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trained") / "registry"
    registry = LocalFsModelRegistry(root, expected_schema_version=SCHEMA.version)
    data = generated_training_data(800, seed=11, workers=1)
    train_and_register(registry, data, params=SMALL_MODEL, promote=True)
    return root


def with_model(directory: Path, trained_registry: Path) -> Path:
    """A fresh data directory holding a copy of the trained registry."""
    shutil.copytree(trained_registry, directory / "registry")
    return directory


@pytest.fixture
def data_dir(tmp_path: Path, trained_registry: Path) -> Path:
    return with_model(tmp_path / "data", trained_registry)


@pytest.fixture(scope="module")
def module_data_dir(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Path:
    return with_model(tmp_path_factory.mktemp("module") / "data", trained_registry)


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKSCORE_", "SNOWFLAKE_"))}
    env.update({"RISKSCORE_DATA_DIR": str(data_dir), "RISKSCORE_LOG_FORMAT": "json", **extra})
    return env


class Service:
    """A running ``riskscore <command>`` on a fixed port; ``restart`` keeps port and settings."""

    def __init__(self, command: str, port: int, env: dict[str, str], log_dir: Path) -> None:
        self.command = command
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.log_dir = log_dir
        self.starts = 0
        self.process: RiskscoreProcess | None = None

    def start(self, *, wait: bool = True) -> Service:
        self.starts += 1
        log = self.log_dir / f"{self.command}-{self.port}-{self.starts}.log"
        self.process = RiskscoreProcess(
            [self.command, "--host", "127.0.0.1", "--port", str(self.port)], self.env, log
        )
        if wait:
            wait_until_ready(self.url, timeout_s=90.0)
        return self

    def stop(self) -> int:
        assert self.process is not None
        return self.process.stop()

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
        assert self.process is not None
        self.process.process.kill()
        self.process.process.wait(timeout=15)

    def output(self) -> str:
        return "" if self.process is None else self.process.output()


ServiceFactory = Callable[..., Service]


@contextmanager
def running_services(log_dir: Path) -> Iterator[ServiceFactory]:
    """``start("serve", env)`` starts a service on a free port; all are stopped at the end."""
    started: list[Service] = []

    def start(command: str, env: dict[str, str], *, wait: bool = True) -> Service:
        service = Service(command, free_port(), env, log_dir)
        started.append(service)
        return service.start(wait=wait)

    try:
        yield start
    finally:
        for service in reversed(started):
            if service.process is not None:
                service.process.stop()  # SIGTERM if still running; closes the log file


@pytest.fixture
def services(tmp_path: Path) -> Iterator[ServiceFactory]:
    with running_services(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def module_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceFactory]:
    with running_services(tmp_path_factory.mktemp("logs")) as start:
        yield start
