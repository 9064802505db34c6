"""The prediction log: every answered prediction with its full lineage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from riskscore.domain.scoring import PredictionRecord


class PredictionLogError(Exception):
    retryable: bool = False


class PredictionLogUnavailable(PredictionLogError):
    retryable = True


class PredictionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Monitoring summary of a time window ``[start, end)``."""

    count: int
    by_risk_class: dict[str, int]
    by_model_version: dict[str, int]
    score_mean: float | None
    score_p50: float | None
    score_p90: float | None
    total_ms_p50: float | None
    total_ms_p99: float | None
    score_histogram: tuple[int, ...]
    """Counts of scores in ten equal bins over [0, 1]."""


@runtime_checkable
class PredictionLog(Protocol):
    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        """Store records; appending a ``prediction_id`` again is a no-op (idempotent)."""
        ...

    def get(self, prediction_id: str) -> PredictionRecord | None: ...

    def by_policy(self, policy_number: str) -> list[PredictionRecord]:
        """A policy's predictions, newest first."""
        ...

    def recent(self, limit: int = 100) -> list[PredictionRecord]:
        """The newest predictions, newest first."""
        ...

    def summarize(self, start: dt.datetime, end: dt.datetime) -> PredictionSummary: ...
