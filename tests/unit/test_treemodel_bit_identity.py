"""Every way of asking ``TreeEnsembleModel`` for a row's score gives the same bits.

Real time scores one row with reason codes; batch rescoring scores matrices, with reason codes or
without, through ``predict`` or ``predict_arrays``; training evaluates ``predict_proba``. A logged
score is reproduced exactly (``==``) only if all of them add a row's leaf values in one order and
take the same sigmoid, whatever the batch size and whether codes are asked for.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from riskscore.adapters.treemodel.predictor import CHUNK_ROWS, TreeEnsembleModel, _smallest
from riskscore.adapters.treemodel.sklearn_compiler import compile_estimator

FEATURES = 12


@pytest.fixture(scope="module")
def model_and_rows() -> tuple[TreeEnsembleModel, np.ndarray]:
    rng = np.random.default_rng(21)
    x, y = make_classification(3000, FEATURES, n_informative=8, random_state=21)
    x[rng.random(x.shape) < 0.05] = np.nan
    with threadpool_limits(limits=1):
        est = HistGradientBoostingClassifier(
            max_iter=120, max_leaf_nodes=16, learning_rate=0.3, random_state=0
        ).fit(x[:1000], y[:1000])
    model = TreeEnsembleModel(
        compile_estimator(est),
        feature_names=[f"f{i}" for i in range(FEATURES)],
        feature_schema_version="bits",
    )
    rows = x[1000:].copy()
    rows[::11] *= 1e3  # far outside the training range: large raw scores
    rows[5::13, 3] = np.inf
    return model, rows


def test_every_path_gives_the_same_probability_and_raw_score(
    model_and_rows: tuple[TreeEnsembleModel, np.ndarray],
) -> None:
    model, rows = model_and_rows
    explained = model.predict(rows, explain=3)
    probability = [p.probability for p in explained]
    raw = [p.raw_score for p in explained]
    assert [p.probability for p in model.predict(rows, explain=0)] == probability
    assert [p.raw_score for p in model.predict(rows, explain=0)] == raw
    assert [p.probability for p in model.predict(rows, explain=20)] == probability
    assert model.predict_proba(rows).tolist() == probability
    assert model.raw_scores(rows).tolist() == raw
    for explain in (0, 1, 3):
        scores = model.predict_arrays(rows, explain=explain)
        assert scores.probability.tolist() == probability
        assert scores.raw_score.tolist() == raw


@pytest.mark.parametrize("size", [1, 2, CHUNK_ROWS - 1, CHUNK_ROWS + 1, 1000])
def test_a_row_scores_the_same_alone_and_in_any_batch(
    model_and_rows: tuple[TreeEnsembleModel, np.ndarray], size: int
) -> None:
    model, rows = model_and_rows
    whole = model.predict(rows, explain=3)
    for start in range(0, 200, size):
        part = model.predict(rows[start : start + size], explain=3)
        assert part == whole[start : start + size]
        bare = model.predict(rows[start : start + size], explain=0)
        assert [p.probability for p in bare] == [p.probability for p in part]


def test_arrays_hold_predicts_reason_codes(
    model_and_rows: tuple[TreeEnsembleModel, np.ndarray],
) -> None:
    model, rows = model_and_rows
    predictions = model.predict(rows[:300], explain=4)
    scores = model.predict_arrays(rows[:300], explain=4)
    assert scores.feature_names == model.feature_names
    for i, prediction in enumerate(predictions):
        codes = prediction.reason_codes
        assert [model.feature_names[j] for j in scores.reason_index[i]] == [
            c.feature for c in codes
        ]
        assert scores.reason_contribution[i].tolist() == [c.contribution for c in codes]
        values = scores.reason_value[i].tolist()
        assert [None if v != v else v for v in values] == [c.value for c in codes]


def test_the_k_smallest_are_a_stable_sorts_first_k() -> None:
    rng = np.random.default_rng(4)
    ties = rng.integers(-3, 3, size=(500, 40)).astype(np.float64)  # many equal values per row
    ties[::7] = 0.0
    ties[1::9, ::3] = -0.0
    spread = rng.normal(size=(500, 40))
    odd = spread.copy()
    odd[::5, 2] = np.nan
    odd[1::5, 7] = -np.inf
    for values in (ties, spread, odd):
        stable = np.argsort(values, axis=1, kind="stable")
        for k in (1, 3, 8, 9, 40):
            assert (_smallest(values, k) == stable[:, :k]).all()
