"""SnowflakeModelRegistry: the metadata mapping (pure functions) and the calls it makes to snowflake-ml.

A Snowpark session cannot run on fakesnow, so the adapter is driven against a small recording fake of
``Registry`` / ``Model`` / ``ModelVersion``: here the calls *are* the behaviour (which default is set,
what is logged). ``tests/live`` runs the same adapter against a real account.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from riskscore.adapters.snowflake.model_registry import (
    HISTORY_KEY,
    METADATA_METRIC,
    SnowflakeModelRegistry,
    metrics_for_log,
    next_version,
    promoted,
    read_history,
    rolled_back,
    signature_columns,
    version_info,
    write_history,
)
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.scoring import ModelRef
from riskscore.ports.model_registry import (
    ModelNotFound,
    ModelRegistryError,
    NoPreviousVersion,
    SchemaMismatch,
    ScoringModel,
)

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


# -- pure mapping -----------------------------------------------------------------------------------
def test_metadata_round_trips_through_registry_metrics() -> None:
    logged = metrics_for_log(
        {"auc": 0.81, "brier": 0.07},
        feature_schema_version="abc123",
        params={"max_depth": "4"},
        library_versions={"scikit-learn": "1.9.1"},
        training_data_fingerprint="sha256:feed",
    )
    assert logged["auc"] == 0.81
    assert set(logged[METADATA_METRIC]) == {
        "feature_schema_version",
        "params",
        "library_versions",
        "training_data_fingerprint",
    }
    info = version_info("EVIDENCE_RISK_MODEL", "V2", created_at=T0, metrics=logged, is_default=True)
    assert info.metrics == {"auc": 0.81, "brier": 0.07}
    assert info.feature_schema_version == "abc123"
    assert info.params == {"max_depth": "4"}
    assert info.library_versions == {"scikit-learn": "1.9.1"}
    assert info.training_data_fingerprint == "sha256:feed"
    assert info.is_default is True


def test_version_info_tolerates_a_version_logged_outside_riskscore() -> None:
    info = version_info(
        "M",
        "V9",
        created_at=dt.datetime(2026, 1, 1),
        metrics={"note": "x", "flag": True},
        is_default=False,
    )
    assert info.metrics == {}
    assert info.feature_schema_version == ""
    assert info.created_at.tzinfo is dt.UTC


def test_the_reserved_metric_name_is_refused() -> None:
    with pytest.raises(ValueError, match=METADATA_METRIC):
        metrics_for_log({METADATA_METRIC: 1.0}, feature_schema_version="s")


def test_versions_are_numbered_after_the_highest() -> None:
    assert next_version([]) == "V1"
    assert next_version(["V1", "V2", "V10", "BASELINE"]) == "V11"
    assert next_version(["v3"]) == "V4"


def test_history_lives_in_the_comment_and_foreign_comments_are_ignored() -> None:
    assert read_history(write_history(["V1", "V2"])) == ["V1", "V2"]
    assert read_history("trained by hand") == []
    assert read_history('{"other": 1}') == []
    assert read_history(None) == []
    assert HISTORY_KEY in write_history([])


def test_promotion_and_rollback_walk_the_history() -> None:
    history = promoted([], None, "V1")
    history = promoted(history, "V1", "V2")
    assert history == ["V1", "V2"]
    assert promoted(history, "V2", "V2") == ["V1", "V2"]  # promoting the default is a no-op
    # A default set outside riskscore (ALTER MODEL ... SET DEFAULT_VERSION) joins the trail.
    assert promoted(["V1"], "V3", "V4") == ["V1", "V3", "V4"]
    assert rolled_back(["V1", "V2"], "V2") == (["V1"], "V1")
    with pytest.raises(NoPreviousVersion):
        rolled_back(["V1"], "V1")
    with pytest.raises(NoPreviousVersion):
        rolled_back([], None)


def test_the_signature_is_one_double_per_feature_of_the_schema_and_the_two_probabilities() -> None:
    inputs, outputs = signature_columns(SCHEMA.names)
    assert inputs == list(SCHEMA.names)
    assert outputs == ["output_feature_0", "output_feature_1"]
    with pytest.raises(ValueError, match="unique"):
        signature_columns(["a", "a"])


# -- the adapter against a recording fake of snowflake-ml -------------------------------------------
class FakeContext:
    def __init__(self, artifact: str) -> None:
        self.artifact = artifact

    def path(self, key: str) -> str:
        assert key == "ensemble"
        return self.artifact


class FakeCustomModel:
    def __init__(self, artifact: str) -> None:
        self.context = FakeContext(artifact)


class FakeVersion:
    def __init__(self, model: FakeModel, name: str, metrics: dict[str, Any]) -> None:
        self.model = model
        self.version_name = name
        self.metrics = metrics
        self.services: list[dict[str, Any]] = []

    def show_metrics(self) -> dict[str, Any]:
        return dict(self.metrics)

    def load(self, *, force: bool = False) -> FakeCustomModel:
        self.model.calls.append(("load", self.version_name))
        return FakeCustomModel(f"/artifacts/{self.version_name}.npz")

    def create_service(self, **kwargs: Any) -> str:
        self.services.append(kwargs)
        return kwargs["service_name"]


class FakeModel:
    def __init__(self) -> None:
        self._versions: dict[str, FakeVersion] = {}
        self._default: str | None = None
        self.comment = ""
        self.calls: list[tuple[str, Any]] = []

    def add(self, name: str, schema: str = SCHEMA.version) -> FakeVersion:
        version = FakeVersion(
            self, name, metrics_for_log({"auc": 0.8}, feature_schema_version=schema)
        )
        self._versions[name] = version
        if self._default is None:
            self._default = name  # Snowflake makes the first version the default
        return version

    @property
    def default(self) -> FakeVersion | None:
        return None if self._default is None else self._versions[self._default]

    @default.setter
    def default(self, version: str) -> None:
        self.calls.append(("set default", version))
        self._default = version

    def version(self, name: str) -> FakeVersion:
        if name not in self._versions:
            raise ValueError(f"Unable to find version {name}")
        return self._versions[name]

    def versions(self) -> list[FakeVersion]:
        return list(self._versions.values())

    def show_versions(self) -> list[dict[str, Any]]:
        return [
            {
                "name": n,
                "created_on": T0,
                "is_default_version": "true" if n == self._default else "false",
            }
            for n in self._versions
        ]


class FakeRegistry:
    def __init__(self) -> None:
        self.models: dict[str, FakeModel] = {}
        self.logged: list[tuple[Any, dict[str, Any]]] = []

    def get_model(self, name: str) -> FakeModel:
        if name not in self.models:
            raise ValueError(f"Unable to find model {name}")
        return self.models[name]

    def log_model(self, model: Any, **kwargs: Any) -> FakeVersion:
        self.logged.append((model, kwargs))
        target = self.models.setdefault(kwargs["model_name"], FakeModel())
        version = target.add(kwargs["version_name"])
        version.metrics = kwargs["metrics"]
        return version


class StubScoringModel:
    def __init__(self, path: Path, ref: ModelRef) -> None:
        self.path = path
        self.ref = ref


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    model = FakeModel()
    model.add("V1")
    model.add("V2")
    registry.models["EVIDENCE_RISK_MODEL"] = model
    return registry


def _adapter(fake: FakeRegistry) -> SnowflakeModelRegistry:
    def loader(path: Path, ref: ModelRef) -> ScoringModel:
        return StubScoringModel(path, ref)  # type: ignore[return-value]

    return SnowflakeModelRegistry(
        lambda: fake, expected_schema_version=SCHEMA.version, loader=loader
    )


def test_versions_and_default_are_read_from_the_registry(fake: FakeRegistry) -> None:
    registry = _adapter(fake)
    infos = registry.list_versions()
    assert [(i.version, i.is_default, i.metrics) for i in infos] == [
        ("V1", True, {"auc": 0.8}),
        ("V2", False, {"auc": 0.8}),
    ]
    assert infos[0].feature_schema_version == SCHEMA.version
    assert registry.default_version() == "V1"


def test_promote_sets_the_default_and_rollback_returns_to_the_previous(fake: FakeRegistry) -> None:
    registry = _adapter(fake)
    model = fake.models["EVIDENCE_RISK_MODEL"]
    registry.promote("V2")
    assert registry.default_version() == "V2"
    assert read_history(model.comment) == ["V1", "V2"]
    assert registry.rollback() == "V1"
    assert registry.default_version() == "V1"
    assert read_history(model.comment) == ["V1"]
    with pytest.raises(NoPreviousVersion):
        registry.rollback()
    assert [c for c in model.calls if c[0] == "set default"] == [
        ("set default", "V2"),
        ("set default", "V1"),
    ]


def test_promoting_an_unknown_version_changes_nothing(fake: FakeRegistry) -> None:
    registry = _adapter(fake)
    with pytest.raises(ModelNotFound):
        registry.promote("V7")
    assert fake.models["EVIDENCE_RISK_MODEL"].calls == []


def test_an_unknown_model_is_model_not_found(fake: FakeRegistry) -> None:
    with pytest.raises(ModelNotFound):
        _adapter(fake).list_versions("NO_SUCH_MODEL")


def test_load_checks_the_schema_then_loads_the_artifact_under_its_ref(fake: FakeRegistry) -> None:
    loaded = _adapter(fake).load()
    assert isinstance(loaded, StubScoringModel)
    assert loaded.path == Path("/artifacts/V1.npz")
    assert loaded.ref == ModelRef(name="EVIDENCE_RISK_MODEL", version="V1")
    fake.models["EVIDENCE_RISK_MODEL"].add("V3", schema="an-older-schema")
    with pytest.raises(SchemaMismatch):
        _adapter(fake).load(version="V3")
    assert ("load", "V3") not in fake.models["EVIDENCE_RISK_MODEL"].calls


def test_registry_failures_become_port_errors() -> None:
    class Broken:
        def get_model(self, name: str) -> Any:
            raise RuntimeError("warehouse suspended")

        def log_model(self, model: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no")

    registry = SnowflakeModelRegistry(lambda: Broken(), expected_schema_version="s")
    with pytest.raises(ModelRegistryError, match="warehouse suspended"):
        registry.default_version()


def test_create_service_serves_the_default_version(fake: FakeRegistry) -> None:
    name = _adapter(fake).create_service(
        compute_pool="RISKSCORE_POOL", image_repo="RISKSCORE.ML_MODELS.RISKSCORE_IMAGES"
    )
    assert name == "RISK_MODEL_SVC"
    (call,) = fake.models["EVIDENCE_RISK_MODEL"].version("V1").services
    assert call == {
        "service_name": "RISK_MODEL_SVC",
        "service_compute_pool": "RISKSCORE_POOL",
        "image_repo": "RISKSCORE.ML_MODELS.RISKSCORE_IMAGES",
        "ingress_enabled": False,
        "min_instances": 1,
        "max_instances": 1,
    }


# -- registering a real compiled model -------------------------------------------------------------
@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    from sklearn.ensemble import GradientBoostingClassifier

    from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
    from riskscore.adapters.treemodel.sklearn_compiler import compile_estimator

    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    estimator = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(x, y)
    model = TreeEnsembleModel(
        compile_estimator(estimator), feature_names=["a", "b", "c"], feature_schema_version="tiny"
    )
    path = tmp_path / "model.npz"
    model.save(path)
    return path


@pytest.mark.slow
def test_register_logs_the_next_version_with_signature_metrics_and_code(
    fake: FakeRegistry, model_file: Path
) -> None:
    registry = _adapter(fake)
    info = registry.register(
        model_file,
        feature_names=["a", "b", "c"],
        feature_schema_version="tiny",
        metrics={"auc": 0.9},
    )
    assert info.version == "V3"
    assert info.feature_schema_version == "tiny"
    custom, kwargs = fake.logged[-1]
    assert kwargs["model_name"] == "EVIDENCE_RISK_MODEL"
    assert kwargs["version_name"] == "V3"
    assert kwargs["metrics"][METADATA_METRIC]["feature_schema_version"] == "tiny"
    signature = kwargs["signatures"]["predict_proba"]
    assert [spec.name for spec in signature.inputs] == ["a", "b", "c"]
    assert [spec.name for spec in signature.outputs] == ["output_feature_0", "output_feature_1"]
    assert Path(kwargs["code_paths"][0]).name == "riskscore"
    assert kwargs["target_platforms"] == ["SNOWPARK_CONTAINER_SERVICES"]
    # The logged object really scores: the same probabilities as the compiled model.
    import pandas as pd

    from riskscore.adapters.treemodel.predictor import TreeEnsembleModel

    frame = pd.DataFrame({"a": [0.5, -1.0], "b": [0.0, 2.0], "c": [1.0, 1.0]})
    answer = custom.predict_proba(frame)
    expected = TreeEnsembleModel.load(model_file).predict_proba(frame.to_numpy())
    assert list(answer.columns) == ["output_feature_0", "output_feature_1"]
    np.testing.assert_allclose(answer["output_feature_1"], expected)
    np.testing.assert_allclose(answer["output_feature_0"] + answer["output_feature_1"], 1.0)
