"""Snowflake adapters: the feature store on a hybrid table, the prediction log, the model registry.

The composition root calls the factories below when ``RISKSCORE_BACKEND=snowflake``. Everything that
needs ``snowflake-connector-python`` or ``snowflake-ml-python`` (the ``snowflake`` extra) is imported
inside them, so importing this package costs nothing and the local stack never loads Snowflake code.
Connection parameters come from ``SNOWFLAKE_*`` variables (see ``connection.py``), object names from
``RISKSCORE_SNOWFLAKE_DATABASE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskscore.adapters.snowflake.connection import SnowflakeConnectionFactory
    from riskscore.adapters.snowflake.model_registry import SnowflakeModelRegistry
    from riskscore.ports.feature_store import FeatureStore
    from riskscore.ports.prediction_log import PredictionLog
    from riskscore.settings import Settings


def snowflake_connection_factory(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> SnowflakeConnectionFactory:
    from riskscore.adapters.snowflake.connection import SnowflakeConnectionFactory

    return SnowflakeConnectionFactory.from_env(
        os.environ if environ is None else environ,
        default_database=settings.snowflake_database,
        default_warehouse=settings.snowflake_warehouse,
    )


def snowflake_feature_store(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> FeatureStore:
    from riskscore.adapters.snowflake.feature_store import SnowflakeFeatureStore

    return SnowflakeFeatureStore(
        snowflake_connection_factory(settings, environ), database=settings.snowflake_database
    )


def snowflake_prediction_log(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> PredictionLog:
    from riskscore.adapters.snowflake.prediction_log import SnowflakePredictionLog

    return SnowflakePredictionLog(
        snowflake_connection_factory(settings, environ), database=settings.snowflake_database
    )


def snowflake_model_registry(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> SnowflakeModelRegistry:
    """The Snowflake Model Registry in ``<database>.ML_MODELS``; the Snowpark session opens on first use."""
    from riskscore.adapters.snowflake.model_registry import (
        SnowflakeModelRegistry,
        snowflake_ml_registry_factory,
    )
    from riskscore.domain.features.catalogue import SCHEMA

    connections = snowflake_connection_factory(settings, environ)
    return SnowflakeModelRegistry(
        snowflake_ml_registry_factory(
            connections.params.connect_kwargs, database=settings.snowflake_database
        ),
        expected_schema_version=SCHEMA.version,
    )


__all__ = [
    "snowflake_connection_factory",
    "snowflake_feature_store",
    "snowflake_model_registry",
    "snowflake_prediction_log",
]
