"""An in-memory prediction log: the fake for unit tests, passing the same contract suite as SQLite."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence

import msgspec

from riskscore.adapters.memory.feature_store import OutageSwitch, as_utc
from riskscore.domain.scoring import PredictionRecord
from riskscore.ports.prediction_log import PredictionLog, PredictionLogError, PredictionSummary


def _order_key(record: PredictionRecord) -> tuple[dt.datetime, str]:
    return (record.scored_at, record.prediction_id)


class InMemoryPredictionLog(OutageSwitch, PredictionLog):
    """Thread-safe; ``batch_sizes`` lists the size of every successful ``append_many`` call."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._records: dict[str, PredictionRecord] = {}
        self.batch_sizes: list[int] = []

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        self._check_outage()
        stored = [
            msgspec.structs.replace(
                r, scored_at=as_utc(r.scored_at, PredictionLogError, "scored_at")
            )
            for r in records
        ]
        with self._lock:
            for record in stored:
                self._records.setdefault(record.prediction_id, record)
            self.batch_sizes.append(len(records))

    def get(self, prediction_id: str) -> PredictionRecord | None:
        self._check_outage()
        with self._lock:
            return self._records.get(prediction_id)

    def by_policy(self, policy_number: str) -> list[PredictionRecord]:
        self._check_outage()
        with self._lock:
            mine = [r for r in self._records.values() if r.policy_number == policy_number]
        return sorted(mine, key=_order_key, reverse=True)

    def recent(self, limit: int = 100) -> list[PredictionRecord]:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self._check_outage()
        with self._lock:
            everything = list(self._records.values())
        return sorted(everything, key=_order_key, reverse=True)[:limit]

    def iter_batch_run(self, batch_run_id: str) -> Iterator[PredictionRecord]:
        self._check_outage()
        with self._lock:
            mine = [r for r in self._records.values() if r.batch_run_id == batch_run_id]
        return iter(sorted(mine, key=_order_key))

    def purge_evidence(self, policy_number: str) -> int:
        self._check_outage()
        changed = 0
        with self._lock:
            for key, record in self._records.items():
                if record.policy_number != policy_number:
                    continue
                if all(code.value is None for code in record.reason_codes):
                    continue
                codes = tuple(msgspec.structs.replace(c, value=None) for c in record.reason_codes)
                self._records[key] = msgspec.structs.replace(record, reason_codes=codes)
                changed += 1
        return changed

    def summarize(self, start: dt.datetime, end: dt.datetime) -> PredictionSummary:
        as_utc(start, PredictionLogError, "start")
        as_utc(end, PredictionLogError, "end")
        self._check_outage()
        with self._lock:
            window = [r for r in self._records.values() if start <= r.scored_at < end]
        return PredictionSummary.from_columns(
            risk_classes=[r.risk_class for r in window],
            model_versions=[r.model_version for r in window],
            scores=[r.risk_score for r in window],
            total_ms=[r.total_ms for r in window],
        )

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
