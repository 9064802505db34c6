"""deploy/: the SPCS specifications carry what SPCS requires, and the SQL and image agree with them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskscore.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SPECS = {
    "EVIDENCE_API_SERVICE": DEPLOY / "spcs" / "evidence_api_service.yaml",
    "RISK_MODEL_SVC": DEPLOY / "spcs" / "risk_model_svc.yaml",
}
# SPCS names (containers, endpoints, volumes): <= 63 characters, lowercase alphanumerics or '-',
# starting with a letter and ending with a letter or digit.
SPCS_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
IMAGE_PATH = re.compile(r"^/[a-z0-9_]+/[a-z0-9_]+/[a-z0-9_]+/[a-z0-9._/-]+:[A-Za-z0-9._-]+$")
MEMORY = re.compile(r"^\d+(\.\d+)?(M|Mi|G|Gi)$")


def _spec(service: str) -> dict[str, Any]:
    loaded = yaml.safe_load(SPECS[service].read_text())
    assert isinstance(loaded, dict)
    return loaded


def _container(service: str) -> dict[str, Any]:
    (container,) = _spec(service)["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _endpoint(service: str) -> dict[str, Any]:
    (endpoint,) = _spec(service)["spec"]["endpoints"]
    assert isinstance(endpoint, dict)
    return endpoint


def check_spec(document: dict[str, Any]) -> list[str]:
    """The problems SPCS would refuse a specification for (the subset riskscore relies on)."""
    problems: list[str] = []
    if set(document) - {"spec", "serviceRoles"}:
        problems.append(
            f"unknown top-level keys {sorted(set(document) - {'spec', 'serviceRoles'})}"
        )
    spec = document.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        problems.append("spec.containers is required")
    names = [c.get("name", "") for c in containers]
    for container in containers:
        name = container.get("name", "")
        if not SPCS_NAME.match(name):
            problems.append(f"bad container name {name!r}")
        if not IMAGE_PATH.match(str(container.get("image", ""))):
            problems.append(f"bad image path {container.get('image')!r}")
        for key, value in (container.get("env") or {}).items():
            if not isinstance(value, str):
                problems.append(f"env {key} must be a string")
        probe = container.get("readinessProbe")
        if probe is not None and (
            not isinstance(probe.get("port"), int) or not str(probe.get("path", "")).startswith("/")
        ):
            problems.append("readinessProbe needs an integer port and a path")
        for kind in ("requests", "limits"):
            memory = ((container.get("resources") or {}).get(kind) or {}).get("memory")
            if memory is not None and not MEMORY.match(str(memory)):
                problems.append(f"bad memory {memory!r}")
        for command in ("command", "args"):
            if command in container and not all(isinstance(a, str) for a in container[command]):
                problems.append(f"{command} must be a list of strings")
    if len(set(names)) != len(names):
        problems.append("container names must be unique")
    volumes = {v.get("name") for v in spec.get("volumes") or []}
    for volume in spec.get("volumes") or []:
        if not SPCS_NAME.match(volume.get("name", "")):
            problems.append(f"bad volume name {volume.get('name')!r}")
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                problems.append(f"volumeMount of an undeclared volume {mount.get('name')!r}")
    for endpoint in spec.get("endpoints") or []:
        if not SPCS_NAME.match(endpoint.get("name", "")):
            problems.append(f"bad endpoint name {endpoint.get('name')!r}")
        if not isinstance(endpoint.get("port"), int) or not 1 <= endpoint["port"] <= 65535:
            problems.append("endpoint port must be an integer in 1..65535")
        if endpoint.get("protocol", "HTTP") not in ("HTTP", "TCP"):
            problems.append("endpoint protocol must be HTTP or TCP")
    return problems


@pytest.mark.parametrize("service", sorted(SPECS))
def test_spec_has_what_spcs_requires(service: str) -> None:
    assert check_spec(_spec(service)) == []


def test_the_checker_finds_problems() -> None:
    bad = {
        "spec": {
            "containers": [
                {"name": "Bad_Name", "image": "riskscore:latest", "env": {"PORT": 8000}},
                {
                    "name": "x-",
                    "image": "/d/s/r/i:1",
                    "readinessProbe": {"port": "80", "path": "health"},
                },
            ],
            "endpoints": [{"name": "api", "port": 70000, "protocol": "UDP"}],
        }
    }
    problems = check_spec(bad)
    assert len(problems) == 7, problems


def test_the_api_service_serves_on_8000_with_the_snowflake_backend() -> None:
    container = _container("EVIDENCE_API_SERVICE")
    assert container["command"] == ["riskscore", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert _endpoint("EVIDENCE_API_SERVICE") == {
        "name": "api",
        "port": 8000,
        "protocol": "HTTP",
        "public": False,
    }
    assert container["readinessProbe"] == {"port": 8000, "path": "/health"}
    env = container["env"]
    assert env["RISKSCORE_BACKEND"] == "snowflake"
    assert env["RISKSCORE_MODEL_CLIENT"] == "http"
    # The bare DNS name of RISK_MODEL_SVC in the same schema ('_' becomes '-').
    assert env["RISKSCORE_MODEL_URL"] == "http://risk-model-svc:5000"


def test_the_model_service_serves_the_inference_endpoint_on_5000() -> None:
    container = _container("RISK_MODEL_SVC")
    assert container["command"] == [
        "riskscore",
        "model-server",
        "--host",
        "0.0.0.0",
        "--port",
        "5000",
    ]
    assert _endpoint("RISK_MODEL_SVC")["name"] == "inference"
    assert _endpoint("RISK_MODEL_SVC")["port"] == 5000
    assert container["readinessProbe"] == {"port": 5000, "path": "/health"}
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/var/lib/riskscore/registry"  # RISKSCORE_DATA_DIR + /registry
    assert container["env"]["RISKSCORE_DATA_DIR"] == "/var/lib/riskscore"


@pytest.mark.parametrize("service", sorted(SPECS))
def test_every_riskscore_variable_in_a_spec_is_a_known_setting(service: str) -> None:
    known = {f"RISKSCORE_{name.upper()}" for name in Settings.__struct_fields__}
    env = _container(service).get("env", {})
    assert {k for k in env if k.startswith("RISKSCORE_")} <= known


def test_the_model_url_points_at_the_model_service_port() -> None:
    url = _container("EVIDENCE_API_SERVICE")["env"]["RISKSCORE_MODEL_URL"]
    host = "RISK_MODEL_SVC".lower().replace("_", "-")
    assert url == f"http://{host}:{_endpoint('RISK_MODEL_SVC')['port']}"


def test_services_sql_inlines_exactly_the_yaml_specifications() -> None:
    sql = (DEPLOY / "sql" / "03_services.sql").read_text()
    for service, path in SPECS.items():
        match = re.search(
            rf"CREATE SERVICE IF NOT EXISTS \S*\b{service}\b.*?FROM SPECIFICATION \$\$(.*?)\$\$",
            sql,
            re.DOTALL,
        )
        assert match is not None, service
        assert yaml.safe_load(match[1]) == yaml.safe_load(path.read_text()), f"{service} drifted"


def test_both_services_share_one_image_and_one_compute_pool() -> None:
    images = {_container(s)["image"] for s in SPECS}
    assert len(images) == 1
    sql = (DEPLOY / "sql" / "03_services.sql").read_text()
    pools = set(re.findall(r"IN COMPUTE POOL (\w+)", sql))
    assert pools == {"RISKSCORE_POOL"}
    assert (
        "CREATE COMPUTE POOL IF NOT EXISTS RISKSCORE_POOL"
        in (DEPLOY / "sql" / "01_compute_pool.sql").read_text()
    )
    (image,) = images
    repository = image.split("/")[1:4]
    assert repository == ["riskscore", "ml_models", "riskscore_images"]
    assert (
        "RISKSCORE.ML_MODELS.RISKSCORE_IMAGES"
        in (DEPLOY / "sql" / "02_image_repository.sql").read_text()
    )


def test_the_stage_volume_exists_in_the_setup_sql() -> None:
    (volume,) = _spec("RISK_MODEL_SVC")["spec"]["volumes"]
    stage = volume["stageConfig"]["name"].lstrip("@")
    sql = (DEPLOY / "sql" / "02_image_repository.sql").read_text()
    assert f"CREATE STAGE IF NOT EXISTS {stage}" in sql
    assert "SNOWFLAKE_SSE" in sql  # stage volumes need server-side encryption


def test_dockerfile_builds_one_non_root_amd64_image_with_pinned_dependencies() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (.+)$", text, re.MULTILINE)
    assert froms
    assert all("--platform=linux/amd64" in f and "python:3.11-slim" in f for f in froms)
    assert re.search(r"pip install -c constraints\.txt", text)
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["riskscore"\]$', text, re.MULTILINE)
    # What the image copies is what the dockerignore lets through.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    copied = {
        part.rstrip("/").removeprefix("./")
        for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE)
        for part in line.split()
    }
    assert copied <= allowed
    assert "*" in ignore  # everything else (.venv, .git, data) stays out of the context
