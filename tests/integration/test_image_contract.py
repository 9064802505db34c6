"""The deployable image honours the HTTP contracts (health, scoring, service-function batches, model
service), and so do the same commands run as local processes.

The image test needs a Docker engine and skips cleanly without one. The local-process test runs the
same checks (``http_contract_checks``) against ``riskscore serve`` and ``riskscore model-server``, so
the checks never go stale on machines without Docker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_contract_checks import (
    RiskscoreProcess,
    check_all,
    free_port,
    riskscore_commands,
    wait_until_ready,
)

from riskscore.domain.features.catalogue import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
NEEDED = {"serve", "model-server", "train"}


@pytest.fixture
def docker_client() -> object:
    """A client of a reachable Docker engine, or a skip (never hangs: two-second ping)."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
    except Exception as exc:  # DockerException, connection refused, missing socket...
        pytest.skip(
            f"no Docker engine reachable ({type(exc).__name__}); the image contract needs one"
        )
    return client


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKSCORE_", "SNOWFLAKE_"))}
    env.update(extra)
    return env


def _train(data_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "riskscore.adapters.cli.main",
            "train",
            "--n",
            "2000",
            "--promote",
            "--data-dir",
            str(data_dir),
        ],
        env=_clean_env(RISKSCORE_LOG_FORMAT="console"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture
def trained_data_dir(tmp_path: Path) -> Path:
    missing = NEEDED - riskscore_commands()
    if missing:
        pytest.skip(f"riskscore {', '.join(sorted(missing))} not in this checkout yet")
    data_dir = tmp_path / "data"
    _train(data_dir)
    return data_dir


@pytest.mark.slow
@pytest.mark.docker
def test_the_image_serves_the_http_contracts(docker_client: object, trained_data_dir: Path) -> None:
    # docker_client comes first: without an engine the test skips before training a model.
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.image import DockerImage
    from testcontainers.core.network import Network

    trained_data_dir.chmod(0o777)
    for path in trained_data_dir.rglob("*"):
        path.chmod(0o777 if path.is_dir() else 0o666)
    with (
        DockerImage(
            path=str(ROOT), dockerfile_path="deploy/Dockerfile", tag="riskscore:contract-test"
        ) as image,
        Network() as network,
    ):
        model = (
            DockerContainer(str(image))
            .with_command("model-server --host 0.0.0.0 --port 5000")
            .with_volume_mapping(str(trained_data_dir), "/var/lib/riskscore", "rw")
            .with_network(network)
            .with_network_aliases("risk-model-svc")
            .with_exposed_ports(5000)
        )
        api = (
            DockerContainer(str(image))
            .with_command("serve --host 0.0.0.0 --port 8000")
            .with_env("RISKSCORE_MODEL_CLIENT", "http")
            .with_env("RISKSCORE_MODEL_URL", "http://risk-model-svc:5000")
            .with_network(network)
            .with_exposed_ports(8000)
        )
        with model, api:
            model_url = f"http://{model.get_container_host_ip()}:{model.get_exposed_port(5000)}"
            api_url = f"http://{api.get_container_host_ip()}:{api.get_exposed_port(8000)}"
            wait_until_ready(model_url, timeout_s=120)
            wait_until_ready(api_url, timeout_s=120)
            check_all(api_url, model_url, len(SCHEMA))


@pytest.fixture
def local_stack(trained_data_dir: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    model_port, api_port = free_port(), free_port()
    model_url, api_url = f"http://127.0.0.1:{model_port}", f"http://127.0.0.1:{api_port}"
    model = RiskscoreProcess(
        [
            "model-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(model_port),
            "--data-dir",
            str(trained_data_dir),
        ],
        _clean_env(),
        tmp_path / "model.log",
    )
    api = RiskscoreProcess(
        ["serve", "--host", "127.0.0.1", "--port", str(api_port)],
        _clean_env(
            RISKSCORE_DATA_DIR=str(tmp_path / "api"),
            RISKSCORE_MODEL_CLIENT="http",
            RISKSCORE_MODEL_URL=model_url,
        ),
        tmp_path / "api.log",
    )
    try:
        wait_until_ready(model_url)
        wait_until_ready(api_url)
        yield api_url, model_url
    finally:
        api.stop()
        model.stop()


@pytest.mark.slow
def test_local_processes_serve_the_same_http_contracts(local_stack: tuple[str, str]) -> None:
    api_url, model_url = local_stack
    check_all(api_url, model_url, len(SCHEMA))
