"""The machine a run measured: CPU model, cores, memory, Python and library versions, load average."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def mlflow_version(venv_python: Path) -> str | None:
    if not venv_python.exists():
        return None
    out = subprocess.run(
        [str(venv_python), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return out.stdout.strip() or None


def describe() -> dict[str, object]:
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    libraries = {
        name: _version(name)
        for name in (
            "riskscore",
            "numpy",
            "scikit-learn",
            "lxml",
            "msgspec",
            "litestar",
            "uvicorn",
            "uvloop",
            "httptools",
            "httpx",
            "fastapi",
            "pydantic",
        )
    }
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cpus": affinity,
        "memory_gib": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "libraries": libraries,
    }


def one_line(machine: dict[str, object]) -> str:
    """``Intel(R) Xeon(R) Processor, 2 cores, 7.7 GiB, Python 3.11.2, Linux 6.1``."""
    mem = machine.get("memory_gib")
    return ", ".join(
        part
        for part in (
            str(machine.get("cpu_model")),
            f"{machine.get('cores')} cores",
            f"{mem} GiB" if mem else "",
            f"Python {machine.get('python')}",
            str(machine.get("os")),
        )
        if part
    )
