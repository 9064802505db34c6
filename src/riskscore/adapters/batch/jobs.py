"""The per-chunk jobs of a batch run (``runner.Job``): score a chunk in a worker, hand back bytes.

Jobs run in workers and return bytes (output lines, msgpack): encoding there spreads the cost over
the processes instead of serializing it in the parent. A chunk is rows (``RescorePolicies.prepare``
then ``score``) or a ``FeatureBatch`` of stored vectors (``score_batch``); the plain result output
of a batch is written column by column (``columnar.result_lines``), everything else (comparisons,
records to log, the library's outcomes) from the outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from riskscore.adapters.batch.columnar import result_lines
from riskscore.adapters.batch.rows import RowKind, compare_row, result_row
from riskscore.adapters.batch.runner import Payload, Worker
from riskscore.domain.scoring import PredictionRecord
from riskscore.domain.usecases.rescore import (
    RescoreFailure,
    RescoreOutcome,
    RescoreResult,
    ScoredBatch,
)
from riskscore.ports.feature_store import FeatureBatch

_outcomes_encoder = msgspec.msgpack.Encoder()
_outcomes_decoder = msgspec.msgpack.Decoder(list[RescoreResult | RescoreFailure])
_records_decoder = msgspec.msgpack.Decoder(list[PredictionRecord])
_lines_encoder = msgspec.json.Encoder()


def decode_outcomes(data: bytes | list[RescoreOutcome]) -> list[RescoreOutcome]:
    if isinstance(data, bytes):
        return _outcomes_decoder.decode(data)
    return data


def decode_records(data: bytes) -> list[PredictionRecord]:
    return _records_decoder.decode(data)


def _last_policy_number(rows: Payload) -> str:
    if isinstance(rows, FeatureBatch):
        return rows.policy_numbers[-1]
    return rows[-1].policy_number


def _outcomes(worker: Worker, start: int, rows: Payload) -> list[list[RescoreOutcome]]:
    """The chunk's outcomes for each of the run's models."""
    policies = worker.policies
    if isinstance(rows, FeatureBatch):
        return [policies.score_batch(start, rows, model).outcomes() for model in worker.models]
    prepared = policies.prepare(start, rows)
    return [policies.score(prepared, model) for model in worker.models]


@dataclass(frozen=True, slots=True)
class OutcomesJob:
    """The library's job: the outcomes themselves, msgpack-encoded when they cross processes."""

    packed: bool = True

    def __call__(self, worker: Worker, start: int, rows: Payload) -> bytes | list[RescoreOutcome]:
        if isinstance(rows, FeatureBatch):
            outcomes = worker.policies.score_batch(start, rows).outcomes()
        else:
            outcomes = worker.policies.rescore(start, rows)
        return _outcomes_encoder.encode(outcomes) if self.packed else outcomes


@dataclass(frozen=True, slots=True)
class ChunkOutput:
    """One chunk's output lines (JSON Lines bytes), its counts, and records to log (msgpack)."""

    lines: bytes
    rows: int
    failures: int
    last_policy_number: str
    records: bytes | None = None


@dataclass(frozen=True, slots=True)
class OutputJob:
    """The CLI's job: output lines (``ResultRow`` or, with two models, ``CompareRow``)."""

    kind: RowKind = "result"
    log: bool = False

    def __call__(self, worker: Worker, start: int, rows: Payload) -> ChunkOutput:
        if isinstance(rows, FeatureBatch) and self.kind == "result":
            return self._columns(worker.policies.score_batch(start, rows))
        scored = _outcomes(worker, start, rows)
        records: list[PredictionRecord] = []
        if self.log:
            records = [o.prediction for per in scored for o in per if isinstance(o, RescoreResult)]
        if self.kind == "compare":
            versions = [model.ref.version for model in worker.models]
            lines = _lines_encoder.encode_lines(
                [compare_row(a, b, versions[0], versions[1]) for a, b in zip(*scored, strict=True)]
            )
            failures = sum(
                1
                for a, b in zip(*scored, strict=True)
                if isinstance(a, RescoreFailure) or isinstance(b, RescoreFailure)
            )
        else:
            run_id = worker.batch_run_id
            lines = _lines_encoder.encode_lines([result_row(o, run_id) for o in scored[0]])
            failures = _count_failures(scored[0])
        return ChunkOutput(
            lines=lines,
            rows=len(rows),
            failures=failures,
            last_policy_number=_last_policy_number(rows),
            records=_outcomes_encoder.encode(records) if self.log else None,
        )

    def _columns(self, scored: ScoredBatch) -> ChunkOutput:
        records = None
        if self.log:
            results = [o.prediction for o in scored.outcomes() if isinstance(o, RescoreResult)]
            records = _outcomes_encoder.encode(results)
        failures = (
            _count_failures(scored.fallback)
            if scored.fallback is not None
            else len(scored.failures)
        )
        return ChunkOutput(
            lines=result_lines(scored),
            rows=len(scored),
            failures=failures,
            last_policy_number=_last_policy_number(scored.batch),
            records=records,
        )


def _count_failures(outcomes: Sequence[RescoreOutcome]) -> int:
    return sum(1 for o in outcomes if isinstance(o, RescoreFailure))
