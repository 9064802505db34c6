"""Importing the composition root does not import what dependency-injector would for features
riskscore does not use (FastAPI alone cost 0.35-0.55 s of every command's start where it was
installed), and leaves those importable afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from riskscore import container

STAND_INS = {"fastapi": "params", "starlette": "requests", "werkzeug": "local", "yaml": None}
"""Each package dependency-injector looks for, and the module of it that it imports."""


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    """An environment where those packages are stand-ins that say when they are imported."""
    for name, module in STAND_INS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"print('imported {name}')\nSTAND_IN = 1\n")
        if module is not None:
            (tmp_path / name / f"{module}.py").write_text(
                "Depends = Request = LocalProxy = type('Marker', (), {})\n"
            )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    return env


def run(code: str, env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split("\n")[:-1]


def test_every_stand_in_is_one_the_container_hides() -> None:
    assert set(STAND_INS) == set(container._OPTIONAL_INTEGRATIONS)


def test_the_container_imports_none_of_them(stand_ins: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "import riskscore.container\n"
        f"print('loaded:', [n for n in {list(STAND_INS)!r} if n in sys.modules])\n"
        "import fastapi.params, starlette.requests, werkzeug.local, yaml\n"
        "print('afterwards:', fastapi.STAND_IN + starlette.STAND_IN + werkzeug.STAND_IN + yaml.STAND_IN)\n"
    )
    assert run(code, stand_ins) == [
        "loaded: []",
        "imported fastapi",
        "imported starlette",
        "imported werkzeug",
        "imported yaml",
        "afterwards: 4",
    ]


def test_one_imported_before_stays_as_it_was(stand_ins: dict[str, str]) -> None:
    code = (
        "import sys, fastapi\n"
        "before = sys.modules['fastapi']\n"
        "import riskscore.container\n"
        "print('same:', sys.modules['fastapi'] is before)\n"
    )
    assert run(code, stand_ins) == ["imported fastapi", "same: True"]
