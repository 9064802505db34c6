"""``LocalFsModelRegistry`` specifics: layout, crash safety, loading without pickle or sklearn."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from riskscore.adapters.localfs import model_registry as localfs
from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.adapters.treemodel.toy import one_split_model
from riskscore.ports.model_registry import InvalidModelName, ModelNotFound, ModelRegistryError

NAME = "EVIDENCE_RISK_MODEL"


def model(leaf: float = 1.0) -> TreeEnsembleModel:
    return one_split_model(-leaf, leaf, feature_schema_version="s1")


def register(registry: LocalFsModelRegistry, leaf: float = 1.0, **kwargs: object) -> str:
    info = registry.register(
        model(leaf), metrics={}, params={}, training_data_fingerprint="fp", **kwargs
    )
    return info.version


@pytest.fixture
def registry(tmp_path: Path) -> LocalFsModelRegistry:
    return LocalFsModelRegistry(tmp_path / "reg", expected_schema_version="s1")


def leftovers(registry: LocalFsModelRegistry) -> list[str]:
    return sorted(p.name for p in (registry.root / NAME).glob(".tmp-*"))


def test_layout(registry: LocalFsModelRegistry) -> None:
    estimator = {"stand_in_for": "a fitted scikit-learn estimator"}  # any joblib-able object
    register(registry, estimator=estimator)
    register(registry, 2.0)
    base = registry.root / NAME
    assert sorted(p.name for p in (base / "V1").iterdir()) == [
        "estimator.joblib",
        "metadata.json",
        "model.npz",
    ]
    assert sorted(p.name for p in (base / "V2").iterdir()) == ["metadata.json", "model.npz"]
    assert json.loads((base / "default.json").read_text()) == {"history": ["V1"]}
    assert json.loads((base / "V1" / "metadata.json").read_text())["version"] == "V1"
    assert registry.load_estimator("V1") == estimator
    with pytest.raises(ModelNotFound):
        registry.load_estimator("V2")


def test_a_failure_while_writing_leaves_no_version(
    registry: LocalFsModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_written(self: TreeEnsembleModel, path: Path) -> None:
        path.write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TreeEnsembleModel, "save", half_written)
    with pytest.raises(ModelRegistryError, match="No space left"):
        register(registry)
    assert registry.list_versions() == []
    assert leftovers(registry) == []
    monkeypatch.undo()
    assert register(registry) == "V1"  # the failed attempt did not burn a version number


def test_a_failure_at_the_rename_leaves_no_version(
    registry: LocalFsModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(localfs.os, "rename", refuse)
    with pytest.raises(ModelRegistryError):
        register(registry)
    assert registry.list_versions() == []
    assert registry.default_version() is None
    assert leftovers(registry) == []


def test_a_crash_before_the_default_is_written_leaves_a_whole_version(
    registry: LocalFsModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalFsModelRegistry, "_write_pointer", crash)
    with pytest.raises(KeyboardInterrupt):
        register(registry)
    monkeypatch.undo()
    # Complete and loadable, but no default yet: the next registration becomes the default.
    assert [i.version for i in registry.list_versions()] == ["V1"]
    assert registry.default_version() is None
    assert registry.load(version="V1").ref.version == "V1"
    info = registry.register(model(2.0), metrics={}, params={}, training_data_fingerprint="fp")
    assert (info.version, info.is_default) == ("V2", True)


def test_a_failed_promotion_keeps_the_old_default(
    registry: LocalFsModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(registry)
    register(registry, 2.0)

    def refuse(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(localfs.os, "replace", refuse)
    with pytest.raises(ModelRegistryError):
        registry.promote("V2")
    monkeypatch.undo()
    assert registry.default_version() == "V1"
    assert leftovers(registry) == []


def test_a_killed_writer_leaves_a_temporary_directory_that_is_ignored_then_cleared(
    registry: LocalFsModelRegistry, tmp_path: Path
) -> None:
    """A real SIGKILL just before the rename that would publish the version."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from riskscore.adapters.localfs import model_registry as localfs
        from test_treemodel_registry_localfs import model
        localfs.os.rename = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
        registry = localfs.LocalFsModelRegistry(Path({str(registry.root)!r}), expected_schema_version="s1")
        registry.register(model(), metrics={{}}, params={{}}, training_data_fingerprint="fp")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr.decode()
    assert len(leftovers(registry)) == 1
    assert registry.list_versions() == []
    assert registry.default_version() is None
    assert register(registry) == "V1"
    assert leftovers(registry) == []


def test_loading_needs_neither_pickle_nor_sklearn(registry: LocalFsModelRegistry) -> None:
    register(registry)
    script = textwrap.dedent(
        f"""
        import pickle, sys
        from pathlib import Path
        def no_pickle(*a, **k):
            raise AssertionError("pickle used")
        pickle.load = pickle.loads = no_pickle
        from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
        m = LocalFsModelRegistry(Path({str(registry.root)!r}), expected_schema_version="s1").load()
        import numpy as np
        print(m.ref.version, m.predict_proba(np.array([[1.0, 0.0]]))[0])
        assert not any(name.split(".")[0] == "sklearn" for name in sys.modules), "sklearn imported"
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    version, probability = done.stdout.decode().split()
    assert version == "V1"
    assert float(probability) == pytest.approx(1 / (1 + np.exp(-1.0)))


def test_corrupt_files_are_registry_errors(registry: LocalFsModelRegistry) -> None:
    register(registry)
    register(registry, 2.0)
    base = registry.root / NAME
    (base / "V1" / "model.npz").write_bytes(b"garbage")
    with pytest.raises(ModelRegistryError, match="V1"):
        registry.load()
    (base / "V2" / "metadata.json").write_text("{not json")
    with pytest.raises(ModelRegistryError, match="corrupt"):
        registry.load(version="V2")
    (base / "default.json").write_text("[]")
    with pytest.raises(ModelRegistryError, match="corrupt"):
        registry.default_version()


def test_unsafe_model_names_are_refused(registry: LocalFsModelRegistry) -> None:
    for name in ("../etc", "", "a/b", ".hidden"):
        with pytest.raises(InvalidModelName):
            registry.list_versions(name)
        with pytest.raises(InvalidModelName):
            register(registry, name=name)


def test_concurrent_registrations_get_distinct_versions(registry: LocalFsModelRegistry) -> None:
    versions: list[str] = []
    errors: list[BaseException] = []

    def work(leaf: float) -> None:
        try:
            versions.append(register(registry, leaf))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(float(i),)) for i in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(versions, key=lambda v: int(v[1:])) == [f"V{i}" for i in range(1, 7)]
    assert registry.default_version() == "V1"
