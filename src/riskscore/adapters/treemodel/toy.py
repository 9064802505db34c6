"""Tiny hand-made ensembles whose answers are known by heart: for tests, fakes and demos."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from riskscore.adapters.treemodel.ensemble import RawTree, pack_trees
from riskscore.adapters.treemodel.predictor import UNREGISTERED, TreeEnsembleModel
from riskscore.domain.scoring import ModelRef


def leaf_tree(value: float) -> RawTree:
    """A tree that is a single leaf: adds ``value`` to every row."""
    return RawTree(
        left=np.array([-1]),
        right=np.array([-1]),
        feature=np.array([0]),
        threshold=np.array([0.0]),
        missing_left=np.array([True]),
        value=np.array([value]),
        weight=np.array([1.0]),
    )


def split_tree(feature: int, threshold: float, low: float, high: float) -> RawTree:
    """One split: ``low`` when ``x[feature] <= threshold`` (or missing), else ``high``."""
    return RawTree(
        left=np.array([1, -1, -1]),
        right=np.array([2, -1, -1]),
        feature=np.array([feature, 0, 0]),
        threshold=np.array([threshold, 0.0, 0.0]),
        missing_left=np.array([True, True, True]),
        value=np.array([0.0, low, high]),
        weight=np.array([2.0, 1.0, 1.0]),
    )


def one_split_model(
    low: float = -1.0,
    high: float = 1.0,
    *,
    feature_names: Sequence[str] = ("a", "b"),
    feature_schema_version: str = "test",
    threshold: float = 0.5,
    baseline: float = 0.0,
    ref: ModelRef = UNREGISTERED,
) -> TreeEnsembleModel:
    """Raw score ``baseline + low`` when the first feature is <= ``threshold``, else ``+ high``."""
    return TreeEnsembleModel(
        pack_trees(
            [split_tree(0, threshold, low, high)],
            baseline=baseline,
            n_features=len(feature_names),
            float32_inputs=False,
        ),
        feature_names=feature_names,
        feature_schema_version=feature_schema_version,
        ref=ref,
    )
