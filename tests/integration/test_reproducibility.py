"""Reproducibility: re-scoring a logged prediction with its logged model version, feature schema
version and as-of date gives exactly (``==``) the logged score, on the embedded stack.

Predictions are made by ``ScorePolicy`` as the API makes them: the composition root's real parser,
features, in-process model client over the file-system registry, durable audit trail and SQLite
feature store and prediction log; a promotion in between makes two model versions appear in the log.
Then every logged prediction is re-scored from its lineage, from the evidence (``riskscore.rescore``
with the record's model version and as-of date) and from the stored feature vector, in this process
and in a process pool, and compared exactly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict

import pytest

import riskscore
from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.adapters.synthetic import generate
from riskscore.adapters.treemodel.training import generated_training_data, train_and_register
from riskscore.container import build_container
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.scoring import PredictionRecord
from riskscore.domain.usecases.rescore import RescoreResult
from riskscore.domain.usecases.score_policy import ScoreFailure, ScoreRequest
from riskscore.settings import Settings, load_settings

pytestmark = pytest.mark.slow

SMALL = {"max_iter": 20, "learning_rate": 0.1, "max_leaf_nodes": 16, "early_stopping": False}
EVIDENCE_DATE = dt.date(2025, 11, 30)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings({}, data_dir=str(tmp_path_factory.mktemp("data")))
    registry = LocalFsModelRegistry(settings.registry_dir, expected_schema_version=SCHEMA.version)
    for seed in (31, 32):
        data = generated_training_data(500, seed, workers=1)
        train_and_register(registry, data, params=dict(SMALL), seed=seed)
    return settings


def _requests(start: int, count: int, *, dated: bool) -> list[ScoreRequest]:
    return [
        ScoreRequest(
            policy_number=app.policy_number,
            mib_xml=app.mib_xml,
            rx_xml=app.rx_xml,
            as_of=app.as_of if dated else None,
        )
        for app in generate(count, 77, as_of=EVIDENCE_DATE, start=start)
    ]


EVIDENCE = {r.policy_number: r for r in _requests(0, 60, dated=True)}


async def _score_in_real_time(settings: Settings) -> int:
    """Score like the API does: V1, a promotion to V2, more scores; the audit trail drains on exit."""
    container = build_container(settings)
    await container.init_resources()
    try:
        policy = await container.score_policy()
        answers: list[object] = []
        answers += await policy.score_batch(_requests(0, 20, dated=True))
        for request in _requests(20, 5, dated=False):  # as of "today": the clock's date
            answers.append(await policy.score(request))
        bad = ScoreRequest(policy_number="BAD-1", mib_xml="<Response><x></Response>", rx_xml="<r/>")
        answers += await policy.score_batch([bad])
        container.model_registry().promote("V2")
        assert container.serving_model().refresh()
        answers += await policy.score_batch(_requests(25, 35, dated=True))
        assert sum(isinstance(a, ScoreFailure) for a in answers) == 1
        return len(answers) - 1
    finally:
        await container.shutdown_resources()


@pytest.fixture(scope="module")
def logged(settings: Settings) -> list[PredictionRecord]:
    scored = asyncio.run(_score_in_real_time(settings))
    log = SqlitePredictionLog(settings.sqlite_path)
    try:
        records = log.recent(limit=1000)
    finally:
        log.close()
    assert len(records) == scored == 60
    assert {r.model_version for r in records} == {"V1", "V2"}
    assert {r.source for r in records} == {"api"}
    return records


def _by_version(records: list[PredictionRecord]) -> dict[str, list[PredictionRecord]]:
    groups: dict[str, list[PredictionRecord]] = defaultdict(list)
    for record in records:
        groups[record.model_version].append(record)
    return groups


@pytest.mark.parametrize("workers", [1, 2])
def test_rescoring_the_evidence_from_the_lineage_gives_the_logged_score_exactly(
    settings: Settings, logged: list[PredictionRecord], workers: int
) -> None:
    today_scored = [r for r in logged if r.as_of != EVIDENCE_DATE]
    assert len(today_scored) == 5  # the undated requests were scored as of the clock's date
    for version, records in _by_version(logged).items():
        requests = [
            ScoreRequest(
                policy_number=r.policy_number,
                mib_xml=EVIDENCE[r.policy_number].mib_xml,
                rx_xml=EVIDENCE[r.policy_number].rx_xml,
                as_of=r.as_of,  # the logged as-of date
            )
            for r in records
        ]
        outcomes = list(
            riskscore.rescore(
                requests, model_version=version, settings=settings, workers=workers, batch_size=8
            )
        )
        for record, outcome in zip(records, outcomes, strict=True):
            assert isinstance(outcome, RescoreResult)
            again = outcome.prediction
            assert again.model_version == record.model_version
            assert again.feature_schema_version == record.feature_schema_version
            assert again.feature_hash == record.feature_hash
            assert again.risk_score == record.risk_score  # exactly, not approximately
            assert again.risk_class == record.risk_class
            assert again.reason_codes == record.reason_codes


def test_rescoring_the_stored_vectors_gives_the_logged_score_exactly(
    settings: Settings, logged: list[PredictionRecord]
) -> None:
    store = SqliteFeatureStore(settings.sqlite_path)
    try:
        for version, records in _by_version(logged).items():
            rescored = {
                o.source_prediction_id: o
                for o in riskscore.rescore(
                    store, model_version=version, settings=settings, workers=1
                )
                if isinstance(o, RescoreResult)
            }
            for record in records:
                again = rescored[record.prediction_id].prediction
                assert again.risk_score == record.risk_score
                assert again.feature_hash == record.feature_hash
                assert again.as_of == record.as_of
    finally:
        store.close()


def test_another_as_of_date_gives_another_vector(
    settings: Settings, logged: list[PredictionRecord]
) -> None:
    """The as-of date is part of the lineage for a reason: moving it changes the features.

    Not of every application (one without dated evidence has no date-dependent feature), so the
    test moves them all and expects most vectors to change.
    """
    records = [r for r in logged if r.as_of == EVIDENCE_DATE and r.model_version == "V1"]
    requests = [
        ScoreRequest(
            policy_number=r.policy_number,
            mib_xml=EVIDENCE[r.policy_number].mib_xml,
            rx_xml=EVIDENCE[r.policy_number].rx_xml,
        )
        for r in records
    ]
    outcomes = list(
        riskscore.rescore(
            requests,
            model_version="V1",
            as_of=EVIDENCE_DATE + dt.timedelta(days=400),
            settings=settings,
            workers=1,
        )
    )
    assert all(isinstance(o, RescoreResult) for o in outcomes)
    moved = [
        o.prediction.feature_hash != r.feature_hash
        for r, o in zip(records, outcomes, strict=True)
        if isinstance(o, RescoreResult)
    ]
    assert len(moved) >= 10
    assert sum(moved) > len(moved) / 2


def test_the_logged_lineage_names_what_reproduces_it(logged: list[PredictionRecord]) -> None:
    assert all(r.feature_schema_version == SCHEMA.version for r in logged)
    assert all(len(r.feature_hash) == 32 for r in logged)
