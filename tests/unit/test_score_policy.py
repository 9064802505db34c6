"""ScorePolicy's business rules, with fakes for every port."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence

import pytest
from scoring_fakes import (
    FAKE_SCHEMA_VERSION,
    FakeModelClient,
    FakeParser,
    RecordingAuditTrail,
    fake_extract,
)

from riskscore.adapters.memory.clock import ManualClock
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import ModelPrediction, RiskClassThresholds
from riskscore.domain.usecases.ids import new_prediction_id
from riskscore.domain.usecases.score_policy import (
    MAX_POLICY_NUMBER_LENGTH,
    InvalidScoreRequest,
    ScoreFailure,
    ScorePolicy,
    ScoreRequest,
    ScoreResult,
)
from riskscore.ports.audit_trail import AuditTrailError
from riskscore.ports.evidence_parser import MalformedEvidence
from riskscore.ports.model_client import ModelClientError, ModelUnavailable

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


class Harness:
    def __init__(self, **kwargs: object) -> None:
        self.clock = ManualClock(NOW, tick_s=0.001)
        self.model = FakeModelClient()
        self.audit = RecordingAuditTrail()
        self.use_case = ScorePolicy(
            parser=FakeParser(),
            extract=fake_extract,
            model_client=self.model,
            audit_trail=self.audit,
            clock=self.clock,
            **kwargs,  # type: ignore[arg-type]
        )

    def score(self, request: ScoreRequest) -> ScoreResult:
        return asyncio.run(self.use_case.score(request))

    def score_batch(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult | ScoreFailure]:
        return asyncio.run(self.use_case.score_batch(requests))


def request(policy: str = "P-1", mib: str = "<r/>", rx: str = "<r/>", **kw: object) -> ScoreRequest:
    return ScoreRequest(policy_number=policy, mib_xml=mib, rx_xml=rx, **kw)  # type: ignore[arg-type]


def test_score_answers_with_full_lineage_and_records_it_first() -> None:
    h = Harness()
    result = h.score(request("TEST-001", mib="<hit/>", rx="<fill/><fill/>"))

    record = result.prediction
    assert record.policy_number == "TEST-001"
    assert record.risk_score == pytest.approx(0.14)
    assert record.risk_class == "standard"
    assert (record.model_name, record.model_version) == ("EVIDENCE_RISK_MODEL", "V1")
    assert record.feature_schema_version == FAKE_SCHEMA_VERSION
    expected_vector = FeatureVector(
        schema_version=FAKE_SCHEMA_VERSION, values=(1.0, 2.0, float(NOW.date().toordinal()))
    )
    assert record.feature_hash == expected_vector.content_hash()
    assert [r.feature for r in record.reason_codes] == ["mib_code_count", "rx_fill_count"]
    assert record.scored_at == NOW
    assert record.as_of == NOW.date()
    assert record.source == "api"
    assert result.score.risk_class == record.risk_class
    assert result.score.probability == record.risk_score

    assert len(h.audit.entries) == 1
    entry = h.audit.entries[0]
    assert entry.prediction == record
    assert entry.features.prediction_id == record.prediction_id
    assert entry.features.vector == expected_vector
    assert entry.features.feature_ts == NOW


def test_prediction_id_is_a_uuid7_carrying_the_clock_time() -> None:
    h = Harness()
    ids = {h.score(request()).prediction.prediction_id for _ in range(20)}
    assert len(ids) == 20
    for text in ids:
        value = uuid.UUID(text)
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert value.int >> 80 == int(NOW.timestamp() * 1000)


def test_prediction_ids_sort_by_time() -> None:
    earlier = new_prediction_id(NOW)
    later = new_prediction_id(NOW + dt.timedelta(milliseconds=1))
    assert earlier < later


def test_as_of_from_the_request_wins_over_the_clock() -> None:
    h = Harness()
    as_of = dt.date(2020, 2, 29)
    record = h.score(request(as_of=as_of)).prediction
    assert record.as_of == as_of
    assert h.audit.entries[0].features.vector.values[2] == float(as_of.toordinal())


def test_timings_cover_the_model_call_and_the_whole_score() -> None:
    record = Harness().score(request()).prediction
    assert record.inference_ms > 0
    assert record.total_ms > record.inference_ms


@pytest.mark.parametrize(
    ("mib", "rx", "expected"),
    [
        ("<r/>", "<r/>", "preferred"),  # 0.00
        ("<r/>", "<fill/>" * 3, "standard"),  # 0.06
        ("<hit/>" * 2, "<r/>", "substandard"),  # 0.20
        ("<hit/>" * 4, "<r/>", "refer"),  # 0.40
    ],
)
def test_risk_class_follows_the_default_thresholds(mib: str, rx: str, expected: str) -> None:
    assert Harness().score(request(mib=mib, rx=rx)).prediction.risk_class == expected


def test_thresholds_are_configurable() -> None:
    strict = RiskClassThresholds(preferred=0.01, standard=0.02, substandard=0.03)
    h = Harness(thresholds=strict)
    assert h.score(request(rx="<fill/><fill/>")).prediction.risk_class == "refer"  # 0.04


def test_explain_sets_the_number_of_reason_codes() -> None:
    h = Harness(explain=0)
    assert h.score(request(mib="<hit/>")).prediction.reason_codes == ()


@pytest.mark.parametrize(
    "policy",
    ["", "   ", "P\x00-1", "P\n1", "X" * (MAX_POLICY_NUMBER_LENGTH + 1)],
)
def test_invalid_policy_number_is_refused_before_anything_else(policy: str) -> None:
    h = Harness()
    with pytest.raises(InvalidScoreRequest):
        h.score(request(policy))
    assert h.model.calls == []
    assert h.audit.entries == []


def test_bad_evidence_raises_the_parser_error_and_records_nothing() -> None:
    h = Harness()
    with pytest.raises(MalformedEvidence) as info:
        h.score(request(rx="<bad"))
    assert info.value.document == "rx_xml"
    assert h.model.calls == []
    assert h.audit.entries == []


def test_model_unavailable_propagates_and_records_nothing() -> None:
    h = Harness()
    h.model.available = False
    with pytest.raises(ModelUnavailable):
        h.score(request())
    assert h.audit.entries == []


def test_no_answer_when_the_audit_trail_refuses() -> None:
    h = Harness()
    h.audit.fail = True
    with pytest.raises(AuditTrailError):
        h.score(request())
    with pytest.raises(AuditTrailError):
        h.score_batch([request()])


def test_batch_scores_good_rows_in_one_call_and_reports_bad_rows_in_place() -> None:
    h = Harness()
    requests = [
        request("A", mib="<hit/>"),
        request("B", mib="<bad"),
        request("C", rx="<fill/>", source="service-function"),
        request(" "),
        request("E", mib="<hit/><hit/>"),
    ]
    answers = h.score_batch(requests)

    assert h.model.calls == [3]
    assert [type(a).__name__ for a in answers] == [
        "ScoreResult",
        "ScoreFailure",
        "ScoreResult",
        "ScoreFailure",
        "ScoreResult",
    ]
    assert [a.prediction.policy_number for a in answers if isinstance(a, ScoreResult)] == [
        "A",
        "C",
        "E",
    ]
    bad_evidence, bad_policy = (a for a in answers if isinstance(a, ScoreFailure))
    assert (bad_evidence.type, bad_evidence.document) == ("malformed-evidence", "mib_xml")
    assert bad_evidence.policy_number == "B"
    assert bad_policy.type == "invalid-policy-number"
    scored = [a.prediction for a in answers if isinstance(a, ScoreResult)]
    assert [e.prediction for e in h.audit.entries] == scored
    assert scored[1].source == "service-function"
    assert len({p.prediction_id for p in scored}) == 3


def test_batch_without_good_rows_never_calls_the_model() -> None:
    h = Harness()
    assert h.score_batch([]) == []
    answers = h.score_batch([request(mib="<bad")])
    assert isinstance(answers[0], ScoreFailure)
    assert h.model.calls == []
    assert h.audit.entries == []


def test_batch_fails_whole_when_the_model_is_down() -> None:
    h = Harness()
    h.model.available = False
    with pytest.raises(ModelUnavailable):
        h.score_batch([request("A"), request("B")])
    assert h.audit.entries == []


class ShortModel(FakeModelClient):
    async def predict(
        self, vectors: Sequence[FeatureVector], *, explain: int = 3
    ) -> list[ModelPrediction]:
        return (await super().predict(vectors, explain=explain))[:-1]


def test_a_model_answering_the_wrong_number_of_rows_is_an_error() -> None:
    h = Harness()
    h.use_case = ScorePolicy(
        parser=FakeParser(),
        extract=fake_extract,
        model_client=ShortModel(),
        audit_trail=h.audit,
        clock=h.clock,
    )
    with pytest.raises(ModelClientError):
        h.score_batch([request("A"), request("B")])
    assert h.audit.entries == []


def test_negative_explain_is_refused() -> None:
    with pytest.raises(ValueError, match="explain"):
        Harness(explain=-1)
