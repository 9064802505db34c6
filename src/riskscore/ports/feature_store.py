"""The online feature store: every scored feature vector, latest by policy.

Rules every adapter keeps (the contract suite checks them):

- Records are keyed by ``prediction_id``; writing an id again is a no-op, the first write wins.
- ``feature_ts`` must be timezone-aware (naive datetimes are a non-retryable ``FeatureStoreError``);
  it is read back as the same instant in UTC.
- ``latest`` orders by ``feature_ts`` then ``prediction_id`` (both descending) so ties are stable.
- ``iter_records`` streams in ascending ``(feature_ts, prediction_id)`` order in constant memory;
  records written while an iteration runs may or may not be seen by it.
- Retention (FTC Disposal Rule, NAIC #668): feature vectors are derived from consumer reports, so
  ``purge_policy`` deletes them outright. The decision record survives in the prediction log
  (see ``PredictionLog.purge_evidence``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from riskscore.domain.scoring import FeatureRecord


class FeatureStoreError(Exception):
    """The store failed; ``retryable`` tells the audit trail whether to try again later."""

    retryable: bool = False


class FeatureStoreUnavailable(FeatureStoreError):
    """The store cannot be reached right now (locked, I/O error, network): try again later."""

    retryable = True


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

    def purge_policy(self, policy_number: str) -> int:
        """Delete a policy's feature records (retention / disposal); returns how many."""
        ...

    def close(self) -> None:
        """Release connections and files; the store is not used afterwards. Default: nothing to do."""
        return
