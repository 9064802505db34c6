"""The ModelRegistry contract (plus the shared ``register`` write side), run against every adapter.

Adding an adapter: add a factory to ``REGISTRY_FACTORIES`` taking (tmp_path, expected_schema_version).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.memory.model_registry import InMemoryModelRegistry
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.adapters.treemodel.toy import one_split_model
from riskscore.domain.scoring import ModelRef
from riskscore.ports.model_registry import (
    DEFAULT_MODEL_NAME,
    ModelNotFound,
    ModelRegistry,
    NoPreviousVersion,
    SchemaMismatch,
)

SCHEMA_VERSION = "schema-aaaa"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

Factory = Callable[[Path, str | None], Any]
REGISTRY_FACTORIES: list[tuple[str, Factory]] = [
    (
        "memory",
        lambda _tmp, schema: InMemoryModelRegistry(expected_schema_version=schema, now=lambda: T0),
    ),
    (
        "localfs",
        lambda tmp, schema: LocalFsModelRegistry(
            tmp / "registry", expected_schema_version=schema, now=lambda: T0
        ),
    ),
]


@pytest.fixture(params=[f for _, f in REGISTRY_FACTORIES], ids=[n for n, _ in REGISTRY_FACTORIES])
def make_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str | None], Any]:
    factory: Factory = request.param
    return lambda schema=SCHEMA_VERSION: factory(tmp_path, schema)


@pytest.fixture
def registry(make_registry: Callable[..., Any]) -> Any:
    return make_registry()


def model(leaf: float) -> TreeEnsembleModel:
    """Distinct leaf, distinct model: raw score -leaf or +leaf around feature 0 = 0.5."""
    return one_split_model(-leaf, leaf, feature_schema_version=SCHEMA_VERSION)


def register(registry: Any, leaf: float, **kwargs: Any) -> Any:
    return registry.register(
        model(leaf),
        metrics={"roc_auc": 0.75, "brier": 1 / 3},
        params={"algorithm": "hgb", "leaf": str(leaf)},
        training_data_fingerprint=f"fp-{leaf}",
        **kwargs,
    )


ROWS = np.array([[0.0, 0.0], [1.0, 0.0]])


def test_adapters_implement_the_port(registry: Any) -> None:
    assert isinstance(registry, ModelRegistry)


def test_an_empty_registry(registry: Any) -> None:
    assert registry.list_versions() == []
    assert registry.default_version() is None
    with pytest.raises(ModelNotFound):
        registry.load()
    with pytest.raises(ModelNotFound):
        registry.promote("V1")
    with pytest.raises(NoPreviousVersion):
        registry.rollback()


def test_the_first_version_becomes_the_default_later_ones_do_not(registry: Any) -> None:
    first = register(registry, 1.0)
    second = register(registry, 2.0)
    assert (first.version, first.is_default) == ("V1", True)
    assert (second.version, second.is_default) == ("V2", False)
    assert registry.default_version() == "V1"
    listed = registry.list_versions()
    assert [(i.version, i.is_default) for i in listed] == [("V1", True), ("V2", False)]


def test_version_info_keeps_what_training_recorded(registry: Any) -> None:
    info = register(registry, 1.0, library_versions={"numpy": "2.4.6"})
    [listed] = registry.list_versions()
    for got in (info, listed):
        assert got.name == DEFAULT_MODEL_NAME
        assert got.feature_schema_version == SCHEMA_VERSION
        assert got.metrics == {"roc_auc": 0.75, "brier": 1 / 3}
        assert got.params == {"algorithm": "hgb", "leaf": "1.0"}
        assert got.library_versions == {"numpy": "2.4.6"}
        assert got.training_data_fingerprint == "fp-1.0"
        assert got.created_at == T0


def test_load_answers_the_registered_model_under_its_version(registry: Any) -> None:
    register(registry, 1.0)
    register(registry, 2.0)
    default = registry.load()
    assert default.ref == ModelRef(name=DEFAULT_MODEL_NAME, version="V1")
    assert default.feature_schema_version == SCHEMA_VERSION
    np.testing.assert_array_equal(default.predict_proba(ROWS), model(1.0).predict_proba(ROWS))
    v2 = registry.load(version="V2")
    assert v2.ref.version == "V2"
    np.testing.assert_array_equal(v2.predict_proba(ROWS), model(2.0).predict_proba(ROWS))
    assert v2.predict(ROWS[:1])[0].model == ModelRef(name=DEFAULT_MODEL_NAME, version="V2")


def test_promote_and_rollback_walk_the_default_history(registry: Any) -> None:
    for leaf in (1.0, 2.0, 3.0):
        register(registry, leaf)
    registry.promote("V3")
    registry.promote("V3")  # promoting the default again changes nothing
    assert registry.default_version() == "V3"
    assert registry.load().ref.version == "V3"
    registry.promote("V2")
    assert registry.rollback() == "V3"
    assert registry.rollback() == "V1"
    assert registry.default_version() == "V1"
    with pytest.raises(NoPreviousVersion):
        registry.rollback()
    assert registry.default_version() == "V1"
    assert [i.version for i in registry.list_versions() if i.is_default] == ["V1"]


def test_unknown_versions(registry: Any) -> None:
    register(registry, 1.0)
    for version in ("V2", "latest", "v1", "V0", "../V1"):
        with pytest.raises(ModelNotFound):
            registry.load(version=version)
        with pytest.raises(ModelNotFound):
            registry.promote(version)
    assert registry.default_version() == "V1"


def test_names_are_independent(registry: Any) -> None:
    register(registry, 1.0)
    other = register(registry, 2.0, name="OTHER_MODEL")
    assert (other.name, other.version, other.is_default) == ("OTHER_MODEL", "V1", True)
    assert [i.version for i in registry.list_versions("OTHER_MODEL")] == ["V1"]
    assert registry.load("OTHER_MODEL").ref == ModelRef(name="OTHER_MODEL", version="V1")
    assert registry.list_versions("NOT_THERE") == []
    assert registry.default_version("NOT_THERE") is None


def test_a_model_of_another_feature_schema_is_refused(
    make_registry: Callable[[str | None], Any],
) -> None:
    registry = make_registry("schema-bbbb")
    register(registry, 1.0)
    with pytest.raises(SchemaMismatch) as refused:
        registry.load()
    assert SCHEMA_VERSION in str(refused.value)
    assert "schema-bbbb" in str(refused.value)
    # The check is the registry's: listing still works, and None disables it.
    assert [i.version for i in registry.list_versions()] == ["V1"]
    unchecked = make_registry(None)
    register(unchecked, 1.0)
    assert unchecked.load().feature_schema_version == SCHEMA_VERSION
