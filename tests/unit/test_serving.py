"""ServingModel (hot swap by polling the registry) and the in-process ModelClient over it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from structlog.testing import capture_logs

from riskscore.adapters.treemodel.inprocess_client import InProcessModelClient
from riskscore.adapters.treemodel.serving import ServingModel
from riskscore.domain.features.schema import FeatureDef, FeatureSchema, FeatureVector
from riskscore.domain.scoring import ModelPrediction, ModelRef, ReasonCode
from riskscore.ports.model_client import ModelClient, ModelInputError, ModelUnavailable
from riskscore.ports.model_registry import ModelNotFound, ScoringModel

SCHEMA = FeatureSchema(
    features=tuple(FeatureDef(name=f"f{i}", description="test", unit="count") for i in range(3))
)


class LinearModel(ScoringModel):
    """A logistic model over the test schema; reason codes are the largest |w_i x_i|."""

    def __init__(self, version: str, weights: tuple[float, ...], schema_version: str = "") -> None:
        self._ref = ModelRef(name="EVIDENCE_RISK_MODEL", version=version)
        self._weights = np.array(weights)
        self._schema_version = schema_version or SCHEMA.version
        self.calls = 0

    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def feature_schema_version(self) -> str:
        return self._schema_version

    def predict(
        self, matrix: npt.NDArray[np.float64], *, explain: int = 3
    ) -> list[ModelPrediction]:
        self.calls += 1
        if matrix.shape[1] != len(self._weights):
            raise ValueError("wrong feature count")
        out = []
        for row in matrix:
            contributions = row * self._weights
            raw = float(contributions.sum())
            top = np.argsort(-np.abs(contributions))[:explain]
            out.append(
                ModelPrediction(
                    probability=1.0 / (1.0 + math.exp(-raw)),
                    raw_score=raw,
                    reason_codes=tuple(
                        ReasonCode(
                            feature=SCHEMA.names[j],
                            contribution=float(contributions[j]),
                            value=float(row[j]),
                        )
                        for j in top
                    ),
                    model=self._ref,
                )
            )
        return out

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(1.0 / (1.0 + np.exp(-(matrix @ self._weights))), dtype=np.float64)


class FakeRegistry:
    """Only what ServingModel uses: the default version and load. Failures are switchable."""

    def __init__(self, *models: LinearModel) -> None:
        self.models = {m.ref.version: m for m in models}
        self.default: str | None = models[0].ref.version if models else None
        self.loads: list[str] = []
        self.unreachable = False
        self.broken: set[str] = set()

    def default_version(self, name: str = "EVIDENCE_RISK_MODEL") -> str | None:
        if self.unreachable:
            raise OSError("registry unreachable")
        return self.default

    def load(self, name: str = "EVIDENCE_RISK_MODEL", version: str | None = None) -> ScoringModel:
        assert version is not None
        self.loads.append(version)
        if version in self.broken:
            raise ModelNotFound(version)
        return self.models[version]


V1 = (0.5, -0.25, 1.0)
V2 = (-1.0, 2.0, 0.5)


def serving_over(registry: FakeRegistry, poll_interval_s: float = 0.5) -> ServingModel:
    return ServingModel(registry, schema=SCHEMA, poll_interval_s=poll_interval_s)


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_nothing_is_served_before_the_first_refresh() -> None:
    serving = serving_over(FakeRegistry(LinearModel("V1", V1)))
    assert serving.current() is None
    assert serving.version is None


def test_refresh_loads_the_default_and_swaps_only_when_it_changes() -> None:
    registry = FakeRegistry(LinearModel("V1", V1), LinearModel("V2", V2))
    serving = serving_over(registry)
    assert serving.refresh() is True
    first = serving.current()
    assert first is registry.models["V1"]
    assert serving.refresh() is False  # unchanged default: no reload
    assert registry.loads == ["V1"]
    registry.default = "V2"
    assert serving.refresh() is True
    assert serving.current() is registry.models["V2"]
    assert first is registry.models["V1"]  # an in-flight holder keeps a usable old model


def test_empty_registry_serves_nothing_until_a_model_is_promoted() -> None:
    registry = FakeRegistry()
    serving = serving_over(registry)
    assert serving.refresh() is False
    assert serving.current() is None
    registry.models["V1"] = LinearModel("V1", V1)
    registry.default = "V1"
    assert serving.refresh() is True
    assert serving.version == "V1"


def test_a_failed_load_keeps_the_old_model_and_logs_no_content() -> None:
    registry = FakeRegistry(LinearModel("V1", V1), LinearModel("V2", V2))
    serving = serving_over(registry)
    serving.refresh()
    registry.broken.add("V2")
    registry.default = "V2"
    with capture_logs() as logs:
        assert serving.refresh() is False
        assert serving.refresh() is False  # the broken version is not reloaded every poll
    assert serving.version == "V1"
    assert registry.loads == ["V1", "V2"]
    [event] = [e for e in logs if e["event"] == "serving.load_failed"]
    assert event["model_version"] == "V2"
    assert event["kept_version"] == "V1"
    assert event["error_type"] == "ModelNotFound"
    registry.broken.clear()  # the next version promoted is picked up again
    registry.models["V3"] = LinearModel("V3", V2)
    registry.default = "V3"
    assert serving.refresh() is True


def test_a_model_of_another_feature_schema_is_refused() -> None:
    registry = FakeRegistry(
        LinearModel("V1", V1), LinearModel("V2", V2, schema_version="0000000000000000")
    )
    serving = serving_over(registry)
    serving.refresh()
    registry.default = "V2"
    assert serving.refresh() is False
    assert serving.version == "V1"


def test_an_unreachable_registry_keeps_the_model() -> None:
    registry = FakeRegistry(LinearModel("V1", V1))
    serving = serving_over(registry)
    serving.refresh()
    registry.unreachable = True
    with capture_logs() as logs:
        assert serving.refresh() is False
    assert serving.version == "V1"
    assert [e["event"] for e in logs] == ["serving.registry_unreachable"]


def test_polling_picks_up_a_promotion_and_stop_ends_the_thread() -> None:
    registry = FakeRegistry(LinearModel("V1", V1), LinearModel("V2", V2))
    with serving_over(registry, poll_interval_s=0.02) as serving:
        assert serving.version == "V1"  # start() loads synchronously
        registry.default = "V2"
        assert wait_for(lambda: serving.version == "V2")
        registry.default = "V1"  # rollback
        assert wait_for(lambda: serving.version == "V1")
    loads = len(registry.loads)
    registry.default = "V2"
    time.sleep(0.1)
    assert len(registry.loads) == loads  # stopped: no more polling
    serving.stop()  # idempotent


def test_poll_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="poll_interval_s"):
        serving_over(FakeRegistry(), poll_interval_s=0)


# --- InProcessModelClient -------------------------------------------------------------------------


def vector(*values: float, schema_version: str = SCHEMA.version) -> FeatureVector:
    return FeatureVector(schema_version=schema_version, values=values)


def loaded_client(*models: LinearModel) -> tuple[InProcessModelClient, FakeRegistry]:
    registry = FakeRegistry(*models)
    serving = serving_over(registry)
    serving.refresh()
    return InProcessModelClient(serving), registry


def test_inprocess_client_is_a_model_client() -> None:
    client, _ = loaded_client(LinearModel("V1", V1))
    assert isinstance(client, ModelClient)


def test_inprocess_client_scores_rows_in_order_in_one_model_call() -> None:
    client, registry = loaded_client(LinearModel("V1", V1))
    rows = [(1.0, 0.0, 2.0), (0.0, 4.0, 0.0), (3.0, 3.0, 3.0)]
    predictions = asyncio.run(client.predict([vector(*r) for r in rows], explain=2))
    expected = [1.0 / (1.0 + math.exp(-float(np.dot(r, V1)))) for r in rows]
    assert [p.probability for p in predictions] == pytest.approx(expected)
    assert all(len(p.reason_codes) == 2 for p in predictions)
    assert predictions[1].reason_codes[0].feature == "f1"
    assert registry.models["V1"].calls == 1


def test_inprocess_client_refuses_another_schema_version() -> None:
    client, _ = loaded_client(LinearModel("V1", V1))
    with pytest.raises(ModelInputError, match="schema version"):
        asyncio.run(client.predict([vector(1, 2, 3), vector(1, 2, 3, schema_version="other")]))


@pytest.mark.parametrize(
    "vectors",
    [[vector(1.0, 2.0)], [vector(1.0, 2.0, 3.0), vector(1.0, 2.0)]],
    ids=["short", "ragged"],
)
def test_inprocess_client_refuses_a_wrong_feature_count(vectors: list[FeatureVector]) -> None:
    client, _ = loaded_client(LinearModel("V1", V1))
    with pytest.raises(ModelInputError):
        asyncio.run(client.predict(vectors))


def test_inprocess_client_without_a_model_is_unavailable_and_not_ready() -> None:
    client = InProcessModelClient(serving_over(FakeRegistry()))
    with pytest.raises(ModelUnavailable) as caught:
        asyncio.run(client.predict([vector(1, 2, 3)]))
    assert caught.value.retry_after_s > 0
    assert asyncio.run(client.ready()) is False


def test_inprocess_client_answers_nothing_for_no_vectors_and_is_ready() -> None:
    client, registry = loaded_client(LinearModel("V1", V1))
    assert asyncio.run(client.predict([])) == []
    assert registry.models["V1"].calls == 0
    assert asyncio.run(client.ready()) is True
    asyncio.run(client.aclose())
