"""Shared helpers of the rescoring tests (no tests here): small real models in a real registry.

Models are trained by the real training pipeline on generated applications, small enough to train in
about a second, so the tests exercise the real parser, features, compiled predictor and registry.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.treemodel.training import generated_training_data, train_and_register
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.settings import Settings, load_settings

SMALL_PARAMS = {
    "max_iter": 15,
    "learning_rate": 0.2,
    "max_leaf_nodes": 8,
    "min_samples_leaf": 20,
    "early_stopping": False,
}
AS_OF = dt.date(2026, 1, 1)


def settings_for(data_dir: Path) -> Settings:
    return load_settings({}, data_dir=str(data_dir))


def registry_for(settings: Settings) -> LocalFsModelRegistry:
    return LocalFsModelRegistry(settings.registry_dir, expected_schema_version=SCHEMA.version)


def train_versions(settings: Settings, count: int = 2, *, n: int = 600) -> LocalFsModelRegistry:
    """Register ``count`` versions (V1 default), each trained on its own generated data."""
    registry = registry_for(settings)
    for seed in range(count):
        data = generated_training_data(n, 100 + seed, workers=1)
        train_and_register(registry, data, params=dict(SMALL_PARAMS), seed=seed)
    return registry
