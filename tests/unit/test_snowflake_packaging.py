"""The core install stays free of Snowflake: snowflake-ml-python is only in the ``snowflake`` extra and
the local stack never imports a ``snowflake`` module (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9_.-]+)", requirement)
    assert match is not None, requirement
    return match[1].lower().replace("_", "-")


def test_snowflake_packages_are_only_in_the_snowflake_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = {
        extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()
    }
    assert "snowflake-ml-python" in extras["snowflake"]
    assert "snowflake-connector-python" in extras["snowflake"]
    assert not {n for n in core if n.startswith("snowflake")}
    holders = {extra for extra, names in extras.items() if "snowflake-ml-python" in names}
    assert holders == {"snowflake"}


def _snowflake_modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    # Compared with what the interpreter had before the code ran: a ``*-nspkg.pth`` file of the
    # Snowflake distributions may register the empty ``snowflake`` namespace at start-up already.
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "new = set(sys.modules) - before\n"
        "print(json.dumps(sorted(m for m in new if m == 'snowflake' or m.startswith('snowflake.'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_local_stack_imports_no_snowflake_module(tmp_path: Path) -> None:
    code = (
        "from riskscore.settings import load_settings\n"
        "from riskscore.container import build_container\n"
        "import riskscore.adapters.snowflake\n"
        "import riskscore.adapters.cli.main as cli\n"
        "cli.build_parser()\n"
        f"settings = load_settings({{}}, data_dir={str(tmp_path)!r})\n"
        "container = build_container(settings)\n"
        "container.feature_store().close()\n"
        "container.prediction_log().close()\n"
    )
    assert _snowflake_modules_after(code) == []


def test_the_check_sees_snowflake_when_the_snowflake_backend_is_built(tmp_path: Path) -> None:
    code = (
        "from riskscore.settings import load_settings\n"
        "from riskscore.container import build_container\n"
        f"settings = load_settings({{'RISKSCORE_BACKEND': 'snowflake'}}, data_dir={str(tmp_path)!r})\n"
        "container = build_container(settings)\n"
        "container.feature_store().close()\n"
    )
    loaded = _snowflake_modules_after(code)
    assert "snowflake.connector" not in loaded  # the connector itself loads on first connect
    code += "from riskscore.adapters.snowflake.connection import is_connectivity_error\nis_connectivity_error(ValueError())\n"
    assert "snowflake.connector" in _snowflake_modules_after(code)
