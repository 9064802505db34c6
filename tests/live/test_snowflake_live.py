"""The Snowflake backend against a real account. Skipped unless SNOWFLAKE_* credentials are set.

Run with, for example::

    SNOWFLAKE_ACCOUNT=xy12345 SNOWFLAKE_USER=me SNOWFLAKE_PRIVATE_KEY_FILE=~/.ssh/sf.p8 \\
    SNOWFLAKE_ROLE=SYSADMIN SNOWFLAKE_WAREHOUSE=RISKSCORE_WH \\
    .venv/bin/pytest -m live tests/live -v

The role needs CREATE DATABASE (a scratch database ``RISKSCORE_LIVE_<random>`` is created, migrated with
the real scripts, hybrid table included, and dropped at the end) and an account where hybrid tables
are available (AWS or Azure, not a trial). ``RISKSCORE_LIVE_COMPUTE_POOL`` additionally lets the test
build a model inference service (slow and billed; off by default).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from riskscore.adapters.snowflake.connection import SnowflakeConnectionFactory
from riskscore.adapters.snowflake.fakesnow_support import packaged_migrations
from riskscore.adapters.snowflake.feature_store import SnowflakeFeatureStore
from riskscore.adapters.snowflake.migrate import apply_snowflake_migrations
from riskscore.adapters.snowflake.model_registry import (
    SnowflakeModelRegistry,
    snowflake_ml_registry_factory,
)
from riskscore.adapters.snowflake.prediction_log import SnowflakePredictionLog
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord, PredictionRecord, ReasonCode

CREDENTIALS = (
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_PRIVATE_KEY_FILE",
    "SNOWFLAKE_PRIVATE_KEY_PATH",
    "SNOWFLAKE_TOKEN",
    "SNOWFLAKE_AUTHENTICATOR",
)
HAVE_ACCOUNT = bool(os.environ.get("SNOWFLAKE_ACCOUNT")) and any(
    os.environ.get(v) for v in CREDENTIALS
)

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,
    pytest.mark.skipif(
        not HAVE_ACCOUNT,
        reason="live Snowflake tests need SNOWFLAKE_ACCOUNT and a credential (SNOWFLAKE_PASSWORD, "
        "SNOWFLAKE_PRIVATE_KEY_FILE, SNOWFLAKE_TOKEN or SNOWFLAKE_AUTHENTICATOR); see docs/snowflake.md",
    ),
]

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


def _execute(connections: SnowflakeConnectionFactory, *statements: str) -> list[tuple[object, ...]]:
    connection = connections.connect()
    try:
        cursor = connection.cursor()
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cursor.execute(statement)
            rows = [tuple(r) for r in cursor.fetchall()]
        return rows
    finally:
        connection.close()


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, SnowflakeConnectionFactory]]:
    name = f"RISKSCORE_LIVE_{secrets.token_hex(4).upper()}"
    admin = SnowflakeConnectionFactory.from_env(os.environ)
    _execute(admin, f"CREATE DATABASE {name}")
    connections = SnowflakeConnectionFactory.from_env({**os.environ, "SNOWFLAKE_DATABASE": name})
    try:
        ((role, warehouse),) = _execute(connections, "SELECT CURRENT_ROLE(), CURRENT_WAREHOUSE()")
        variables = {
            "database": name,
            "warehouse": str(warehouse),
            "app_role": os.environ.get("RISKSCORE_LIVE_APP_ROLE", str(role)),
            "reader_role": os.environ.get("RISKSCORE_LIVE_READER_ROLE", str(role)),
        }
        connection = connections.connect()
        try:
            result = apply_snowflake_migrations(
                connection,
                packaged_migrations(),
                variables,
                change_history_table=f"{name}.SCHEMACHANGE.CHANGE_HISTORY",
            )
        finally:
            connection.close()
        assert len(result.applied) >= 4
        yield name, connections
    finally:
        _execute(admin, f"DROP DATABASE IF EXISTS {name}")


def test_the_online_feature_table_is_a_real_hybrid_table(
    database: tuple[str, SnowflakeConnectionFactory],
) -> None:
    name, connections = database
    rows = _execute(
        connections,
        f"SHOW HYBRID TABLES LIKE 'HT_ONLINE_FEATURES' IN SCHEMA {name}.HYBRID_REALTIME",
    )
    assert len(rows) == 1
    indexes = _execute(
        connections, f"SHOW INDEXES IN TABLE {name}.HYBRID_REALTIME.HT_ONLINE_FEATURES"
    )
    assert any("IX_ONLINE_FEATURES_POLICY_TS" in str(row) for row in indexes)


def test_feature_values_round_trip_exactly(
    database: tuple[str, SnowflakeConnectionFactory],
) -> None:
    name, connections = database
    store = SnowflakeFeatureStore(connections, database=name)
    values = (
        0.0,
        0.1 + 0.2,
        1.0 / 3.0,
        1e-300,
        1e308,
        123456.789,
        -7.5,
        math.inf,
        -math.inf,
        math.nan,
    )
    record = FeatureRecord(
        prediction_id="live-1",
        policy_number="LIVE-POL",
        as_of=dt.date(2025, 12, 31),
        feature_ts=T0,
        vector=FeatureVector(schema_version="live", values=values),
    )
    try:
        store.write_many([record, record])
        got = store.get("live-1")
        assert got is not None
        assert got.vector.values[:9] == values[:9]
        assert math.isnan(got.vector.values[9])
        assert got.feature_ts == T0
        assert store.latest("LIVE-POL") == got
        assert store.purge_policy("LIVE-POL") == 1
    finally:
        store.close()


def test_predictions_are_logged_once(database: tuple[str, SnowflakeConnectionFactory]) -> None:
    name, connections = database
    log = SnowflakePredictionLog(connections, database=name)
    record = PredictionRecord(
        prediction_id="live-p1",
        policy_number="LIVE-POL",
        risk_score=0.1234567890123,
        risk_class="standard",
        model_name="EVIDENCE_RISK_MODEL",
        model_version="V1",
        feature_schema_version="live",
        feature_hash="0" * 32,
        reason_codes=(ReasonCode(feature="rx_hit", contribution=0.2, value=1.0),),
        scored_at=T0,
        as_of=dt.date(2025, 12, 31),
        inference_ms=0.05,
        total_ms=0.7,
    )
    try:
        log.append_many([record])
        log.append_many([record])
        assert log.by_policy("LIVE-POL") == [record]
        assert log.purge_evidence("LIVE-POL") == 1
        assert log.summarize(T0, T0 + dt.timedelta(seconds=1)).count == 1
    finally:
        log.close()


def test_the_model_registry_registers_promotes_and_rolls_back(
    database: tuple[str, SnowflakeConnectionFactory], tmp_path: Path
) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    from riskscore.adapters.treemodel.predictor import TreeEnsembleModel
    from riskscore.adapters.treemodel.sklearn_compiler import compile_estimator

    name, connections = database
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 3))
    y = (x[:, 0] > 0).astype(int)
    model = TreeEnsembleModel(
        compile_estimator(GradientBoostingClassifier(n_estimators=3, max_depth=2).fit(x, y)),
        feature_names=["a", "b", "c"],
        feature_schema_version="live",
    )
    path = tmp_path / "model.npz"
    model.save(path)
    registry = SnowflakeModelRegistry(
        snowflake_ml_registry_factory(connections.params.connect_kwargs, database=name),
        expected_schema_version="live",
    )
    first = registry.register(
        path, feature_names=["a", "b", "c"], feature_schema_version="live", metrics={"auc": 0.9}
    )
    second = registry.register(
        path, feature_names=["a", "b", "c"], feature_schema_version="live", metrics={"auc": 0.91}
    )
    assert (first.version, second.version) == ("V1", "V2")
    assert [v.version for v in registry.list_versions()] == ["V1", "V2"]
    registry.promote("V2")
    assert registry.default_version() == "V2"
    loaded = registry.load()
    np.testing.assert_allclose(loaded.predict_proba(x[:5]), model.predict_proba(x[:5]))
    assert registry.rollback() == "V1"
    pool = os.environ.get("RISKSCORE_LIVE_COMPUTE_POOL")
    if pool:
        assert (
            registry.create_service(
                compute_pool=pool, service_name="RISKSCORE_LIVE_SVC", min_instances=0
            )
            == "RISKSCORE_LIVE_SVC"
        )
