"""Shared helpers of the rescoring tests (no tests here): real compiled tree models in a real registry.

The models are random boosted-tree ensembles over the real feature schema, packed by the real
compiler and scored by the real predictor: every code path of scoring is exercised without paying for
scikit-learn (its import alone takes seconds) in every test module.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.treemodel.ensemble import RawTree, pack_trees
from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.settings import Settings, load_settings

AS_OF = dt.date(2026, 1, 1)
DEPTH = 3


def settings_for(data_dir: Path) -> Settings:
    return load_settings({}, data_dir=str(data_dir))


def registry_for(settings: Settings) -> LocalFsModelRegistry:
    return LocalFsModelRegistry(settings.registry_dir, expected_schema_version=SCHEMA.version)


def random_model(seed: int, *, trees: int = 30) -> TreeEnsembleModel:
    """Complete depth-3 trees splitting on random schema columns at thresholds typical of counts."""
    rng = np.random.default_rng(seed)
    nodes = 2 ** (DEPTH + 1) - 1
    internal = 2**DEPTH - 1
    index = np.arange(nodes)
    is_leaf = index >= internal
    raw = []
    for _ in range(trees):
        raw.append(
            RawTree(
                left=np.where(is_leaf, -1, 2 * index + 1).astype(np.int64),
                right=np.where(is_leaf, -1, 2 * index + 2).astype(np.int64),
                feature=np.where(is_leaf, -2, rng.integers(0, len(SCHEMA), nodes)).astype(np.int64),
                threshold=np.where(is_leaf, 0.0, rng.uniform(-0.5, 3.5, nodes)),
                missing_left=np.ones(nodes, dtype=np.bool_),
                value=np.where(is_leaf, rng.normal(0.0, 0.25, nodes), 0.0),
                weight=np.ones(nodes),
            )
        )
    return TreeEnsembleModel(
        pack_trees(raw, baseline=-2.2, n_features=len(SCHEMA), float32_inputs=False),
        feature_names=SCHEMA.names,
        feature_schema_version=SCHEMA.version,
    )


def train_versions(settings: Settings, count: int = 2) -> LocalFsModelRegistry:
    """Register ``count`` versions (V1 default), each a different random ensemble."""
    registry = registry_for(settings)
    for seed in range(count):
        registry.register(
            random_model(seed),
            metrics={},
            params={"seed": str(seed)},
            training_data_fingerprint="test",
        )
    return registry
