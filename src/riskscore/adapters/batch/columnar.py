"""``ResultRow`` JSON lines of a ``ScoredBatch`` written column by column, without a struct per row.

The output is byte for byte what ``msgspec.json.Encoder().encode_lines`` gives for the rows'
``ResultRow``s (``tests/unit/test_rescore_columnar.py`` compares them): every value is encoded by
msgspec, a column at a time, and a line is the concatenation of its fields' pieces between fixed
literals. What varies per row is encoded once per batch and split into pieces:

- numbers (index, score, contributions, values): one ``encode`` of the column's list, split on
  commas (a JSON number holds none; NaN and infinities encode as ``null``, as ``ReasonCode.value``
  None and infinite values do);
- hex hashes and UUIDs: one ``encode`` of the list, split on ``","`` (they hold no quote);
- free text (policy numbers, stored prediction ids, as-of dates as stored): one ``encode`` each,
  since only the encoder knows how a string escapes.

The constants of a run (model, schema version, run id, scoring time) are encoded once into the
literals, and the risk class with them (four variants). Refused rows and batches scored row by row
take ``result_row`` (the struct path).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import msgspec

from riskscore.adapters.batch.rows import result_row
from riskscore.domain.usecases.rescore import ScoredBatch
from riskscore.domain.usecases.rescore_columns import RISK_CLASSES

_encoder = msgspec.json.Encoder()


def _numbers(values: Sequence[float] | Sequence[int]) -> list[bytes]:
    if not values:
        return []
    return _encoder.encode(values)[1:-1].split(b",")


def _plain_text(values: Sequence[str]) -> list[bytes]:
    """Strings made of characters JSON never escapes (hex digits, UUIDs), unquoted."""
    if not values:
        return []
    return _encoder.encode(values)[2:-2].split(b'","')


def _texts(values: Iterable[str | None]) -> list[bytes]:
    return list(map(_encoder.encode, values))


def result_lines(scored: ScoredBatch) -> bytes:
    """The batch's output lines (one per row, in order), as ``encode_lines`` of its ``ResultRow``s."""
    if scored.fallback is not None:
        return _encoder.encode_lines([result_row(o, scored.batch_run_id) for o in scored.fallback])
    # A line is the join of one piece of each column (faster than one join of every piece). The
    # literals repeat forever: the finite columns (one entry per scored row) end the zip.
    lines = list(map(b"".join, zip(*_columns(scored), strict=False)))
    if not scored.failures:
        return b"".join(lines)
    ordered: list[bytes] = [b""] * len(scored)
    for offset, line in zip(scored.scored.tolist(), lines, strict=True):
        ordered[offset] = line
    for offset, failure in scored.failures.items():
        ordered[offset] = _encoder.encode(result_row(failure, scored.batch_run_id)) + b"\n"
    return b"".join(ordered)


def _columns(scored: ScoredBatch) -> list[Iterable[bytes]]:
    """The pieces of the scored rows' lines, column by column (a line: one piece of each)."""
    rows = scored.scored.tolist()
    if not rows:
        return []
    batch, scores = scored.batch, scored.scores
    run = (
        b',"model_name":'
        + _encoder.encode(scored.model.name)
        + b',"model_version":'
        + _encoder.encode(scored.model.version)
        + b',"feature_schema_version":'
        + _encoder.encode(scored.schema_version)
        + b',"feature_hash":"'
    )
    classes = [b',"risk_class":' + _encoder.encode(name) + run for name in RISK_CLASSES]
    when = (
        b'","scored_at":'
        + _encoder.encode(scored.scored_at)
        + b',"batch_run_id":'
        + _encoder.encode(scored.batch_run_id)
        + b',"source_prediction_id":'
    )
    every = len(rows) == len(batch)
    policies = batch.policy_numbers if every else [batch.policy_numbers[i] for i in rows]
    as_of = batch.as_of if every else [batch.as_of[i] for i in rows]
    sources = batch.prediction_ids if every else [batch.prediction_ids[i] for i in rows]
    return [
        itertools.repeat(b'{"index":'),
        _numbers([scored.start + i for i in rows]),
        itertools.repeat(b',"policy_number":'),
        _texts(policies),
        itertools.repeat(b',"risk_score":'),
        _numbers(scores.probability.tolist()),
        map(classes.__getitem__, scored.risk_classes.tolist()),
        _plain_text(scored.feature_hashes),
        itertools.repeat(b'","as_of":'),
        _texts(as_of),
        itertools.repeat(b',"prediction_id":"'),
        _plain_text(scored.prediction_ids),
        itertools.repeat(when),
        _texts(sources),
        *_reason_codes(scored),
    ]


def _reason_codes(scored: ScoredBatch) -> list[Iterable[bytes]]:
    """The columns of the scored rows' ``reason_codes`` arrays and the end of their lines.

    A code's opening (the separator before it, its feature name) is one piece chosen per feature,
    so a line has three pieces per code and one literal between them: fewer pieces to join."""
    scores = scored.scores
    k = scores.reason_index.shape[1]
    end = b',"error":null}\n'
    if k == 0:
        return [itertools.repeat(b',"reason_codes":[]' + end)]
    index = scores.reason_index.ravel().tolist()
    names = [_encoder.encode(name) for name in scores.feature_names]
    contribution = _numbers(scores.reason_contribution.ravel().tolist())
    value = _numbers(scores.reason_value.ravel().tolist())
    columns: list[Iterable[bytes]] = []
    for j in range(k):
        before = b',"reason_codes":[' if j == 0 else b"},"
        heads = [before + b'{"feature":' + name + b',"contribution":' for name in names]
        columns += [
            list(map(heads.__getitem__, index[j::k])),
            contribution[j::k],
            itertools.repeat(b',"value":'),
            value[j::k],
        ]
    return [*columns, itertools.repeat(b"}]" + end)]
