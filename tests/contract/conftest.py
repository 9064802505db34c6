"""Fixtures running each store contract suite once per adapter listed in ``store_factories``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from store_factories import (
    FEATURE_STORE_FACTORIES,
    FEATURE_STORE_OUTAGES,
    PREDICTION_LOG_FACTORIES,
    PREDICTION_LOG_OUTAGES,
    Outage,
)

from riskscore.ports.feature_store import FeatureStore
from riskscore.ports.prediction_log import PredictionLog

OutageSwitch = Callable[[], AbstractContextManager[None]]

_LOG_FACTORIES = dict(PREDICTION_LOG_FACTORIES)
_SHARED_IDS = [name for name, _ in FEATURE_STORE_FACTORIES if name in _LOG_FACTORIES]


def _ids(factories: Sequence[tuple[str, object]]) -> list[str]:
    return [name for name, _ in factories]


def _outage(name: str, store: object, tmp_path: Path, outages: dict[str, Outage]) -> OutageSwitch:
    if name not in outages:
        pytest.skip(f"{name} declares no way to simulate an outage")
    return lambda: outages[name](store, tmp_path)


@pytest.fixture(params=FEATURE_STORE_FACTORIES, ids=_ids(FEATURE_STORE_FACTORIES))
def feature_store_case(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, FeatureStore]]:
    name, factory = request.param
    with factory(tmp_path) as store:
        yield name, store


@pytest.fixture(params=PREDICTION_LOG_FACTORIES, ids=_ids(PREDICTION_LOG_FACTORIES))
def prediction_log_case(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, PredictionLog]]:
    name, factory = request.param
    with factory(tmp_path) as log:
        yield name, log


@pytest.fixture
def feature_store(feature_store_case: tuple[str, FeatureStore]) -> FeatureStore:
    return feature_store_case[1]


@pytest.fixture
def prediction_log(prediction_log_case: tuple[str, PredictionLog]) -> PredictionLog:
    return prediction_log_case[1]


@pytest.fixture
def feature_store_outage(
    feature_store_case: tuple[str, FeatureStore], tmp_path: Path
) -> OutageSwitch:
    """A context manager during which the store's writes fail with a retryable error."""
    return _outage(*feature_store_case, tmp_path, FEATURE_STORE_OUTAGES)


@pytest.fixture
def prediction_log_outage(
    prediction_log_case: tuple[str, PredictionLog], tmp_path: Path
) -> OutageSwitch:
    """A context manager during which the log's writes fail with a retryable error."""
    return _outage(*prediction_log_case, tmp_path, PREDICTION_LOG_OUTAGES)


@pytest.fixture(params=_SHARED_IDS, ids=_SHARED_IDS)
def stores_on_one_location(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[FeatureStore, PredictionLog]]:
    """A feature store and a prediction log of one adapter configured on the same location."""
    name = request.param
    with (
        dict(FEATURE_STORE_FACTORIES)[name](tmp_path) as store,
        _LOG_FACTORIES[name](tmp_path) as log,
    ):
        yield store, log
