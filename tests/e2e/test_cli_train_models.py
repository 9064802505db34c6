"""``riskscore train`` and ``riskscore models`` as a user runs them: subprocesses on a data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.synthetic import write_dataset
from riskscore.domain.features.catalogue import SCHEMA

pytestmark = pytest.mark.slow


def _riskscore(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskscore.adapters.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def test_train_list_promote_rollback(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    first = _riskscore(
        "train", "--n", "1500", "--seed", "3", "--workers", "1", "--data-dir", data_dir
    )
    assert first.returncode == 0, first.stderr
    assert "registered EVIDENCE_RISK_MODEL V1 (default)" in first.stdout
    assert "held-out ROC AUC" in first.stdout

    # The registry location comes from RISKSCORE_DATA_DIR when --data-dir is absent.
    dataset = write_dataset(tmp_path / "dataset", 1200, 4)
    second = _riskscore(
        "train",
        "--data",
        str(dataset),
        "--workers",
        "1",
        "--json",
        env={"RISKSCORE_DATA_DIR": data_dir},
    )
    assert second.returncode == 0, second.stderr
    info = json.loads(second.stdout)
    assert (info["version"], info["is_default"]) == ("V2", False)
    assert info["params"]["data_source"] == "dataset"
    assert info["params"]["data_seed"] == "4"
    assert info["feature_schema_version"] == SCHEMA.version
    assert 0.5 < info["metrics"]["roc_auc"] <= 1.0

    table = _riskscore("models", "--data-dir", data_dir, "list")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["VERSION", "CREATED"]
    assert lines[1].split()[:2] == ["*", "V1"]
    assert lines[2].split()[0] == "V2"

    promoted = _riskscore("models", "--data-dir", data_dir, "promote", "V2")
    assert promoted.returncode == 0, promoted.stderr
    assert "default version is now V2" in promoted.stdout
    listed = json.loads(_riskscore("models", "--data-dir", data_dir, "--json", "list").stdout)
    assert [(v["version"], v["is_default"]) for v in listed] == [("V1", False), ("V2", True)]

    # What the model service would load now: the promoted version, scoring without sklearn.
    registry = LocalFsModelRegistry(
        Path(data_dir) / "registry", expected_schema_version=SCHEMA.version
    )
    assert registry.load().ref.version == "V2"

    back = _riskscore("models", "--data-dir", data_dir, "--json", "rollback")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout) == {"name": "EVIDENCE_RISK_MODEL", "default": "V1"}

    nothing_left = _riskscore("models", "--data-dir", data_dir, "rollback")
    assert nothing_left.returncode == 1
    assert "no earlier default" in nothing_left.stderr
    unknown = _riskscore("models", "--data-dir", data_dir, "promote", "V9")
    assert unknown.returncode == 1
    assert "V9" in unknown.stderr


def test_train_promote_and_bad_arguments(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    empty = _riskscore("models", "--data-dir", data_dir, "list")
    assert empty.returncode == 0
    assert "no versions" in empty.stdout
    too_few = _riskscore("train", "--n", "5", "--data-dir", data_dir)
    assert too_few.returncode == 2
    assert "--n must be at least 100" in too_few.stderr
    missing = _riskscore("train", "--data", str(tmp_path / "nowhere"), "--data-dir", data_dir)
    assert missing.returncode == 1
    assert "riskscore train:" in missing.stderr
    for _ in range(2):
        done = _riskscore(
            "train", "--n", "800", "--workers", "1", "--promote", "--json", "--data-dir", data_dir
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["is_default"] is True
    registry = LocalFsModelRegistry(Path(data_dir) / "registry", expected_schema_version=None)
    assert registry.default_version() == "V2"
