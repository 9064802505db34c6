"""Rescoring stored vectors column-wise gives exactly what scoring them row by row gives.

``RescorePolicies.score_batch`` (and its pieces in ``rescore_columns``) against ``RescorePolicies.rescore``
on the same vectors, and ``columnar.result_lines`` against encoding the rows' ``ResultRow``s: same
outcomes, same bytes, for a compiled tree model (arrays) and for a model that only has ``predict``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random

import msgspec
import numpy as np
import pytest
from scoring_fakes import FAKE_SCHEMA_VERSION
from test_rescore_usecase import RUN_STARTED, FakeModel, policies

from riskscore.adapters.batch import columnar
from riskscore.adapters.batch.columnar import result_lines
from riskscore.adapters.batch.rows import result_row
from riskscore.adapters.treemodel.ensemble import pack_trees
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.adapters.treemodel.toy import leaf_tree, split_tree
from riskscore.domain.features.schema import FeatureVector, content_hashes
from riskscore.domain.scoring import ModelRef, RiskClassThresholds
from riskscore.domain.usecases.ids import derived_prediction_id
from riskscore.domain.usecases.rescore import (
    RescoreFailure,
    RescoreOutcome,
    RescoreResult,
    StoredVector,
)
from riskscore.domain.usecases.rescore_columns import (
    RISK_CLASSES,
    derived_prediction_ids,
    risk_class_codes,
)
from riskscore.ports.feature_store import FeatureBatch
from riskscore.ports.model_registry import ModelScores, ScoresInArrays, ScoringModel

WIDTH = 3
RUN = "run-ü-1"
_lines = msgspec.json.Encoder()


@pytest.fixture(autouse=True, params=["compiled", "python"])
def line_writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test on both ways of putting lines together (``_lines.c`` and its Python twin)."""
    if request.param == "compiled" and not columnar.COMPILED_LINES:
        pytest.skip("the compiled line writer was not built (no C compiler)")
    if request.param == "python":
        monkeypatch.setattr(columnar, "_lines", None)


def tree_model(schema_version: str = FAKE_SCHEMA_VERSION) -> TreeEnsembleModel:
    """Forty one-split trees over three features with uneven leaf values (sums that round)."""
    rng = random.Random(5)
    trees = [
        split_tree(rng.randrange(WIDTH), rng.uniform(-1, 3), rng.gauss(0, 0.7), rng.gauss(0, 0.7))
        for _ in range(40)
    ]
    return TreeEnsembleModel(
        pack_trees(
            [leaf_tree(0.01), *trees], baseline=-1.3, n_features=WIDTH, float32_inputs=False
        ),
        feature_names=("mib", "rx", "days"),
        feature_schema_version=schema_version,
        ref=ModelRef(name="EVIDENCE_RISK_MODEL", version="V7"),
    )


def batch_of(rows: list[StoredVector]) -> FeatureBatch:
    width = len(rows[0].vector.values)
    return FeatureBatch(
        prediction_ids=[r.prediction_id or "" for r in rows],
        policy_numbers=[r.policy_number for r in rows],
        as_of=[r.as_of.isoformat() for r in rows],
        schema_versions=[r.vector.schema_version for r in rows],
        matrix=np.array([r.vector.values for r in rows], dtype=np.float64).reshape(-1, width),
    )


def vectors(count: int, *, seed: int = 3, width: int = WIDTH) -> list[StoredVector]:
    rng = random.Random(seed)
    special = [math.nan, math.inf, -math.inf, -0.0, 0.0, 0.5, 1e-300]
    rows = []
    for i in range(count):
        values = tuple(
            rng.choice(special)
            if rng.random() < 0.15
            else round(rng.uniform(-2, 4), rng.randrange(4))
            for _ in range(width)
        )
        rows.append(
            StoredVector(
                policy_number=rng.choice([f"P-{i}", f'P"{i}\\', f"Pö-{i}\n"]),
                vector=FeatureVector(schema_version=FAKE_SCHEMA_VERSION, values=values),
                as_of=dt.date(2025, 1, 1) + dt.timedelta(days=i % 90),
                prediction_id=f"src-{i}",
            )
        )
    return rows


def without_timings(outcomes: list[RescoreOutcome]) -> bytes:
    """The outcomes, every bit of every float included (NaN too, unlike ``==``), as msgpack; the
    timings are measured per call (the clock ticks), so they differ between the paths: zeroed."""
    return msgspec.msgpack.encode(
        [
            msgspec.structs.replace(
                o, prediction=msgspec.structs.replace(o.prediction, inference_ms=0.0, total_ms=0.0)
            )
            if isinstance(o, RescoreResult)
            else o
            for o in outcomes
        ]
    )


def both_ways(
    rows: list[StoredVector], model: ScoringModel, start: int = 0, **kwargs: object
) -> tuple[list[RescoreOutcome], bytes, bytes, bytes, bytes]:
    """Row-by-row outcomes, then (row by row, column-wise) outcomes as msgpack and output lines."""
    by_row = policies(model, batch_run_id=RUN, **kwargs).rescore(start, list(rows))
    scored = policies(model, batch_run_id=RUN, **kwargs).score_batch(start, batch_of(rows))
    expected_lines = _lines.encode_lines([result_row(o, RUN) for o in by_row])
    return (
        by_row,
        without_timings(by_row),
        without_timings(scored.outcomes()),
        expected_lines,
        result_lines(scored),
    )


@pytest.mark.parametrize("model", [tree_model(), FakeModel()], ids=["arrays", "predict-only"])
@pytest.mark.parametrize("explain", [0, 1, 3])
def test_a_batch_scores_exactly_as_its_rows_do(model: ScoringModel, explain: int) -> None:
    rows = vectors(300)
    outcomes, by_row, by_column, expected, written = both_ways(
        rows, model, start=40, explain=explain
    )
    assert all(isinstance(o, RescoreResult) for o in outcomes)
    assert [o.index for o in outcomes] == list(range(40, 340))
    assert by_column == by_row
    assert written == expected


def test_refused_rows_keep_their_place_in_outcomes_and_lines() -> None:
    rows = vectors(50)
    rows[3] = msgspec.structs.replace(
        rows[3], vector=FeatureVector(schema_version="old-schema", values=(1.0, 2.0, 3.0))
    )
    rows = [msgspec.structs.replace(r, as_of=dt.date(2025, 1, 1)) for r in rows]
    rows[7] = msgspec.structs.replace(rows[7], as_of=dt.date(2024, 12, 31))
    outcomes, by_row, by_column, expected, written = both_ways(
        rows, tree_model(), as_of=dt.date(2025, 1, 1), start=5
    )
    refused = {o.index: o.type for o in outcomes if isinstance(o, RescoreFailure)}
    assert refused[8] == "feature-schema-mismatch"
    assert refused[12] == "as-of-mismatch"
    assert by_column == by_row
    assert written == expected


def test_a_batch_the_model_refuses_is_scored_row_by_row() -> None:
    rows = vectors(6, width=WIDTH + 1)  # the right schema version, one value too many
    outcomes, by_row, by_column, expected, written = both_ways(rows, tree_model())
    assert {o.type for o in outcomes if isinstance(o, RescoreFailure)} == {"invalid-feature-vector"}
    assert by_column == by_row
    assert written == expected


def test_a_batch_without_a_scorable_row_makes_no_model_call() -> None:
    model = FakeModel(schema_version="another-schema")
    rows = vectors(4)
    outcomes, by_row, by_column, expected, written = both_ways(rows, model)
    assert model.calls == []
    assert {o.type for o in outcomes if isinstance(o, RescoreFailure)} == {
        "feature-schema-mismatch"
    }
    assert by_column == by_row
    assert written == expected


def test_prediction_ids_are_those_of_derived_prediction_id() -> None:
    prefix = f"{RUN}\x00V2\x00".encode()
    indexes = [0, 1, 9, 10, 99, 12_345, 10**12, *random.Random(1).sample(range(10**9), 500)]
    expected = [derived_prediction_id(RUN_STARTED, prefix + str(i).encode()) for i in indexes]
    assert derived_prediction_ids(RUN_STARTED, prefix, indexes) == expected
    assert derived_prediction_ids(RUN_STARTED, prefix, []) == []


def test_risk_classes_are_those_of_classify() -> None:
    thresholds = RiskClassThresholds(preferred=0.05, standard=0.15, substandard=0.35)
    rng = np.random.default_rng(2)
    probability = np.concatenate(
        [
            rng.random(2000),
            [0.0, 0.05, 0.15, 0.35, 1.0, math.nan],
            np.nextafter([0.05, 0.15, 0.35], 0.0),
        ]
    )
    codes = risk_class_codes(probability, thresholds)
    assert [RISK_CLASSES[c] for c in codes.tolist()] == [
        thresholds.classify(p) for p in probability.tolist()
    ]


def test_content_hashes_are_the_vectors_content_hash() -> None:
    rows = vectors(200)
    matrix = batch_of(rows).matrix
    assert content_hashes(FAKE_SCHEMA_VERSION, matrix) == [r.vector.content_hash() for r in rows]
    assert (
        content_hashes(FAKE_SCHEMA_VERSION, np.empty((2, 0)))
        == [FeatureVector(schema_version=FAKE_SCHEMA_VERSION, values=()).content_hash()] * 2
    )


def test_the_hash_tells_apart_what_the_values_tell_apart_except_nan_payloads() -> None:
    def digest(*values: float, schema: str = "s") -> str:
        return FeatureVector(schema_version=schema, values=values).content_hash()

    negative_nan = -(math.inf - math.inf)  # the sign bit set; stores may not keep it
    assert digest(1.0, negative_nan) == digest(1.0, math.nan)
    assert digest(0.0) != digest(-0.0)
    assert digest(1.0) != digest(1.0, schema="t")
    assert digest(math.inf) != digest(math.nan)
    assert len({digest(float(i)) for i in range(1000)}) == 1000


class FewerCodes(ScoresInArrays):
    """The tree model, answering one code fewer for every other row (``-1`` in ``reason_index``,
    as ``ModelScores`` allows for a row with fewer codes)."""

    def __init__(self) -> None:
        self._inner = tree_model()
        self.ref = self._inner.ref
        self.feature_schema_version = self._inner.feature_schema_version
        self.feature_names = self._inner.feature_names

    def predict_arrays(self, matrix: np.ndarray, *, explain: int = 3) -> ModelScores:
        scores = self._inner.predict_arrays(matrix, explain=explain)
        index = scores.reason_index.copy()
        index[::2, -1] = -1
        return dataclasses.replace(scores, reason_index=index)


def test_a_row_with_fewer_reason_codes_is_written_as_its_outcome() -> None:
    scored = policies(FewerCodes(), batch_run_id=RUN).score_batch(0, batch_of(vectors(20)))  # type: ignore[arg-type]
    outcomes = scored.outcomes()
    assert {len(o.prediction.reason_codes) for o in outcomes if isinstance(o, RescoreResult)} == {
        2,
        3,
    }
    assert result_lines(scored) == _lines.encode_lines([result_row(o, RUN) for o in outcomes])
