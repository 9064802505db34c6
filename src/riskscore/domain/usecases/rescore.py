"""Re-scoring many applications with one model version: the real-time path, a chunk at a time.

Business rules of ``RescorePolicies`` (they repeat ``ScorePolicy``'s where both apply, through the same
functions, so a batch score and a real-time score of the same evidence are the same number):

1. One model version per run: the caller loads it (a named version or the registry default) and
   hands over the ``ScoringModel``; every result names that model and version.
2. An application given as XML goes through ``ScorePolicy`` rules 1-3 (``request_features``): the
   policy-number rule, the one hardened ``EvidenceParser``, ``extract_features(evidence, as_of)``.
   There is no second feature implementation, hence no training/serving skew.
3. As-of date: the run's ``as_of`` when given (re-score everything "as of" a date), else the
   application's own, else the clock's current UTC date.
4. A stored feature vector is scored as stored, without re-parsing. It is refused, for that row only,
   when its schema version is not the model's (``feature-schema-mismatch``), or when the run's
   ``as_of`` is not the date it was computed as of (``as-of-mismatch``): a stored vector cannot move
   in time, only the evidence can be re-read.
5. One vectorized model call per chunk: ``ScoringModel.predict`` on the matrix of the chunk's usable
   rows with ``explain`` reason codes each (the real-time default, 3, keeps scores bit-identical to
   the real-time ones: the predictor sums a row the same way whatever the batch). A row the model
   refuses (``InvalidFeatureMatrix``, e.g. a stored vector of the wrong length) is refused alone.
6. A refused row becomes a ``RescoreFailure`` in its place with the specific error type and a detail
   that never quotes evidence; the rest of the chunk is scored. Outcomes keep the input order and
   carry their input index.
7. Risk classes come from the same ``RiskClassThresholds`` as real time.
8. Every result carries the lineage ``ScorePolicy`` records (rule 6 there): a new time-ordered
   prediction id, model name and version, feature schema version, feature hash, as-of date, scoring
   time and timings, with ``source="rescore"`` and the run's ``batch_run_id``, plus the id of the
   stored prediction it re-scores, when there is one. Rescoring records nothing by itself: whether
   results go to the prediction log is the caller's decision.
9. A run's prediction ids are derived from its ``batch_run_id``, its start time, the model version
   and the input index (UUIDv7 layout, time = run start): scoring a chunk again after an
   interruption gives the same ids, so the prediction log (idempotent by id) holds each row once.

Stored vectors read column-wise (``FeatureStore.iter_batches``) are scored a batch at a time by
``score_batch``: the same rules 4-9 with the same numbers, computed over arrays
(``rescore_columns``, the model's ``predict_arrays``), into a ``ScoredBatch`` the caller writes out
column by column or turns into outcomes. A batch the model refuses, or a model that scores only
through ``predict``, goes through ``score`` row by row instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
import numpy.typing as npt

from riskscore.domain.features.schema import FeatureVector, content_hashes
from riskscore.domain.scoring import (
    ModelPrediction,
    ModelRef,
    PredictionRecord,
    ReasonCode,
    RiskClass,
    RiskClassThresholds,
)
from riskscore.domain.usecases.ids import derived_prediction_id
from riskscore.domain.usecases.rescore_columns import (
    RISK_CLASSES,
    derived_prediction_ids,
    no_scores,
    risk_class_codes,
)
from riskscore.domain.usecases.score_policy import (
    FeatureExtractor,
    InvalidScoreRequest,
    ScoreFailure,
    ScoreRequest,
    prediction_record,
    request_features,
)
from riskscore.ports.clock import Clock
from riskscore.ports.evidence_parser import EvidenceError, EvidenceParser
from riskscore.ports.feature_store import FeatureBatch
from riskscore.ports.model_registry import (
    InvalidFeatureMatrix,
    ModelScores,
    ScoresInArrays,
    ScoringModel,
)

SOURCE = "rescore"
"""``PredictionRecord.source`` of every re-scored prediction."""

DEFAULT_EXPLAIN = 3
"""Reason codes per result; the real-time default (``RISKSCORE_REASON_CODES``), see rule 5."""


class StoredVector(msgspec.Struct, frozen=True, kw_only=True):
    """A feature vector kept by the feature store, to be scored again without its evidence."""

    policy_number: str
    vector: FeatureVector
    as_of: dt.date
    prediction_id: str | None = None
    """The prediction the vector was first scored for (lineage of the re-score)."""


class UnreadableRow(msgspec.Struct, frozen=True, kw_only=True):
    """A source row that could not be read at all (bad JSON line, missing file): reported in place."""

    policy_number: str
    type: str
    title: str
    detail: str
    document: str | None = None


RescoreInput = ScoreRequest | StoredVector | UnreadableRow
"""What a source yields, one per application, in order."""


class RescoreResult(msgspec.Struct, frozen=True, kw_only=True, tag_field="outcome", tag="result"):
    """A re-scored application: its input position, the lineage record and what it re-scores."""

    index: int
    prediction: PredictionRecord
    source_prediction_id: str | None = None

    @property
    def policy_number(self) -> str:
        return self.prediction.policy_number

    @property
    def risk_score(self) -> float:
        return self.prediction.risk_score

    @property
    def risk_class(self) -> RiskClass:
        return self.prediction.risk_class

    @property
    def model_version(self) -> str:
        return self.prediction.model_version


class RescoreFailure(ScoreFailure, frozen=True, kw_only=True, tag_field="outcome", tag="failure"):
    """A row that could not be re-scored, in its input position (``ScoreFailure`` fields + index)."""

    index: int
    source_prediction_id: str | None = None


RescoreOutcome = RescoreResult | RescoreFailure


class FeatureSchemaMismatch(Exception):
    type = "feature-schema-mismatch"
    title = "Feature vector of another schema version"


class AsOfMismatch(Exception):
    type = "as-of-mismatch"
    title = "Stored feature vector computed as of another date"


class InvalidFeatureVector(Exception):
    type = "invalid-feature-vector"
    title = "The model refused the feature vector"


@dataclass(frozen=True, slots=True)
class _Usable:
    offset: int
    policy_number: str
    vector: FeatureVector
    as_of: dt.date
    source_prediction_id: str | None


@dataclass(frozen=True, slots=True)
class PreparedChunk:
    """A chunk after parsing and feature extraction: what every model of a run scores."""

    start: int
    size: int
    usable: tuple[_Usable, ...]
    failures: dict[int, RescoreFailure]
    started: float


@dataclass(frozen=True, slots=True, eq=False)
class ScoredBatch:
    """The outcomes of a ``FeatureBatch`` (input indexes ``start ..``) as columns.

    Row ``offset`` of the batch is refused when ``failures`` has it, else it is the ``j``-th scored
    row (``scored[j] == offset``, ascending): ``scores``, ``risk_classes`` (positions in
    ``RISK_CLASSES``), ``feature_hashes`` and ``prediction_ids`` hold one entry per scored row.
    ``fallback`` holds the outcomes instead when the batch was scored row by row.
    """

    start: int
    batch: FeatureBatch
    model: ModelRef
    schema_version: str
    batch_run_id: str
    scored: npt.NDArray[np.intp]
    scores: ModelScores
    risk_classes: npt.NDArray[np.intp]
    feature_hashes: Sequence[str]
    prediction_ids: Sequence[str]
    failures: dict[int, RescoreFailure]
    scored_at: dt.datetime
    inference_ms: float
    total_ms: float
    fallback: list[RescoreOutcome] | None = None

    def __len__(self) -> int:
        return len(self.batch)

    def outcomes(self) -> list[RescoreOutcome]:
        """One ``RescoreResult`` or ``RescoreFailure`` per row, in order (what ``score`` answers)."""
        if self.fallback is not None:
            return self.fallback
        outcomes: list[RescoreOutcome | None] = [None] * len(self.batch)
        for offset, failure in self.failures.items():
            outcomes[offset] = failure
        names = self.scores.feature_names
        batch = self.batch
        for j, (offset, probability, klass, codes) in enumerate(
            zip(
                self.scored.tolist(),
                self.scores.probability.tolist(),
                self.risk_classes.tolist(),
                _reason_codes(self.scores, names),
                strict=True,
            )
        ):
            record = PredictionRecord(
                prediction_id=self.prediction_ids[j],
                policy_number=batch.policy_numbers[offset],
                risk_score=probability,
                risk_class=RISK_CLASSES[klass],
                model_name=self.model.name,
                model_version=self.model.version,
                feature_schema_version=self.schema_version,
                feature_hash=self.feature_hashes[j],
                reason_codes=codes,
                scored_at=self.scored_at,
                as_of=dt.date.fromisoformat(batch.as_of[offset]),
                inference_ms=self.inference_ms,
                total_ms=self.total_ms,
                source=SOURCE,
                batch_run_id=self.batch_run_id,
            )
            outcomes[offset] = RescoreResult(
                index=self.start + offset,
                prediction=record,
                source_prediction_id=batch.prediction_ids[offset],
            )
        return [outcome for outcome in outcomes if outcome is not None]


def _reason_codes(scores: ModelScores, names: tuple[str, ...]) -> list[tuple[ReasonCode, ...]]:
    return [
        tuple(
            ReasonCode(feature=names[i], contribution=c, value=None if v != v else v)
            for i, c, v in zip(idx, cs, vs, strict=True)
            if i >= 0
        )
        for idx, cs, vs in zip(
            scores.reason_index.tolist(),
            scores.reason_contribution.tolist(),
            scores.reason_value.tolist(),
            strict=True,
        )
    ]


class RescorePolicies:
    """Parse (or take stored vectors), extract, score a chunk in one model call, classify, explain."""

    def __init__(
        self,
        *,
        parser: EvidenceParser,
        extract: FeatureExtractor,
        model: ScoringModel,
        clock: Clock,
        thresholds: RiskClassThresholds | None = None,
        explain: int = DEFAULT_EXPLAIN,
        batch_run_id: str,
        run_started_at: dt.datetime,
        as_of: dt.date | None = None,
    ) -> None:
        if explain < 0:
            raise ValueError("explain must be >= 0")
        self._parser = parser
        self._extract = extract
        self._model = model
        self._clock = clock
        self._thresholds = thresholds if thresholds is not None else RiskClassThresholds()
        self._explain = explain
        self._as_of = as_of
        self._batch_run_id = batch_run_id
        self._run_started_at = run_started_at

    @property
    def model(self) -> ScoringModel:
        return self._model

    def rescore(self, start: int, rows: Sequence[RescoreInput]) -> list[RescoreOutcome]:
        """Outcomes of ``rows`` (input indexes ``start ..``), same order, one model call."""
        return self.score(self.prepare(start, rows))

    def prepare(self, start: int, rows: Sequence[RescoreInput]) -> PreparedChunk:
        """Rules 2-4 up to the model: the usable feature vectors and the rows refused so far."""
        started = self._clock.monotonic()
        usable: list[_Usable] = []
        failures: dict[int, RescoreFailure] = {}
        for offset, row in enumerate(rows):
            if isinstance(row, ScoreRequest):
                request = (
                    row if self._as_of is None else msgspec.structs.replace(row, as_of=self._as_of)
                )
                try:
                    vector, as_of = request_features(
                        request, parser=self._parser, extract=self._extract, today=self._today
                    )
                except (InvalidScoreRequest, EvidenceError) as exc:
                    failures[offset] = _failure(start + offset, row.policy_number, exc, None)
                    continue
                usable.append(_Usable(offset, row.policy_number, vector, as_of, None))
            elif isinstance(row, StoredVector):
                if self._as_of is not None and row.as_of != self._as_of:
                    moved = AsOfMismatch(
                        f"the vector was computed as of {row.as_of}, not {self._as_of}; "
                        "re-score its evidence to move it in time"
                    )
                    failures[offset] = _failure(start + offset, row.policy_number, moved, row)
                    continue
                usable.append(
                    _Usable(offset, row.policy_number, row.vector, row.as_of, row.prediction_id)
                )
            else:
                failures[offset] = RescoreFailure(
                    index=start + offset,
                    policy_number=row.policy_number,
                    type=row.type,
                    title=row.title,
                    detail=row.detail,
                    document=row.document,
                )
        return PreparedChunk(
            start=start, size=len(rows), usable=tuple(usable), failures=failures, started=started
        )

    def score(
        self, chunk: PreparedChunk, model: ScoringModel | None = None
    ) -> list[RescoreOutcome]:
        """Rules 4-8 for one model (the run's unless another is given, as a comparison does)."""
        model = self._model if model is None else model
        outcomes: list[RescoreOutcome | None] = [None] * chunk.size
        for offset, failure in chunk.failures.items():
            outcomes[offset] = failure
        schema_version = model.feature_schema_version
        scorable: list[_Usable] = []
        for row in chunk.usable:
            if row.vector.schema_version == schema_version:
                scorable.append(row)
            else:
                exc = FeatureSchemaMismatch(
                    f"the vector has feature schema {row.vector.schema_version}; model "
                    f"{model.ref.version} takes {schema_version}"
                )
                outcomes[row.offset] = _failure(
                    chunk.start + row.offset, row.policy_number, exc, row
                )
        if scorable:
            matrix = _matrix(scorable)
            model_started = self._clock.monotonic()
            predictions = self._predict(model, scorable, matrix)
            inference_ms = (self._clock.monotonic() - model_started) * 1000.0
            now = self._clock.now()
            classify = self._thresholds.classify
            # Rule 9's ids and the feature hashes, a chunk at a time: the same strings as
            # ``prediction_id`` and ``content_hash`` row by row (tests compare them).
            indexes = [chunk.start + row.offset for row in scorable]
            ids = derived_prediction_ids(
                self._run_started_at, self._id_prefix(model.ref.version), indexes
            )
            hashes = (
                content_hashes(schema_version, matrix)
                if matrix is not None
                else [row.vector.content_hash() for row in scorable]
            )
            for row, prediction, index, prediction_id, feature_hash in zip(
                scorable, predictions, indexes, ids, hashes, strict=True
            ):
                if isinstance(prediction, InvalidFeatureVector):
                    outcomes[row.offset] = _failure(index, row.policy_number, prediction, row)
                    continue
                record = prediction_record(
                    prediction_id=prediction_id,
                    feature_hash=feature_hash,
                    policy_number=row.policy_number,
                    vector=row.vector,
                    as_of=row.as_of,
                    prediction=prediction,
                    risk_class=classify(prediction.probability),
                    scored_at=now,
                    inference_ms=inference_ms,
                    total_ms=(self._clock.monotonic() - chunk.started) * 1000.0,
                    source=SOURCE,
                    batch_run_id=self._batch_run_id,
                )
                outcomes[row.offset] = RescoreResult(
                    index=index, prediction=record, source_prediction_id=row.source_prediction_id
                )
        return [outcome for outcome in outcomes if outcome is not None]

    def _predict(
        self, model: ScoringModel, rows: Sequence[_Usable], matrix: npt.NDArray[np.float64] | None
    ) -> list[ModelPrediction | InvalidFeatureVector]:
        """One call for the chunk (``matrix``: its vectors, None when they differ in length); only if
        the model refuses it, one call per row to find the culprits."""
        try:
            if matrix is not None:
                return list(model.predict(matrix, explain=self._explain))
        except (InvalidFeatureMatrix, ValueError):
            pass
        answers: list[ModelPrediction | InvalidFeatureVector] = []
        for row in rows:
            try:
                single = np.array([row.vector.values], dtype=np.float64)
                answers.extend(model.predict(single, explain=self._explain))
            except (InvalidFeatureMatrix, ValueError) as exc:
                answers.append(InvalidFeatureVector(f"{exc}"))
        return answers

    def score_batch(
        self, start: int, batch: FeatureBatch, model: ScoringModel | None = None
    ) -> ScoredBatch:
        """Rules 4-9 for stored vectors read column-wise, one model call for the batch."""
        started = self._clock.monotonic()
        model = self._model if model is None else model
        if not isinstance(model, ScoresInArrays):
            return self._row_by_row(start, batch, model, started)
        schema_version = model.feature_schema_version
        failures: dict[int, RescoreFailure] = {}
        if self._as_of is not None:
            wanted = self._as_of.isoformat()
            for offset, as_of in enumerate(batch.as_of):
                if as_of != wanted:
                    moved = AsOfMismatch(
                        f"the vector was computed as of {as_of}, not {wanted}; "
                        "re-score its evidence to move it in time"
                    )
                    failures[offset] = self._batch_failure(start, batch, offset, moved)
        if batch.schema_versions.count(schema_version) != len(batch):
            for offset, version in enumerate(batch.schema_versions):
                if version != schema_version and offset not in failures:
                    exc = FeatureSchemaMismatch(
                        f"the vector has feature schema {version}; model "
                        f"{model.ref.version} takes {schema_version}"
                    )
                    failures[offset] = self._batch_failure(start, batch, offset, exc)
        if failures:
            scored = np.array([i for i in range(len(batch)) if i not in failures], dtype=np.intp)
            matrix = batch.matrix[scored]
        else:
            scored = np.arange(len(batch), dtype=np.intp)
            matrix = batch.matrix
        model_started = self._clock.monotonic()
        try:
            scores = (
                model.predict_arrays(matrix, explain=self._explain) if len(scored) else no_scores()
            )
        except (InvalidFeatureMatrix, ValueError):
            return self._row_by_row(start, batch, model, started)
        inference_ms = (self._clock.monotonic() - model_started) * 1000.0
        prediction_ids = derived_prediction_ids(
            self._run_started_at, self._id_prefix(model.ref.version), (scored + start).tolist()
        )
        return ScoredBatch(
            start=start,
            batch=batch,
            model=model.ref,
            schema_version=schema_version,
            batch_run_id=self._batch_run_id,
            scored=scored,
            scores=scores,
            risk_classes=risk_class_codes(scores.probability, self._thresholds),
            feature_hashes=content_hashes(schema_version, matrix),
            prediction_ids=prediction_ids,
            failures=failures,
            scored_at=self._clock.now(),
            inference_ms=inference_ms,
            total_ms=(self._clock.monotonic() - started) * 1000.0,
        )

    def _row_by_row(
        self, start: int, batch: FeatureBatch, model: ScoringModel, started: float
    ) -> ScoredBatch:
        """The batch through ``score``: for a model without ``predict_arrays``, and for a batch the
        model refused (rule 5: then each row alone, so only the culprits fail)."""
        rows: list[RescoreInput] = [
            StoredVector(
                policy_number=batch.policy_numbers[i],
                vector=FeatureVector(
                    schema_version=batch.schema_versions[i],
                    values=tuple(batch.matrix[i].tolist()),
                ),
                as_of=dt.date.fromisoformat(batch.as_of[i]),
                prediction_id=batch.prediction_ids[i],
            )
            for i in range(len(batch))
        ]
        outcomes = self.score(self.prepare(start, rows), model)
        empty = np.empty(0, dtype=np.intp)
        return ScoredBatch(
            start=start,
            batch=batch,
            model=model.ref,
            schema_version=model.feature_schema_version,
            batch_run_id=self._batch_run_id,
            scored=empty,
            scores=no_scores(),
            risk_classes=empty,
            feature_hashes=(),
            prediction_ids=(),
            failures={},
            scored_at=self._clock.now(),
            inference_ms=0.0,
            total_ms=(self._clock.monotonic() - started) * 1000.0,
            fallback=outcomes,
        )

    def _batch_failure(
        self,
        start: int,
        batch: FeatureBatch,
        offset: int,
        exc: AsOfMismatch | FeatureSchemaMismatch,
    ) -> RescoreFailure:
        return RescoreFailure(
            index=start + offset,
            policy_number=batch.policy_numbers[offset],
            type=exc.type,
            title=exc.title,
            detail=str(exc),
            source_prediction_id=batch.prediction_ids[offset],
        )

    def prediction_id(self, model_version: str, index: int) -> str:
        """Rule 9: the id of input ``index`` scored by ``model_version`` in this run."""
        key = self._id_prefix(model_version) + b"%d" % index
        return derived_prediction_id(self._run_started_at, key)

    def _id_prefix(self, model_version: str) -> bytes:
        """Rule 9's key of an input index, less the index (``derived_prediction_ids`` appends it)."""
        return f"{self._batch_run_id}\x00{model_version}\x00".encode()

    def _today(self) -> dt.date:
        return self._clock.now().date()


_Refusal = (
    InvalidScoreRequest
    | EvidenceError
    | FeatureSchemaMismatch
    | AsOfMismatch
    | InvalidFeatureVector
)


def _failure(
    index: int,
    policy_number: str,
    exc: _Refusal,
    row: _Usable | StoredVector | None,
) -> RescoreFailure:
    if isinstance(exc, InvalidScoreRequest | EvidenceError):
        detail, document = exc.message, exc.document
    else:
        detail, document = str(exc), None
    if isinstance(row, _Usable):
        source_id = row.source_prediction_id
    elif isinstance(row, StoredVector):
        source_id = row.prediction_id
    else:
        source_id = None
    return RescoreFailure(
        index=index,
        policy_number=policy_number,
        type=exc.type,
        title=exc.title,
        detail=detail,
        document=document,
        source_prediction_id=source_id,
    )


def _matrix(rows: Sequence[_Usable]) -> npt.NDArray[np.float64] | None:
    """The rows' vectors as one matrix, or None when they are not all one length."""
    try:
        matrix = np.array([row.vector.values for row in rows], dtype=np.float64)
    except ValueError:  # ragged
        return None
    return matrix if matrix.ndim == 2 else None
