"""The online feature store: every scored feature vector, latest by policy.

Rules every adapter keeps (the contract suite checks them):

- Records are keyed by ``prediction_id``; writing an id again is a no-op, the first write wins.
- ``feature_ts`` must be timezone-aware (naive datetimes are a non-retryable ``FeatureStoreError``);
  it is read back as the same instant in UTC.
- ``latest`` orders by ``feature_ts`` then ``prediction_id`` (both descending) so ties are stable.
- ``iter_records`` streams in ascending ``(feature_ts, prediction_id)`` order in constant memory;
  records written while an iteration runs may or may not be seen by it.
- ``iter_batches`` streams the same records in the same order, column-wise: ``FeatureBatch``es of at
  most ``batch_size`` rows whose vectors all have one length (a batch ends early where the length
  changes), so a batch's values are one float64 matrix. Batch rescoring reads the store this way:
  no per-record struct, no per-value Python object.
- Optional capability ``PagedFeatureStore``: ``pages`` plans the same batches as ``FeaturePage``s,
  small picklable references that any process can read (``FeaturePage.read``), so rescoring
  workers read their own share of the store instead of the parent reading it all for them.
- Retention (FTC Disposal Rule, NAIC #668): feature vectors are derived from consumer reports, so
  ``purge_policy`` deletes them outright. The decision record survives in the prediction log
  (see ``PredictionLog.purge_evidence``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from riskscore.domain.scoring import FeatureRecord

DEFAULT_BATCH_ROWS = 10_000


class FeatureStoreError(Exception):
    """The store failed; ``retryable`` tells the audit trail whether to try again later."""

    retryable: bool = False


class FeatureStoreUnavailable(FeatureStoreError):
    """The store cannot be reached right now (locked, I/O error, network): try again later."""

    retryable = True


@dataclass(frozen=True, slots=True, eq=False)
class FeatureBatch:
    """Stored feature vectors column-wise, in store order: row ``i`` of every field is one record.

    ``as_of`` holds ISO dates (``YYYY-MM-DD``), as the stores keep them; ``matrix`` is float64,
    ``[rows, length of every vector of the batch]``, possibly read-only (a view of the stored bytes).
    """

    prediction_ids: Sequence[str]
    policy_numbers: Sequence[str]
    as_of: Sequence[str]
    schema_versions: Sequence[str]
    matrix: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        rows = len(self.prediction_ids)
        if self.matrix.ndim != 2 or self.matrix.dtype != np.float64:
            raise ValueError("a feature batch's matrix is 2-D float64")
        columns = (self.policy_numbers, self.as_of, self.schema_versions)
        if self.matrix.shape[0] != rows or any(len(column) != rows for column in columns):
            raise ValueError("a feature batch's columns differ in length")

    def __len__(self) -> int:
        return len(self.prediction_ids)

    def slice(self, start: int, stop: int | None = None) -> FeatureBatch:
        """Rows ``start:stop`` (views, no copy of the matrix)."""
        return FeatureBatch(
            prediction_ids=self.prediction_ids[start:stop],
            policy_numbers=self.policy_numbers[start:stop],
            as_of=self.as_of[start:stop],
            schema_versions=self.schema_versions[start:stop],
            matrix=self.matrix[start:stop],
        )


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")


def batches_of(records: Iterable[FeatureRecord], batch_size: int) -> Iterator[FeatureBatch]:
    """``iter_batches`` from ``iter_records``: what a store without a columnar read does."""
    check_batch_size(batch_size)
    iterator = iter(records)
    while page := list(itertools.islice(iterator, batch_size)):
        for cut in length_runs([len(r.vector.values) for r in page]):
            yield _batch(page[cut])


def length_runs(lengths: Sequence[int]) -> Iterator[slice]:
    """The runs of equal vector lengths in a page, in order: one batch each."""
    start = 0
    for stop in range(1, len(lengths) + 1):
        if stop == len(lengths) or lengths[stop] != lengths[start]:
            yield slice(start, stop)
            start = stop


def _batch(records: Sequence[FeatureRecord]) -> FeatureBatch:
    width = len(records[0].vector.values)
    if width:
        matrix = np.array([r.vector.values for r in records], dtype=np.float64)
    else:
        matrix = np.empty((len(records), 0), dtype=np.float64)
    return FeatureBatch(
        prediction_ids=[r.prediction_id for r in records],
        policy_numbers=[r.policy_number for r in records],
        as_of=[r.as_of.isoformat() for r in records],
        schema_versions=[r.vector.schema_version for r in records],
        matrix=matrix,
    )


class FeaturePage(Protocol):
    """``rows`` consecutive records of a store, read when and where ``read`` is called."""

    @property
    def rows(self) -> int:
        """How many records the page holds (``read`` gives exactly these, or fails)."""
        ...

    def read(self) -> list[FeatureBatch]:
        """The page's records as ``iter_batches`` gives them (one batch per run of one vector
        length); ``FeatureStoreError`` if the store cannot be read or no longer holds them all."""
        ...


@runtime_checkable
class PagedFeatureStore(Protocol):
    """Optional capability of a ``FeatureStore``: its records as pages read in other processes."""

    def pages(
        self,
        schema_version: str | None = None,
        batch_size: int = DEFAULT_BATCH_ROWS,
        *,
        skip: int = 0,
    ) -> Iterator[FeaturePage]:
        """``iter_batches``' records after the first ``skip``, in order, as picklable pages of
        ``batch_size`` records (the last one shorter): the records stored when called."""
        ...


@runtime_checkable
class FeatureStore(Protocol):
    def write_many(self, records: Sequence[FeatureRecord]) -> None:
        """Store records in one batch; writing a ``prediction_id`` again is a no-op (idempotent)."""
        ...

    def get(self, prediction_id: str) -> FeatureRecord | None: ...

    def latest(self, policy_number: str) -> FeatureRecord | None:
        """The most recent record (by ``feature_ts``, then ``prediction_id``) of a policy, or None."""
        ...

    def iter_records(self, schema_version: str | None = None) -> Iterator[FeatureRecord]:
        """Every record (optionally of one schema version) by ``(feature_ts, prediction_id)``, streamed."""
        ...

    def iter_batches(
        self, schema_version: str | None = None, batch_size: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[FeatureBatch]:
        """``iter_records``'s records, same order, as ``FeatureBatch``es of at most ``batch_size``
        rows of one vector length. Default: built from ``iter_records``; stores override it with a
        columnar read. ``ValueError`` for a ``batch_size`` below 1."""
        check_batch_size(batch_size)
        return batches_of(self.iter_records(schema_version), batch_size)

    def purge_policy(self, policy_number: str) -> int:
        """Delete a policy's feature records (retention / disposal); returns how many."""
        ...

    def close(self) -> None:
        """Release connections and files; the store is not used afterwards. Default: nothing to do."""
        return
