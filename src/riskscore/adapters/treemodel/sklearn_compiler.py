"""Read fitted scikit-learn boosted trees into plain arrays (``compile_estimator``).

Supported: binary ``HistGradientBoostingClassifier`` (numeric features only) and binary
``GradientBoostingClassifier`` (``init`` of ``"zero"`` or the default prior). The semantics copied here
are scikit-learn's, checked by the parity tests:

- a split sends a row left when ``x[feature] <= threshold``; a missing value (NaN) goes to the side the
  node learned (``missing_go_to_left``). A split "on NaN" has threshold ``+inf``.
- HGB: raw score = ``_baseline_prediction`` + sum of leaf values (leaf values already carry the
  learning rate). Internal ``value`` fields are not expected values, so they are recomputed bottom-up
  from leaf values weighted by the node sample ``count``.
- GBM: raw score = the init estimator's log-odds + ``learning_rate`` * sum of leaf values; sklearn's
  decision trees compare ``float32(x)`` against float64 thresholds, so the compiled model casts inputs to
  float32 first. Expected values of internal nodes are recomputed from leaves weighted by
  ``weighted_n_node_samples`` (internal ``value`` holds the mean residual, not the Newton-updated leaf
  values).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from riskscore.adapters.treemodel.ensemble import CompiledEnsemble, RawTree, pack_trees


class UnsupportedEstimator(ValueError):
    """The estimator is not a fitted binary tree ensemble this compiler understands."""


def compile_estimator(estimator: Any, *, max_leaves: int = 64) -> CompiledEnsemble:
    """Compile a fitted binary HGB or GBM classifier into a ``CompiledEnsemble``."""
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

    if isinstance(estimator, HistGradientBoostingClassifier):
        return _compile_hgb(estimator, max_leaves)
    if isinstance(estimator, GradientBoostingClassifier):
        return _compile_gbm(estimator, max_leaves)
    raise UnsupportedEstimator(
        f"cannot compile {type(estimator).__name__}: "
        "expected HistGradientBoostingClassifier or GradientBoostingClassifier"
    )


def _check_binary(estimator: Any) -> None:
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise UnsupportedEstimator("estimator is not fitted")
    if len(classes) != 2:
        raise UnsupportedEstimator(f"only binary classifiers compile, got {len(classes)} classes")


def _compile_hgb(est: Any, max_leaves: int) -> CompiledEnsemble:
    _check_binary(est)
    if est.is_categorical_ is not None and bool(np.any(est.is_categorical_)):
        raise UnsupportedEstimator("categorical features are not supported")
    trees: list[RawTree] = []
    for (predictor,) in est._predictors:
        nodes = predictor.nodes
        is_leaf = nodes["is_leaf"].astype(bool)
        trees.append(
            RawTree(
                left=np.where(is_leaf, -1, nodes["left"].astype(np.int64)),
                right=np.where(is_leaf, -1, nodes["right"].astype(np.int64)),
                feature=nodes["feature_idx"].astype(np.int64),
                threshold=nodes["num_threshold"].astype(np.float64),
                missing_left=nodes["missing_go_to_left"].astype(bool),
                value=nodes["value"].astype(np.float64),
                weight=nodes["count"].astype(np.float64),
            )
        )
    baseline = float(np.asarray(est._baseline_prediction).ravel()[0])
    return pack_trees(
        trees,
        baseline=baseline,
        n_features=int(est.n_features_in_),
        float32_inputs=False,
        max_leaves=max_leaves,
    )


def _compile_gbm(est: Any, max_leaves: int) -> CompiledEnsemble:
    from sklearn.dummy import DummyClassifier

    _check_binary(est)
    if not (isinstance(est.init_, DummyClassifier) or est.init_ == "zero"):
        raise UnsupportedEstimator("only init='zero' or the default prior init compile")
    n_features = int(est.n_features_in_)
    # The prior does not depend on the row, so one probe row gives the baseline.
    baseline = float(est._raw_predict_init(np.zeros((1, n_features)))[0, 0])
    lr = float(est.learning_rate)
    trees: list[RawTree] = []
    for (reg,) in est.estimators_:
        t = reg.tree_
        left = t.children_left.astype(np.int64)
        missing: npt.NDArray[np.bool_] = (
            t.missing_go_to_left.astype(bool)
            if hasattr(t, "missing_go_to_left")
            else np.ones(t.node_count, dtype=bool)
        )
        trees.append(
            RawTree(
                left=left,
                right=t.children_right.astype(np.int64),
                feature=np.where(left < 0, 0, t.feature).astype(np.int64),
                threshold=t.threshold.astype(np.float64),
                missing_left=missing,
                value=t.value[:, 0, 0].astype(np.float64) * lr,
                weight=t.weighted_n_node_samples.astype(np.float64),
            )
        )
    return pack_trees(
        trees,
        baseline=baseline,
        n_features=n_features,
        float32_inputs=True,
        max_leaves=max_leaves,
    )
