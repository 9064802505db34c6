"""The online feature store: every scored feature vector, latest by policy."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from riskscore.domain.scoring import FeatureRecord


class FeatureStoreError(Exception):
    """The store failed; ``retryable`` tells the audit trail whether to try again later."""

    retryable: bool = False


class FeatureStoreUnavailable(FeatureStoreError):
    retryable = True


@runtime_checkable
class FeatureStore(Protocol):
    def write_many(self, records: Sequence[FeatureRecord]) -> None:
        """Store records; writing a ``prediction_id`` again is a no-op (idempotent)."""
        ...

    def get(self, prediction_id: str) -> FeatureRecord | None: ...

    def latest(self, policy_number: str) -> FeatureRecord | None:
        """The most recent record (by ``feature_ts``) of a policy, or None."""
        ...

    def iter_records(self, schema_version: str | None = None) -> Iterator[FeatureRecord]:
        """Every record (optionally of one schema version), in a stable order, streamed."""
        ...

    def purge_policy(self, policy_number: str) -> int:
        """Delete a policy's feature records (retention / disposal); returns how many."""
        ...
