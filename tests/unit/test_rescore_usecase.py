"""RescorePolicies' business rules (domain/usecases/rescore.py), with fakes for every port."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import numpy as np
import numpy.typing as npt
import pytest
from scoring_fakes import FAKE_SCHEMA_VERSION, FakeParser, fake_extract

from riskscore.adapters.memory.clock import ManualClock
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import ModelPrediction, ModelRef, ReasonCode, RiskClassThresholds
from riskscore.domain.usecases.rescore import (
    SOURCE,
    RescoreFailure,
    RescorePolicies,
    RescoreResult,
    StoredVector,
    UnreadableRow,
)
from riskscore.domain.usecases.score_policy import ScoreRequest
from riskscore.ports.model_registry import InvalidFeatureMatrix, ScoringModel

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
RUN_STARTED = dt.datetime(2026, 3, 4, 5, 0, 0, tzinfo=dt.UTC)


class FakeModel(ScoringModel):
    """Probability = 0.1 * MIB hits + 0.02 * Rx fills; refuses a matrix that is not 3 columns wide."""

    def __init__(self, version: str = "V1", schema_version: str = FAKE_SCHEMA_VERSION) -> None:
        self._ref = ModelRef(name="EVIDENCE_RISK_MODEL", version=version)
        self._schema_version = schema_version
        self.calls: list[int] = []

    @property
    def ref(self) -> ModelRef:
        return self._ref

    @property
    def feature_schema_version(self) -> str:
        return self._schema_version

    def predict(
        self, matrix: npt.NDArray[np.float64], *, explain: int = 3
    ) -> list[ModelPrediction]:
        if matrix.ndim != 2 or matrix.shape[1] != 3:
            raise InvalidFeatureMatrix(f"expected 3 columns, got shape {matrix.shape}")
        self.calls.append(matrix.shape[0])
        return [
            ModelPrediction(
                probability=min(1.0, 0.1 * row[0] + 0.02 * row[1]),
                raw_score=float(row[0] + row[1]),
                reason_codes=(ReasonCode(feature="mib", contribution=0.1 * row[0], value=row[0]),)[
                    :explain
                ],
                model=self._ref,
            )
            for row in matrix.tolist()
        ]

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.array([p.probability for p in self.predict(matrix, explain=0)])


def policies(model: ScoringModel | None = None, **kwargs: object) -> RescorePolicies:
    return RescorePolicies(
        parser=FakeParser(),
        extract=fake_extract,
        model=model or FakeModel(),
        clock=ManualClock(NOW, tick_s=0.001),
        batch_run_id=str(kwargs.pop("batch_run_id", "run-1")),
        run_started_at=RUN_STARTED,
        **kwargs,  # type: ignore[arg-type]
    )


def req(policy: str, mib: str = "<r/>", rx: str = "<r/>", **kw: object) -> ScoreRequest:
    return ScoreRequest(policy_number=policy, mib_xml=mib, rx_xml=rx, source="rescore", **kw)  # type: ignore[arg-type]


def stored(policy: str, values: tuple[float, ...], **kw: object) -> StoredVector:
    vector = FeatureVector(
        schema_version=str(kw.pop("schema_version", FAKE_SCHEMA_VERSION)), values=values
    )
    return StoredVector(
        policy_number=policy,
        vector=vector,
        as_of=kw.pop("as_of", dt.date(2025, 6, 1)),  # type: ignore[arg-type]
        prediction_id=kw.pop("prediction_id", None),  # type: ignore[arg-type]
    )


def test_outcomes_keep_input_order_and_indexes_with_one_model_call_per_chunk() -> None:
    model = FakeModel()
    use_case = policies(model)
    rows = [req(f"P-{i}", mib="<hit/>" * i) for i in range(5)]
    outcomes = use_case.rescore(100, rows)
    assert [o.index for o in outcomes] == [100, 101, 102, 103, 104]
    assert [o.policy_number for o in outcomes] == [f"P-{i}" for i in range(5)]
    assert model.calls == [5]
    assert all(isinstance(o, RescoreResult) for o in outcomes)
    assert [o.risk_score for o in outcomes if isinstance(o, RescoreResult)] == pytest.approx(
        [0.0, 0.1, 0.2, 0.3, 0.4]
    )


def test_bad_rows_fail_in_place_and_the_rest_of_the_chunk_is_scored() -> None:
    model = FakeModel()
    rows = [
        req("P-0", mib="<hit/>"),
        req("P-1", mib="<bad"),
        req("   "),
        UnreadableRow(policy_number="P-3", type="invalid-input-row", title="t", detail="line 4"),
        req("P-4", rx="<fill/><fill/>"),
    ]
    outcomes = policies(model).rescore(0, rows)
    assert [type(o).__name__ for o in outcomes] == [
        "RescoreResult",
        "RescoreFailure",
        "RescoreFailure",
        "RescoreFailure",
        "RescoreResult",
    ]
    malformed, blank, unreadable = outcomes[1], outcomes[2], outcomes[3]
    assert isinstance(malformed, RescoreFailure)
    assert (malformed.type, malformed.document) == ("malformed-evidence", "mib_xml")
    assert isinstance(blank, RescoreFailure)
    assert blank.type == "invalid-policy-number"
    assert isinstance(unreadable, RescoreFailure)
    assert (unreadable.index, unreadable.detail) == (3, "line 4")
    assert model.calls == [2]


def test_a_chunk_without_any_usable_row_makes_no_model_call() -> None:
    model = FakeModel()
    outcomes = policies(model).rescore(0, [req("P-0", mib="<bad")])
    assert isinstance(outcomes[0], RescoreFailure)
    assert model.calls == []


def test_as_of_is_the_runs_then_the_rows_then_today() -> None:
    rows = [req("P-0", as_of=dt.date(2024, 1, 1)), req("P-1")]
    own = policies().rescore(0, rows)
    assert [o.prediction.as_of for o in own if isinstance(o, RescoreResult)] == [
        dt.date(2024, 1, 1),
        NOW.date(),
    ]
    forced = policies(as_of=dt.date(2025, 2, 2)).rescore(0, rows)
    assert [o.prediction.as_of for o in forced if isinstance(o, RescoreResult)] == [
        dt.date(2025, 2, 2)
    ] * 2


def test_the_as_of_date_reaches_the_feature_extraction() -> None:
    # fake_extract puts as_of.toordinal() in the third column: the hash changes with the date.
    a = policies(as_of=dt.date(2025, 1, 1)).rescore(0, [req("P-0")])[0]
    b = policies(as_of=dt.date(2025, 1, 2)).rescore(0, [req("P-0")])[0]
    assert isinstance(a, RescoreResult)
    assert isinstance(b, RescoreResult)
    assert a.prediction.feature_hash != b.prediction.feature_hash


def test_stored_vectors_are_scored_as_stored_without_parsing() -> None:
    class NoParser(FakeParser):
        def parse(self, policy_number: str, mib_xml: str | bytes, rx_xml: str | bytes):  # type: ignore[no-untyped-def]
            raise AssertionError("stored vectors must not be parsed")

    use_case = RescorePolicies(
        parser=NoParser(),
        extract=fake_extract,
        model=FakeModel(),
        clock=ManualClock(NOW),
        batch_run_id="run-1",
        run_started_at=RUN_STARTED,
    )
    vector = stored("P-0", (2.0, 5.0, 1.0), prediction_id="old-id")
    (outcome,) = use_case.rescore(0, [vector])
    assert isinstance(outcome, RescoreResult)
    assert outcome.risk_score == pytest.approx(0.3)
    assert outcome.source_prediction_id == "old-id"
    assert outcome.prediction.as_of == dt.date(2025, 6, 1)
    assert outcome.prediction.feature_hash == vector.vector.content_hash()


def test_a_vector_of_another_schema_version_fails_alone() -> None:
    rows = [
        stored("P-0", (1.0, 0.0, 0.0)),
        stored("P-1", (1.0, 0.0, 0.0), schema_version="old-schema", prediction_id="x"),
        stored("P-2", (2.0, 0.0, 0.0)),
    ]
    outcomes = policies().rescore(0, rows)
    failure = outcomes[1]
    assert isinstance(failure, RescoreFailure)
    assert failure.type == "feature-schema-mismatch"
    assert "old-schema" in failure.detail
    assert failure.source_prediction_id == "x"
    assert isinstance(outcomes[0], RescoreResult)
    assert isinstance(outcomes[2], RescoreResult)


def test_a_stored_vector_cannot_move_in_time() -> None:
    rows = [
        stored("P-0", (1.0, 0.0, 0.0), as_of=dt.date(2025, 6, 1)),
        stored("P-1", (1.0, 0.0, 0.0), as_of=dt.date(2025, 7, 1)),
    ]
    outcomes = policies(as_of=dt.date(2025, 7, 1)).rescore(0, rows)
    assert isinstance(outcomes[0], RescoreFailure)
    assert outcomes[0].type == "as-of-mismatch"
    assert isinstance(outcomes[1], RescoreResult)


def test_a_vector_the_model_refuses_fails_alone() -> None:
    model = FakeModel()
    rows = [
        stored("P-0", (1.0, 0.0, 0.0)),
        stored("P-1", (1.0, 0.0)),
        stored("P-2", (3.0, 0.0, 0.0)),
    ]
    outcomes = policies(model).rescore(0, rows)
    assert isinstance(outcomes[1], RescoreFailure)
    assert outcomes[1].type == "invalid-feature-vector"
    assert [o.risk_score for o in outcomes if isinstance(o, RescoreResult)] == pytest.approx(
        [0.1, 0.3]
    )


def test_results_carry_the_lineage_of_a_rescore() -> None:
    (outcome,) = policies(batch_run_id="run-42").rescore(7, [req("P-7", mib="<hit/>")])
    assert isinstance(outcome, RescoreResult)
    record = outcome.prediction
    assert record.source == SOURCE == "rescore"
    assert record.batch_run_id == "run-42"
    assert (record.model_name, record.model_version) == ("EVIDENCE_RISK_MODEL", "V1")
    assert record.feature_schema_version == FAKE_SCHEMA_VERSION
    assert record.scored_at.tzinfo is not None
    assert record.reason_codes[0].feature == "mib"
    parsed = uuid.UUID(record.prediction_id)
    assert parsed.version == 7
    assert parsed.int >> 80 == int(RUN_STARTED.timestamp() * 1000)


def test_prediction_ids_are_derived_from_run_model_and_index() -> None:
    a = policies(batch_run_id="run-1").rescore(0, [req("P-0"), req("P-1")])
    again = policies(batch_run_id="run-1").rescore(0, [req("P-0"), req("P-1")])
    other_run = policies(batch_run_id="run-2").rescore(0, [req("P-0")])
    other_model = policies(FakeModel("V2"), batch_run_id="run-1").rescore(0, [req("P-0")])
    ids = [o.prediction.prediction_id for o in a if isinstance(o, RescoreResult)]
    assert ids == [o.prediction.prediction_id for o in again if isinstance(o, RescoreResult)]
    assert len(set(ids)) == 2
    first = ids[0]
    assert isinstance(other_run[0], RescoreResult)
    assert isinstance(other_model[0], RescoreResult)
    assert other_run[0].prediction.prediction_id != first
    assert other_model[0].prediction.prediction_id != first


def test_risk_classes_come_from_the_thresholds() -> None:
    thresholds = RiskClassThresholds(preferred=0.05, standard=0.15, substandard=0.35)
    rows = [req(f"P-{i}", mib="<hit/>" * i) for i in (0, 1, 3, 4)]
    outcomes = policies(thresholds=thresholds).rescore(0, rows)
    assert [o.risk_class for o in outcomes if isinstance(o, RescoreResult)] == [
        "preferred",
        "standard",
        "substandard",
        "refer",
    ]


def test_one_prepared_chunk_scores_with_several_models() -> None:
    use_case = policies()
    prepared = use_case.prepare(0, [req("P-0", mib="<hit/>"), req("P-1", mib="<bad")])
    v1 = use_case.score(prepared)
    v2 = use_case.score(prepared, FakeModel("V2"))
    assert [type(o) for o in v1] == [type(o) for o in v2] == [RescoreResult, RescoreFailure]
    assert isinstance(v2[0], RescoreResult)
    assert v2[0].model_version == "V2"


def test_explain_sets_the_number_of_reason_codes() -> None:
    (outcome,) = policies(explain=0).rescore(0, [req("P-0", mib="<hit/>")])
    assert isinstance(outcome, RescoreResult)
    assert outcome.prediction.reason_codes == ()
    with pytest.raises(ValueError, match="explain"):
        policies(explain=-1)


@pytest.mark.parametrize(
    "widths", [(3, 3, 3, 3, 3), (3, 3, 4, 3, 3)], ids=["one-matrix", "ragged-row-by-row"]
)
def test_a_chunk_gets_the_ids_and_hashes_of_rule_9_and_content_hash(
    widths: tuple[int, ...],
) -> None:
    # The row path computes ids and feature hashes a chunk at a time; each must be the row's own.
    values = [(1.0, math.nan, -0.0, 7.5), (2.0, 5.0, 1.0, 0.0), (math.inf, 0.5, 3.0, 1e-300)]
    rows = [
        stored(f"P-{i}", values[i % 3][: widths[i]], prediction_id=f"src-{i}")
        for i in range(len(widths))
    ]
    rows.insert(2, stored("P-x", (1.0, 1.0, 1.0), schema_version="other"))  # fails in place
    use_case = policies(batch_run_id="run-9")
    outcomes = use_case.rescore(40, rows)
    results = [o for o in outcomes if isinstance(o, RescoreResult)]
    refused_by_model = [] if len(set(widths)) == 1 else [43]  # the 4-wide vector fails alone
    assert [o.index for o in results] == [
        i for i in (40, 41, 43, 44, 45) if i not in refused_by_model
    ]
    for outcome in results:
        row = rows[outcome.index - 40]
        assert outcome.prediction.prediction_id == use_case.prediction_id("V1", outcome.index)
        assert outcome.prediction.feature_hash == row.vector.content_hash()
