"""An in-memory feature store: the fake for unit tests, passing the same contract suite as SQLite.

It can simulate an outage (``fail_with``), the capability audit-trail tests use to exercise retries.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import msgspec

from riskscore.domain.scoring import FeatureRecord
from riskscore.ports.feature_store import FeatureStore, FeatureStoreError


@runtime_checkable
class SupportsOutage(Protocol):
    """Capability of fakes: make every following call raise ``exc`` (``times`` calls, or until
    ``fail_with(None)``)."""

    def fail_with(self, exc: Exception | None, *, times: int | None = None) -> None: ...


class OutageSwitch:
    """Mixin implementing ``SupportsOutage``; subclasses call ``_check_outage()`` first thing."""

    def __init__(self) -> None:
        self._outage_lock = threading.Lock()
        self._outage: Exception | None = None
        self._outage_left: int | None = None
        self.failures_raised = 0

    def fail_with(self, exc: Exception | None, *, times: int | None = None) -> None:
        with self._outage_lock:
            self._outage = exc
            self._outage_left = times if exc is not None else None

    def _check_outage(self) -> None:
        with self._outage_lock:
            exc = self._outage
            if exc is None:
                return
            if self._outage_left is not None:
                self._outage_left -= 1
                if self._outage_left <= 0:
                    self._outage = None
                    self._outage_left = None
            self.failures_raised += 1
        raise exc


def as_utc(value: dt.datetime, error: type[Exception], what: str) -> dt.datetime:
    """The same instant in UTC, as the real stores read it back; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise error(f"{what} must be timezone-aware")
    return value.astimezone(dt.UTC)


def _order_key(record: FeatureRecord) -> tuple[dt.datetime, str]:
    return (record.feature_ts, record.prediction_id)


class InMemoryFeatureStore(OutageSwitch, FeatureStore):
    """Thread-safe; ``batch_sizes`` lists the size of every successful ``write_many`` call."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._records: dict[str, FeatureRecord] = {}
        self.batch_sizes: list[int] = []

    def write_many(self, records: Sequence[FeatureRecord]) -> None:
        self._check_outage()
        stored = [
            msgspec.structs.replace(
                r, feature_ts=as_utc(r.feature_ts, FeatureStoreError, "feature_ts")
            )
            for r in records
        ]
        with self._lock:
            for record in stored:
                self._records.setdefault(record.prediction_id, record)
            self.batch_sizes.append(len(records))

    def get(self, prediction_id: str) -> FeatureRecord | None:
        self._check_outage()
        with self._lock:
            return self._records.get(prediction_id)

    def latest(self, policy_number: str) -> FeatureRecord | None:
        self._check_outage()
        with self._lock:
            mine = [r for r in self._records.values() if r.policy_number == policy_number]
        return max(mine, key=_order_key, default=None)

    def iter_records(self, schema_version: str | None = None) -> Iterator[FeatureRecord]:
        self._check_outage()
        with self._lock:
            snapshot = [
                r
                for r in self._records.values()
                if schema_version is None or r.vector.schema_version == schema_version
            ]
        return iter(sorted(snapshot, key=_order_key))

    def purge_policy(self, policy_number: str) -> int:
        self._check_outage()
        with self._lock:
            doomed = [k for k, r in self._records.items() if r.policy_number == policy_number]
            for key in doomed:
                del self._records[key]
        return len(doomed)

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
