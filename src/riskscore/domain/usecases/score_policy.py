"""Scoring one policy application, or a batch of them, in real time.

Business rules of ``ScorePolicy``:

1. A policy number is required: at least one non-space character, at most
   ``MAX_POLICY_NUMBER_LENGTH`` characters, no control characters. Otherwise the request is refused
   (``InvalidScoreRequest``) before any evidence is read.
2. Both evidence documents are parsed by the one hardened ``EvidenceParser``; bad evidence is refused
   with the parser's specific ``EvidenceError`` (never a partial score).
3. Features are computed as of the request's ``as_of`` date when it gives one, else as of the clock's
   current UTC date.
4. The model is asked once per call: one vectorized call for a whole batch. Rows refused by rules 1-2
   are left out of that call and answered individually with a ``ScoreFailure`` in their place; the
   rest of the batch is still scored. A model that cannot answer fails the whole call
   (``ModelUnavailable``: retry later), because no row can be scored without it.
5. The risk class comes from the configured ``RiskClassThresholds`` on the model's probability:
   ``preferred`` < ``standard`` < ``substandard`` < ``refer``. ``refer`` means *refer to a human
   underwriter*: riskscore never declines on its own (MIB rules forbid acting on an MIB code alone,
   and an adverse decision needs a person and an adverse-action notice).
6. Every answer carries its lineage: a time-ordered prediction id, model name and version, feature
   schema version, a hash of the feature vector, the reason codes, the evidence date, the scoring
   time and timings (``inference_ms``: the model call; ``total_ms``: from the start of the call to the
   record being built, so both are in the record the audit trail keeps).
7. Nothing is answered before it is recorded: the prediction and its feature vector are handed to the
   ``AuditTrail`` (a durable local journal append) before ``score`` or ``score_batch`` returns. If
   the trail refuses, the call fails and no score is given out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import msgspec

from riskscore.domain.evidence import PolicyEvidence
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import (
    AuditEntry,
    FeatureRecord,
    ModelPrediction,
    PredictionRecord,
    RiskClass,
    RiskClassThresholds,
    RiskScore,
)
from riskscore.domain.usecases.ids import new_prediction_id
from riskscore.ports.audit_trail import AuditTrail
from riskscore.ports.clock import Clock
from riskscore.ports.evidence_parser import EvidenceError, EvidenceParser
from riskscore.ports.model_client import ModelClient, ModelClientError

MAX_POLICY_NUMBER_LENGTH = 128

FeatureExtractor = Callable[[PolicyEvidence, dt.date], FeatureVector]
"""``extract_features(evidence, as_of)``: pure, total over parsed evidence."""


class ScoreRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One application to score. ``source`` tags the record's origin (``api``, ``service-function``,
    ``cli``) for lineage."""

    policy_number: str
    mib_xml: str | bytes
    rx_xml: str | bytes
    as_of: dt.date | None = None
    source: str = "api"


class ScoreResult(msgspec.Struct, frozen=True, kw_only=True):
    """A scored application: the score and the record kept for it."""

    score: RiskScore
    prediction: PredictionRecord


class ScoreFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A batch row that could not be scored. ``detail`` is safe to show: it never quotes evidence."""

    policy_number: str
    type: str
    title: str
    detail: str
    document: str | None = None


class InvalidScoreRequest(Exception):
    """The request breaks a rule before any evidence is read (rule 1)."""

    type = "invalid-policy-number"
    title = "Invalid policy number"
    document: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def policy_number_problem(policy_number: str) -> str | None:
    """Why ``policy_number`` breaks rule 1, or None when it is acceptable."""
    if not policy_number.strip():
        return "policy_number must contain a non-space character"
    if len(policy_number) > MAX_POLICY_NUMBER_LENGTH:
        return f"policy_number is longer than {MAX_POLICY_NUMBER_LENGTH} characters"
    if not policy_number.isprintable():
        return "policy_number contains control characters"
    return None


class ScorePolicy:
    """Parse, extract features, score, classify, explain, record, answer."""

    def __init__(
        self,
        *,
        parser: EvidenceParser,
        extract: FeatureExtractor,
        model_client: ModelClient,
        audit_trail: AuditTrail,
        clock: Clock,
        thresholds: RiskClassThresholds | None = None,
        explain: int = 3,
        new_id: Callable[[dt.datetime], str] = new_prediction_id,
    ) -> None:
        if explain < 0:
            raise ValueError("explain must be >= 0")
        self._parser = parser
        self._extract = extract
        self._model = model_client
        self._audit = audit_trail
        self._clock = clock
        self._thresholds = thresholds if thresholds is not None else RiskClassThresholds()
        self._explain = explain
        self._new_id = new_id

    @property
    def thresholds(self) -> RiskClassThresholds:
        return self._thresholds

    async def score(self, request: ScoreRequest) -> ScoreResult:
        """Score one application. Raises ``InvalidScoreRequest``, ``EvidenceError`` subtypes,
        ``ModelClientError`` subtypes or the audit trail's error; never answers unrecorded."""
        started = self._clock.monotonic()
        vector, as_of = self._features(request)
        model_started = self._clock.monotonic()
        predictions = await self._model.predict([vector], explain=self._explain)
        inference_ms = (self._clock.monotonic() - model_started) * 1000.0
        _check_count(predictions, 1)
        result, entry = self._build(
            request, vector, as_of, predictions[0], inference_ms, started, self._clock.now()
        )
        self._audit.record(entry)
        return result

    async def score_batch(
        self, requests: Sequence[ScoreRequest]
    ) -> list[ScoreResult | ScoreFailure]:
        """Score many applications with one model call; one answer per request, same order."""
        started = self._clock.monotonic()
        answers: list[ScoreResult | ScoreFailure | None] = [None] * len(requests)
        good: list[tuple[int, FeatureVector, dt.date]] = []
        for index, request in enumerate(requests):
            try:
                vector, as_of = self._features(request)
            except (InvalidScoreRequest, EvidenceError) as exc:
                answers[index] = ScoreFailure(
                    policy_number=request.policy_number,
                    type=exc.type,
                    title=exc.title,
                    detail=exc.message,
                    document=exc.document,
                )
            else:
                good.append((index, vector, as_of))
        if good:
            model_started = self._clock.monotonic()
            predictions = await self._model.predict(
                [vector for _, vector, _ in good], explain=self._explain
            )
            inference_ms = (self._clock.monotonic() - model_started) * 1000.0
            _check_count(predictions, len(good))
            now = self._clock.now()
            entries: list[AuditEntry] = []
            for (index, vector, as_of), prediction in zip(good, predictions, strict=True):
                result, entry = self._build(
                    requests[index], vector, as_of, prediction, inference_ms, started, now
                )
                answers[index] = result
                entries.append(entry)
            self._audit.record_many(entries)
        return [answer for answer in answers if answer is not None]

    def _features(self, request: ScoreRequest) -> tuple[FeatureVector, dt.date]:
        return request_features(
            request, parser=self._parser, extract=self._extract, today=self._today
        )

    def _today(self) -> dt.date:
        return self._clock.now().date()

    def _build(
        self,
        request: ScoreRequest,
        vector: FeatureVector,
        as_of: dt.date,
        prediction: ModelPrediction,
        inference_ms: float,
        started: float,
        now: dt.datetime,
    ) -> tuple[ScoreResult, AuditEntry]:
        score = RiskScore(
            probability=prediction.probability,
            risk_class=self._thresholds.classify(prediction.probability),
            reason_codes=prediction.reason_codes,
            model=prediction.model,
        )
        prediction_id = self._new_id(now)
        record = prediction_record(
            prediction_id=prediction_id,
            policy_number=request.policy_number,
            vector=vector,
            as_of=as_of,
            prediction=prediction,
            risk_class=score.risk_class,
            scored_at=now,
            inference_ms=inference_ms,
            total_ms=(self._clock.monotonic() - started) * 1000.0,
            source=request.source,
        )
        features = FeatureRecord(
            prediction_id=prediction_id,
            policy_number=request.policy_number,
            as_of=as_of,
            feature_ts=now,
            vector=vector,
        )
        return (
            ScoreResult(score=score, prediction=record),
            AuditEntry(prediction=record, features=features),
        )


def request_features(
    request: ScoreRequest,
    *,
    parser: EvidenceParser,
    extract: FeatureExtractor,
    today: Callable[[], dt.date],
) -> tuple[FeatureVector, dt.date]:
    """Rules 1-3 for one request: its feature vector and the as-of date it was computed for.

    Shared with batch rescoring (``rescore.py``) so both paths compute features one way only.
    """
    problem = policy_number_problem(request.policy_number)
    if problem is not None:
        raise InvalidScoreRequest(problem)
    evidence = parser.parse(request.policy_number, request.mib_xml, request.rx_xml)
    as_of = request.as_of if request.as_of is not None else today()
    return extract(evidence, as_of), as_of


def prediction_record(
    *,
    prediction_id: str,
    policy_number: str,
    vector: FeatureVector,
    as_of: dt.date,
    prediction: ModelPrediction,
    risk_class: RiskClass,
    scored_at: dt.datetime,
    inference_ms: float,
    total_ms: float,
    source: str,
    batch_run_id: str | None = None,
    feature_hash: str | None = None,
) -> PredictionRecord:
    """Rule 6: the lineage record of one scored vector (shared with batch rescoring, which passes
    ``feature_hash``, the vector's ``content_hash``, computed for a whole chunk at once)."""
    return PredictionRecord(
        prediction_id=prediction_id,
        policy_number=policy_number,
        risk_score=prediction.probability,
        risk_class=risk_class,
        model_name=prediction.model.name,
        model_version=prediction.model.version,
        feature_schema_version=vector.schema_version,
        feature_hash=vector.content_hash() if feature_hash is None else feature_hash,
        reason_codes=prediction.reason_codes,
        scored_at=scored_at,
        as_of=as_of,
        inference_ms=inference_ms,
        total_ms=total_ms,
        source=source,
        batch_run_id=batch_run_id,
    )


def _check_count(predictions: Sequence[ModelPrediction], expected: int) -> None:
    if len(predictions) != expected:
        raise ModelClientError(
            f"the model answered {len(predictions)} predictions for {expected} feature vectors"
        )
