"""Output rows of a batch run: the file format users read.

The edge owns its schema (STYLE.md 5): domain outcomes are mapped explicitly onto flat rows.

- ``ResultRow``: one per input row, in input order, ``index`` = position in the input (0-based). A
  scored row has the score, class, lineage and reason codes and ``error = null``; a refused row has
  only ``index``, ``policy_number`` (as given, possibly empty) and ``error {type, title, detail,
  document}``. Details never quote evidence.
- ``CompareRow``: ``--compare V1 V2`` writes one per input row: both scores and classes and
  ``shift = to_score - from_score``; a row refused by either model has ``error`` instead.

The jobs that make them are in ``jobs.py``; ``columnar.py`` writes ``ResultRow`` lines straight
from a scored batch's columns, byte for byte what encoding the rows gives.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from riskscore.domain.scoring import ReasonCode
from riskscore.domain.usecases.rescore import RescoreFailure, RescoreOutcome


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    title: str
    detail: str
    document: str | None = None


class ResultRow(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    policy_number: str
    risk_score: float | None = None
    risk_class: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    feature_schema_version: str | None = None
    feature_hash: str | None = None
    as_of: dt.date | None = None
    prediction_id: str | None = None
    scored_at: dt.datetime | None = None
    batch_run_id: str | None = None
    source_prediction_id: str | None = None
    reason_codes: tuple[ReasonCode, ...] = ()
    error: RowError | None = None


class CompareRow(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    policy_number: str
    from_version: str
    to_version: str
    from_score: float | None = None
    to_score: float | None = None
    shift: float | None = None
    from_class: str | None = None
    to_class: str | None = None
    error: RowError | None = None


RowKind = Literal["result", "compare"]


def _error(failure: RescoreFailure) -> RowError:
    return RowError(
        type=failure.type, title=failure.title, detail=failure.detail, document=failure.document
    )


def result_row(outcome: RescoreOutcome, batch_run_id: str | None = None) -> ResultRow:
    """The output row of an outcome; a failure row names the run too (``batch_run_id``)."""
    if isinstance(outcome, RescoreFailure):
        return ResultRow(
            index=outcome.index,
            policy_number=outcome.policy_number,
            batch_run_id=batch_run_id,
            source_prediction_id=outcome.source_prediction_id,
            error=_error(outcome),
        )
    p = outcome.prediction
    return ResultRow(
        index=outcome.index,
        policy_number=p.policy_number,
        risk_score=p.risk_score,
        risk_class=p.risk_class,
        model_name=p.model_name,
        model_version=p.model_version,
        feature_schema_version=p.feature_schema_version,
        feature_hash=p.feature_hash,
        as_of=p.as_of,
        prediction_id=p.prediction_id,
        scored_at=p.scored_at,
        batch_run_id=p.batch_run_id,
        source_prediction_id=outcome.source_prediction_id,
        reason_codes=p.reason_codes,
    )


def compare_row(
    before: RescoreOutcome, after: RescoreOutcome, from_version: str, to_version: str
) -> CompareRow:
    if isinstance(before, RescoreFailure) or isinstance(after, RescoreFailure):
        failure = before if isinstance(before, RescoreFailure) else after
        assert isinstance(failure, RescoreFailure)
        return CompareRow(
            index=failure.index,
            policy_number=failure.policy_number,
            from_version=from_version,
            to_version=to_version,
            error=_error(failure),
        )
    return CompareRow(
        index=before.index,
        policy_number=before.policy_number,
        from_version=from_version,
        to_version=to_version,
        from_score=before.risk_score,
        to_score=after.risk_score,
        shift=after.risk_score - before.risk_score,
        from_class=before.risk_class,
        to_class=after.risk_class,
    )
