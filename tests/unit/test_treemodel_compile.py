"""Compiling scikit-learn boosters: the compiled predictor must agree with scikit-learn.

Parity tolerance: max |compiled - sklearn| < 1e-9 on probabilities and raw scores of held-out rows.
(Observed differences are ~1e-15: the same float64 sums in another order.)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from threadpoolctl import threadpool_limits

from riskscore.adapters.treemodel.ensemble import RawTree, pack_trees
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.adapters.treemodel.sklearn_compiler import UnsupportedEstimator, compile_estimator
from riskscore.adapters.treemodel.toy import leaf_tree

TOL = 1e-9
N_FEATURES = 12


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """OpenMP fitting threads crawl on a busy 2-core machine; one thread is faster and steady."""
    with threadpool_limits(limits=1):
        yield


def _data(
    seed: int, *, nan_share: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    x, y = make_classification(
        3000, N_FEATURES, n_informative=6, n_redundant=2, random_state=seed, flip_y=0.05
    )
    # Integer-ish columns like counts, so thresholds fall between repeated values.
    x[:, 0] = np.round(x[:, 0] * 2)
    rng = np.random.default_rng(seed)
    if nan_share:
        x[rng.random(x.shape) < nan_share] = np.nan
        x[:, 3] = np.where(rng.random(len(x)) < 0.5, np.nan, x[:, 3])  # a mostly-missing column
    return x[:2000], y[:2000], x[2000:]


def _model(estimator: object) -> TreeEnsembleModel:
    return TreeEnsembleModel(
        compile_estimator(estimator),
        feature_names=[f"f{i}" for i in range(N_FEATURES)],
        feature_schema_version="test",
    )


@pytest.mark.parametrize(
    "params",
    [
        {"max_iter": 60, "max_leaf_nodes": 31},
        {"max_iter": 40, "max_leaf_nodes": 64, "min_samples_leaf": 5},
        {"max_iter": 30, "max_leaf_nodes": 8, "max_depth": 3, "learning_rate": 0.3},
    ],
)
def test_hgb_parity_with_missing_values(params: dict[str, float]) -> None:
    x, y, held_out = _data(1, nan_share=0.1)
    est = HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params).fit(x, y)  # type: ignore[arg-type]
    model = _model(est)
    assert np.isnan(held_out).any()
    assert np.abs(model.predict_proba(held_out) - est.predict_proba(held_out)[:, 1]).max() < TOL
    assert np.abs(model.raw_scores(held_out) - est.decision_function(held_out)).max() < TOL


def test_hgb_parity_when_a_column_is_missing_only_at_scoring_time() -> None:
    x, y, held_out = _data(2, nan_share=0.0)
    est = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    held_out = held_out.copy()
    held_out[::3, 1] = np.nan
    held_out[1::3, 0] = np.nan
    model = _model(est)
    assert np.abs(model.predict_proba(held_out) - est.predict_proba(held_out)[:, 1]).max() < TOL


@pytest.mark.parametrize("subsample", [1.0, 0.7])
def test_gbm_parity(subsample: float) -> None:
    x, y, held_out = _data(3, nan_share=0.0)
    est = GradientBoostingClassifier(
        n_estimators=40, max_depth=4, subsample=subsample, random_state=0
    ).fit(x, y)
    model = _model(est)
    assert model.ensemble.float32_inputs
    assert np.abs(model.predict_proba(held_out) - est.predict_proba(held_out)[:, 1]).max() < TOL
    assert np.abs(model.raw_scores(held_out) - est.decision_function(held_out)).max() < TOL


def test_gbm_float32_threshold_rounding_matches_sklearn() -> None:
    """Values within float32 rounding of a threshold route as scikit-learn's float32 cast does."""
    x, y, _ = _data(4, nan_share=0.0)
    est = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(x, y)
    model = _model(est)
    thresholds = model.ensemble.node_threshold
    features = model.ensemble.node_feature
    rows = np.tile(np.median(x, axis=0), (len(thresholds) * 2, 1))
    for i, (f, t) in enumerate(zip(features, thresholds, strict=True)):
        rows[2 * i, f] = np.nextafter(t, np.inf)
        rows[2 * i + 1, f] = np.nextafter(t, -np.inf)
    assert np.abs(model.raw_scores(rows) - est.decision_function(rows)).max() < TOL


def test_gbm_zero_init() -> None:
    x, y, held_out = _data(5, nan_share=0.0)
    est = GradientBoostingClassifier(n_estimators=10, init="zero", random_state=0).fit(x, y)
    model = _model(est)
    assert model.ensemble.baseline == 0.0
    assert np.abs(model.predict_proba(held_out) - est.predict_proba(held_out)[:, 1]).max() < TOL


@pytest.mark.parametrize(
    "estimator",
    [
        HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=16),
        GradientBoostingClassifier(n_estimators=20, max_depth=3),
    ],
    ids=["hgb", "gbm"],
)
def test_saabas_contributions_sum_to_the_raw_score(estimator: object) -> None:
    x, y, held_out = _data(6, nan_share=0.0)
    estimator.fit(x, y)  # type: ignore[attr-defined]
    model = _model(estimator)
    contributions, raw = model.contributions(held_out)
    assert contributions.shape == (len(held_out), N_FEATURES)
    assert np.abs(contributions.sum(axis=1) + model.base_value - raw).max() < TOL
    assert np.abs(raw - estimator.decision_function(held_out)).max() < TOL  # type: ignore[attr-defined]
    # Features the trees never split on get nothing.
    used = set(model.ensemble.node_feature.tolist())
    unused = [f for f in range(N_FEATURES) if f not in used]
    assert np.all(contributions[:, unused] == 0.0)


def test_hand_built_tree_routes_and_explains_exactly() -> None:
    # root: f0 <= 1 ? (node1: f1 <= 0 ? leaf A : leaf B) : leaf C; NaN at root goes right,
    # NaN at node1 goes left. Weights 30/10/60.
    tree = RawTree(
        left=np.array([1, 3, -1, -1, -1]),
        right=np.array([2, 4, -1, -1, -1]),
        feature=np.array([0, 1, 0, 0, 0]),
        threshold=np.array([1.0, 0.0, 0.0, 0.0, 0.0]),
        missing_left=np.array([False, True, True, True, True]),
        value=np.array([0.0, 0.0, 2.0, -1.0, 1.0]),
        weight=np.array([100.0, 40.0, 60.0, 30.0, 10.0]),
    )
    ens = pack_trees([tree], baseline=0.5, n_features=2, float32_inputs=False)
    model = TreeEnsembleModel(ens, feature_names=["a", "b"], feature_schema_version="t")
    rows = np.array(
        [[1.0, 0.0], [1.0, 0.5], [1.5, -9.0], [np.nan, 0.0], [0.0, np.nan], [-np.inf, np.inf]]
    )
    assert model.raw_scores(rows).tolist() == [-0.5, 1.5, 2.5, 2.5, -0.5, 1.5]
    # Expected values: node1 = (30*-1 + 10*1)/40 = -0.5; root = (40*-0.5 + 60*2)/100 = 1.0.
    assert model.base_value == pytest.approx(1.5)
    contributions, _ = model.contributions(rows[:3])
    np.testing.assert_allclose(contributions[0], [-1.5, -0.5])  # root->node1, node1->A
    np.testing.assert_allclose(contributions[1], [-1.5, 1.5])
    np.testing.assert_allclose(contributions[2], [1.0, 0.0])


def test_single_leaf_trees_pack() -> None:
    stump = leaf_tree(0.25)
    ens = pack_trees([stump, stump], baseline=-1.0, n_features=3, float32_inputs=False)
    model = TreeEnsembleModel(ens, feature_names=["a", "b", "c"], feature_schema_version="t")
    assert model.raw_scores(np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])).tolist() == [-0.5, -0.5]
    contributions, _ = model.contributions(np.zeros((1, 3)))
    assert contributions.tolist() == [[0.0, 0.0, 0.0]]


def test_trees_over_64_leaves_are_refused() -> None:
    x, y, _ = _data(7, nan_share=0.0)
    est = HistGradientBoostingClassifier(max_iter=1, max_leaf_nodes=80, min_samples_leaf=2)
    est.fit(x, y)
    with pytest.raises(ValueError, match="leaves"):
        compile_estimator(est)


def test_unsupported_estimators_are_refused() -> None:
    x, y, _ = _data(8, nan_share=0.0)
    with pytest.raises(UnsupportedEstimator):
        compile_estimator(RandomForestClassifier(n_estimators=2).fit(x, y))
    with pytest.raises(UnsupportedEstimator, match="not fitted"):
        compile_estimator(HistGradientBoostingClassifier())
    three = np.arange(len(y)) % 3
    with pytest.raises(UnsupportedEstimator, match="binary"):
        compile_estimator(HistGradientBoostingClassifier(max_iter=2).fit(x, three))
