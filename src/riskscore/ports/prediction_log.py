"""The prediction log: every answered prediction with its full lineage.

Rules every adapter keeps (the contract suite checks them):

- Records are keyed by ``prediction_id``; appending an id again is a no-op, the first write wins.
- Datetimes must be timezone-aware (naive ones are a non-retryable ``PredictionLogError``); they are
  read back as the same instant in UTC. Newest-first lists order by ``scored_at`` then
  ``prediction_id`` (both descending) so ties are stable.
- Retention (FTC Disposal Rule, NAIC #668): the decision record (ids, score, class, model name and
  version, feature schema version, feature hash, reason-code features and contributions, timestamps)
  is kept; ``purge_evidence`` removes what was copied out of the consumer reports, i.e. the feature
  values attached to reason codes.
- ``summarize`` computes its figures exactly as ``PredictionSummary.from_columns`` defines them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import msgspec
import numpy as np

from riskscore.domain.scoring import PredictionRecord

HISTOGRAM_BINS = 10


class PredictionLogError(Exception):
    retryable: bool = False


class PredictionLogUnavailable(PredictionLogError):
    """The log cannot be reached right now (locked, I/O error, network): try again later."""

    retryable = True


class PredictionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Monitoring summary of a time window ``[start, end)`` of ``scored_at``."""

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

    @classmethod
    def from_columns(
        cls,
        *,
        risk_classes: Sequence[str],
        model_versions: Sequence[str],
        scores: Sequence[float],
        total_ms: Sequence[float],
    ) -> PredictionSummary:
        """The reference definition of every figure, given one window's columns.

        Quantiles interpolate linearly between closest ranks (``numpy.quantile``'s default, the same
        as SQL ``PERCENTILE_CONT``). Histogram bin ``i`` holds scores in ``[i/10, (i+1)/10)``, i.e.
        ``min(floor(score * 10), 9)``, so a score of exactly 1.0 falls in the last bin. Counts are
        keyed by ``model_version`` alone.
        """
        count = len(scores)
        if count == 0:
            return cls.empty()
        score_arr = np.asarray(scores, dtype=np.float64)
        ms_arr = np.asarray(total_ms, dtype=np.float64)
        bins = np.minimum(np.floor(score_arr * HISTOGRAM_BINS), HISTOGRAM_BINS - 1).astype(np.int64)
        histogram = np.bincount(bins, minlength=HISTOGRAM_BINS)
        return cls(
            count=count,
            by_risk_class=_counts(risk_classes),
            by_model_version=_counts(model_versions),
            score_mean=float(score_arr.mean()),
            score_p50=float(np.quantile(score_arr, 0.5)),
            score_p90=float(np.quantile(score_arr, 0.9)),
            total_ms_p50=float(np.quantile(ms_arr, 0.5)),
            total_ms_p99=float(np.quantile(ms_arr, 0.99)),
            score_histogram=tuple(int(n) for n in histogram),
        )

    @classmethod
    def empty(cls) -> PredictionSummary:
        return cls(
            count=0,
            by_risk_class={},
            by_model_version={},
            score_mean=None,
            score_p50=None,
            score_p90=None,
            total_ms_p50=None,
            total_ms_p99=None,
            score_histogram=(0,) * HISTOGRAM_BINS,
        )


def _counts(values: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


@runtime_checkable
class PredictionLog(Protocol):
    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        """Store records in one batch; appending a ``prediction_id`` again is a no-op (idempotent)."""
        ...

    def get(self, prediction_id: str) -> PredictionRecord | None: ...

    def by_policy(self, policy_number: str) -> list[PredictionRecord]:
        """A policy's predictions, newest first."""
        ...

    def recent(self, limit: int = 100) -> list[PredictionRecord]:
        """The newest predictions, newest first. A negative ``limit`` is a ``ValueError``."""
        ...

    def iter_batch_run(self, batch_run_id: str) -> Iterator[PredictionRecord]:
        """The predictions of one batch (rescoring) run by ``(scored_at, prediction_id)``, streamed
        in constant memory; records appended while iterating may or may not be seen."""
        ...

    def purge_evidence(self, policy_number: str) -> int:
        """Remove evidence-derived data (reason-code feature values) from a policy's predictions,
        keeping the decision record; returns how many records changed (0 when already purged)."""
        ...

    def summarize(self, start: dt.datetime, end: dt.datetime) -> PredictionSummary:
        """Figures over predictions with ``start <= scored_at < end`` (see ``from_columns``)."""
        ...

    def close(self) -> None:
        """Release connections and files; the log is not used afterwards. Default: nothing to do."""
        return
