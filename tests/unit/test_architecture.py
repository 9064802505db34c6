"""The layer rule (STYLE.md 1): domain and ports import no I/O library and no adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "riskscore"

IO_LIBRARIES = {
    "litestar",
    "httpx",
    "lxml",
    "sqlite3",
    "snowflake",
    "structlog",
    "uvicorn",
    "dependency_injector",
    "sklearn",
    "socket",
    "requests",
    "urllib",
    "http",
    "fakesnow",
    "subprocess",
    "asyncio",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["domain", "ports"])
def test_inner_layers_import_no_io_library(package: str) -> None:
    offenders = {
        f"{path.relative_to(SRC)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] in IO_LIBRARIES
        or name.startswith(("riskscore.adapters", "riskscore.container"))
    }
    assert not offenders, f"layer rule broken: {sorted(offenders)}"


def test_ports_do_not_import_use_cases() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in _modules("ports")
        if any(name.startswith("riskscore.domain.usecases") for name in _imports(path))
    ]
    assert not offenders


def test_domain_model_does_not_import_ports() -> None:
    """Only use cases may depend on ports; values and feature code stay port-free."""
    offenders = [
        str(path.relative_to(SRC))
        for path in _modules("domain")
        if "usecases" not in path.parts
        and any(name.startswith("riskscore.ports") for name in _imports(path))
    ]
    assert not offenders


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import lxml.etree\nfrom httpx import Client\n")
    assert {"lxml.etree", "httpx"} <= _imports(bad)
