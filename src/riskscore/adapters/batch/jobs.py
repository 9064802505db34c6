"""The per-chunk jobs of a batch run (``runner.Job``): score a chunk in a worker, hand back bytes.

Jobs run in workers and return bytes (output lines, msgpack): encoding there spreads the cost over
the processes instead of serializing it in the parent. A chunk is rows (``RescorePolicies.prepare``
then ``score``) or ``Batches`` of stored vectors (``score_batch`` each); the plain result output
of batches is written column by column (``columnar.result_lines``), everything else (comparisons,
records to log, the library's outcomes) from the outcomes.
"""

from __future__ import annotations

import operator
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, SupportsIndex

import msgspec

from riskscore.adapters.batch.columnar import result_lines
from riskscore.adapters.batch.rows import RowKind, compare_row, result_row
from riskscore.adapters.batch.runner import Batches, Payload, Worker
from riskscore.domain.scoring import PredictionRecord
from riskscore.domain.usecases.rescore import (
    RescoreFailure,
    RescoreOutcome,
    RescoreResult,
    ScoredBatch,
)
from riskscore.ports.model_registry import ScoringModel

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
    if isinstance(rows, Batches):
        return rows.batches[-1].policy_numbers[-1]
    return rows[-1].policy_number


def _scored(
    worker: Worker, start: int, rows: Batches, model: ScoringModel | None = None
) -> list[ScoredBatch]:
    scored = []
    for batch in rows.batches:
        scored.append(worker.policies.score_batch(start, batch, model))
        start += len(batch)
    return scored


def _outcomes(worker: Worker, start: int, rows: Payload) -> list[list[RescoreOutcome]]:
    """The chunk's outcomes for each of the run's models."""
    if isinstance(rows, Batches):
        return [
            [o for scored in _scored(worker, start, rows, model) for o in scored.outcomes()]
            for model in worker.models
        ]
    prepared = worker.policies.prepare(start, rows)
    return [worker.policies.score(prepared, model) for model in worker.models]


@dataclass(frozen=True, slots=True)
class OutcomesJob:
    """The library's job: the outcomes themselves, msgpack-encoded when they cross processes."""

    packed: bool = True

    def __call__(self, worker: Worker, start: int, rows: Payload) -> bytes | list[RescoreOutcome]:
        if isinstance(rows, Batches):
            outcomes = [o for s in _scored(worker, start, rows) for o in s.outcomes()]
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

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        """Pickled with protocol 5, the lines (1.9 MB a 2,500-row chunk) go out of band: a forked
        worker writes them beside the pickle as they are (``forks.py``), and they are read back
        as ``bytes`` without a copy. Pickling them into the stream took 0.8 ms of the worker's
        time, loading them 0.15 ms of the committer's."""
        lines: bytes | pickle.PickleBuffer = self.lines
        if operator.index(protocol) >= 5:
            lines = pickle.PickleBuffer(self.lines)
        fields = (self.rows, self.failures, self.last_policy_number, self.records)
        return _chunk_output, (lines, *fields)


def _chunk_output(
    lines: Any, rows: int, failures: int, last_policy_number: str, records: bytes | None
) -> ChunkOutput:
    return ChunkOutput(_as_bytes(lines), rows, failures, last_policy_number, records)


def _as_bytes(buffer: Any) -> bytes:
    """An out-of-band buffer as ``bytes``: the very ``bytes`` that was read, when it is one."""
    if type(buffer) is bytes:
        return buffer
    view = memoryview(buffer)
    exported = view.obj
    if type(exported) is bytes and view.contiguous and view.nbytes == len(exported):
        return exported
    return view.tobytes()


@dataclass(frozen=True, slots=True)
class OutputJob:
    """The CLI's job: output lines (``ResultRow`` or, with two models, ``CompareRow``)."""

    kind: RowKind = "result"
    log: bool = False

    def __call__(self, worker: Worker, start: int, rows: Payload) -> ChunkOutput:
        if isinstance(rows, Batches) and self.kind == "result":
            return self._columns(_scored(worker, start, rows), _last_policy_number(rows))
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

    def _columns(self, scored: list[ScoredBatch], last_policy_number: str) -> ChunkOutput:
        records = None
        if self.log:
            results = [
                o.prediction for s in scored for o in s.outcomes() if isinstance(o, RescoreResult)
            ]
            records = _outcomes_encoder.encode(results)
        return ChunkOutput(
            lines=b"".join(result_lines(s) for s in scored),
            rows=sum(len(s) for s in scored),
            failures=sum(_failures(s) for s in scored),
            last_policy_number=last_policy_number,
            records=records,
        )


def _count_failures(outcomes: Sequence[RescoreOutcome]) -> int:
    return sum(1 for o in outcomes if isinstance(o, RescoreFailure))


def _failures(scored: ScoredBatch) -> int:
    if scored.fallback is not None:
        return _count_failures(scored.fallback)
    return len(scored.failures)
