"""Importing the composition root does not import the web frameworks dependency-injector's wiring
looks for (FastAPI alone cost 0.35-0.55 s of every command's start where it was installed), and
leaves them importable afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def frameworks(tmp_path: Path) -> dict[str, str]:
    """An environment where fastapi, starlette and werkzeug are stand-in packages that say when
    they are imported."""
    for name in ("fastapi", "starlette", "werkzeug"):
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text(f"print('imported {name}')\nSTAND_IN = True\n")
    for module in ("params", "requests", "local"):
        for name in ("fastapi", "starlette", "werkzeug"):
            (tmp_path / name / f"{module}.py").write_text(
                f"import {name}\nDepends = Request = LocalProxy = type('Marker', (), {{}})\n"
            )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    return env


def run(code: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split("\n")[:-1]


def test_the_container_imports_no_web_framework(frameworks: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "import riskscore.container\n"
        "print('loaded:', sorted(n for n in ('fastapi', 'starlette', 'werkzeug') if n in sys.modules))\n"
        "import fastapi, starlette.requests, werkzeug\n"
        "print('afterwards:', fastapi.STAND_IN, starlette.STAND_IN, werkzeug.STAND_IN)\n"
    )
    assert run(code, frameworks) == [
        "loaded: []",
        "imported fastapi",
        "imported starlette",
        "imported werkzeug",
        "afterwards: True True True",
    ]


def test_a_framework_imported_before_stays_as_it_was(frameworks: dict[str, str]) -> None:
    code = (
        "import sys, fastapi\n"
        "before = sys.modules['fastapi']\n"
        "import riskscore.container\n"
        "print('same:', sys.modules['fastapi'] is before)\n"
    )
    assert run(code, frameworks) == ["imported fastapi", "same: True"]
