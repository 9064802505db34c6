"""The composition root: selectors pick adapters from settings, resources start and stop, and the
embedded default never imports Snowflake code."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scoring_fakes import FakeModelClient, RecordingAuditTrail

from riskscore.adapters.httpx.model_client import HttpxModelClient
from riskscore.adapters.lxml import LxmlEvidenceParser
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.adapters.system_clock import SystemClock
from riskscore.adapters.treemodel.inprocess_client import InProcessModelClient
from riskscore.container import Container, build_container
from riskscore.domain.scoring import RiskClassThresholds
from riskscore.domain.usecases.score_policy import ScorePolicy, ScoreRequest
from riskscore.ports.model_client import ModelUnavailable
from riskscore.settings import load_settings


def container_for(tmp_path: Path, **settings: object) -> Container:
    return build_container(load_settings({}, data_dir=str(tmp_path / "data"), **settings))


def test_local_backend_builds_sqlite_stores_in_the_data_dir(tmp_path: Path) -> None:
    container = container_for(tmp_path)
    assert isinstance(container.feature_store(), SqliteFeatureStore)
    assert isinstance(container.prediction_log(), SqlitePredictionLog)
    assert (tmp_path / "data" / "riskscore.sqlite3").exists()
    assert isinstance(container.parser(), LxmlEvidenceParser)
    assert isinstance(container.clock(), SystemClock)


def test_parser_limits_and_thresholds_come_from_settings(tmp_path: Path) -> None:
    container = container_for(
        tmp_path,
        max_xml_bytes=1234,
        max_xml_depth=9,
        threshold_preferred=0.01,
        threshold_standard=0.02,
        threshold_substandard=0.5,
    )
    parser = container.parser()
    assert isinstance(parser, LxmlEvidenceParser)
    assert (parser.max_bytes, parser.max_depth) == (1234, 9)
    assert container.thresholds() == RiskClassThresholds(
        preferred=0.01, standard=0.02, substandard=0.5
    )


@pytest.mark.parametrize(
    ("mode", "expected"), [("inprocess", InProcessModelClient), ("http", HttpxModelClient)]
)
def test_model_client_selector(tmp_path: Path, mode: str, expected: type[Any]) -> None:
    container = container_for(tmp_path, model_client=mode)
    assert isinstance(container.model_client_impl(), expected)


def test_snowflake_backend_calls_the_snowflake_factories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskscore.adapters.snowflake as snowflake_adapters

    built: list[str] = []
    monkeypatch.setattr(
        snowflake_adapters, "snowflake_feature_store", lambda s: built.append("fs") or "fs-store"
    )
    monkeypatch.setattr(
        snowflake_adapters, "snowflake_prediction_log", lambda s: built.append("pl") or "pl-log"
    )
    container = container_for(tmp_path, backend="snowflake")
    assert container.feature_store() == "fs-store"
    assert container.prediction_log() == "pl-log"
    assert built == ["fs", "pl"]
    assert not (tmp_path / "data" / "riskscore.sqlite3").exists()


def test_the_embedded_default_never_imports_snowflake(tmp_path: Path) -> None:
    script = f"""
import asyncio, sys
from riskscore.container import build_container
from riskscore.settings import load_settings

async def main():
    container = build_container(load_settings({{}}, data_dir={str(tmp_path)!r}))
    await container.init_resources()
    await container.score_policy()
    await container.shutdown_resources()

asyncio.run(main())
# (the bare "snowflake" namespace package is loaded by a .pth file at interpreter start)
prefixes = ("snowflake.", "riskscore.adapters.snowflake.")
loaded = sorted(m for m in sys.modules if m.startswith(prefixes))
print(loaded)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_resources_start_and_stop_with_the_real_adapters(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        container = container_for(tmp_path)
        await container.init_resources()
        trail = container.audit_trail()
        trail = await trail if asyncio.isfuture(trail) else trail
        running = trail.stats().running
        policy = await container.score_policy()
        assert isinstance(policy, ScorePolicy)
        client = await container.model_client()
        ready = await client.ready()  # empty registry: no model yet
        with pytest.raises(ModelUnavailable):
            await policy.score(ScoreRequest(policy_number="P", mib_xml="<r/>", rx_xml="<r/>"))
        await container.shutdown_resources()
        return running, ready, trail.stats().running

    running, ready, still_running = asyncio.run(scenario())
    assert running is True
    assert ready is False
    assert still_running is False
    assert (tmp_path / "data" / "journal").is_dir()


def test_overridden_resources_are_never_initialised(tmp_path: Path) -> None:
    fake_model, fake_trail = FakeModelClient(), RecordingAuditTrail()
    container = container_for(tmp_path)
    container.model_client.override(fake_model)
    container.audit_trail.override(fake_trail)

    async def scenario() -> ScorePolicy:
        pending = container.init_resources()
        if pending is not None:
            await pending
        policy = container.score_policy()
        return await policy if asyncio.isfuture(policy) else policy

    policy = asyncio.run(scenario())
    assert isinstance(policy, ScorePolicy)
    assert not (tmp_path / "data" / "journal").exists()
    assert not fake_trail.started
