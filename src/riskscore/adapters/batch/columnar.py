"""``ResultRow`` JSON lines of a ``ScoredBatch`` written column by column, without a struct per row.

The output is byte for byte what ``msgspec.json.Encoder().encode_lines`` gives for the rows'
``ResultRow``s (``tests/unit/test_rescore_columnar.py`` compares them): every value is encoded by
msgspec, a column at a time (one ``encode`` of the column's list), and a line is the concatenation
of each column's item for the row between fixed literals (``Part``s):

- numbers (index, score, contributions, values): items are what lies between the array's commas
  (a JSON number holds none; NaN and infinities encode as ``null``, as ``ReasonCode.value`` None
  and infinite values do);
- strings (policy numbers, as-of dates, hashes, ids): items are what lies between the array's
  ``","`` separators, the quotes in the literals around them: in msgspec's encoding every quote
  inside a string is escaped, so ``","`` only ever separates items;
- choices (the risk class, a reason code's feature): a literal picked by a code per row.

The compiled ``_lines`` (``_lines.c``, built by setup.py where a C compiler is) finds the items and
copies the lines together without a Python object per piece (floors: 2.6 -> 1.65 us a row, the
rest being msgspec's encodes); without it,
``assemble_lines`` splits and joins in Python, the same bytes (tests/unit/test_rescore_lines.py).
The constants of a run (model, schema version, run id, scoring time) are encoded once into the
literals, and the risk class with them (four variants). Refused rows, batches scored row by row
and batches where a row has fewer reason codes than the others take ``result_row`` (the struct
path).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from riskscore.adapters.batch.rows import result_row
from riskscore.domain.usecases.rescore import ScoredBatch
from riskscore.domain.usecases.rescore_columns import RISK_CLASSES

try:
    from riskscore.adapters.batch import _lines
except ImportError:  # built without a C compiler: assemble_lines does the same in Python
    _lines = None  # type: ignore[assignment]

COMPILED_LINES = _lines is not None
_encoder = msgspec.json.Encoder()


Part = bytes | tuple[str, bytes, int, int] | tuple[str, bytes, int, int, tuple[bytes, ...]]
"""A line's part: a literal, or ``(kind, data, stride, offset[, choices])`` picking item
``row * stride + offset`` of a column: ``"n"`` msgspec's encoding of a list of numbers, ``"s"`` of a
list of strings (the item without its quotes), ``"c"`` int64 codes choosing among ``choices``."""


def result_lines(scored: ScoredBatch) -> bytes:
    """The batch's output lines (one per row, in order), as ``encode_lines`` of its ``ResultRow``s."""
    if scored.fallback is not None or (scored.scores.reason_index < 0).any():
        # Scored row by row, or a row with fewer reason codes than the others (-1 in
        # ``reason_index``): the columns have no shape for it, so the lines are its outcomes'.
        return _encoder.encode_lines(
            [result_row(o, scored.batch_run_id) for o in scored.outcomes()]
        )
    rows = scored.scored.tolist()
    if not rows:
        lines: list[bytes] = []
    else:
        spec = _line_spec(scored, rows)
        if not scored.failures:
            return assemble(spec, len(rows))
        lines = assemble_lines(spec, len(rows))
    ordered: list[bytes] = [b""] * len(scored)
    for offset, line in zip(rows, lines, strict=True):
        ordered[offset] = line
    for offset, failure in scored.failures.items():
        ordered[offset] = _encoder.encode(result_row(failure, scored.batch_run_id)) + b"\n"
    return b"".join(ordered)


def assemble(spec: Sequence[Part], rows: int) -> bytes:
    """``rows`` lines of ``spec`` joined: in C where ``_lines`` is built (no object per piece),
    else by ``assemble_lines``. A spec that does not match its rows is a ValueError either way."""
    if _lines is not None:
        return _lines.assemble(spec, rows)
    return b"".join(assemble_lines(spec, rows))


def assemble_lines(spec: Sequence[Part], rows: int) -> list[bytes]:
    """``rows`` lines of ``spec``, one bytes each: each part's pieces, joined line by line."""
    # Literals repeat forever and columns stop at ``rows``; a spec of literals alone stops here.
    lines = map(b"".join, zip(*(_pieces(part, rows) for part in spec), strict=False))
    return list(itertools.islice(lines, rows))


def _pieces(part: Part, rows: int) -> Iterable[bytes]:
    if isinstance(part, bytes):
        return itertools.repeat(part)
    kind, data, stride, offset = part[:4]
    if kind == "n":
        items: list[bytes] = data[1:-1].split(b",")
    elif kind == "s":
        items = data[2:-2].split(b'","')  # an encoded string holds no unescaped quote
    else:
        choices = part[4]  # type: ignore[misc]
        items = list(map(choices.__getitem__, np.frombuffer(data, dtype=np.int64).tolist()))
    if len(items) != rows * stride:
        raise ValueError("a column does not match the rows")
    return items[offset::stride] if stride > 1 else items


def _numbers(values: Sequence[float] | Sequence[int]) -> tuple[str, bytes, int, int]:
    return ("n", _encoder.encode(values), 1, 0)


def _strings(values: Sequence[str]) -> tuple[str, bytes, int, int]:
    return ("s", _encoder.encode(values), 1, 0)


def _line_spec(scored: ScoredBatch, rows: list[int]) -> list[Part]:
    """The parts of the scored rows' lines (``rows``: their offsets in the batch)."""
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
    classes = tuple(b',"risk_class":' + _encoder.encode(name) + run for name in RISK_CLASSES)
    when = (
        b'","scored_at":'
        + _encoder.encode(scored.scored_at)
        + b',"batch_run_id":'
        + _encoder.encode(scored.batch_run_id)
        + b',"source_prediction_id":"'
    )
    every = len(rows) == len(batch)
    policies = batch.policy_numbers if every else [batch.policy_numbers[i] for i in rows]
    as_of = batch.as_of if every else [batch.as_of[i] for i in rows]
    sources = batch.prediction_ids if every else [batch.prediction_ids[i] for i in rows]
    return [
        b'{"index":',
        _numbers([scored.start + i for i in rows]),
        b',"policy_number":"',
        _strings(policies),
        b'","risk_score":',
        _numbers(scores.probability.tolist()),
        ("c", _codes(scored.risk_classes), 1, 0, classes),
        _strings(scored.feature_hashes),
        b'","as_of":"',
        _strings(as_of),
        b'","prediction_id":"',
        _strings(scored.prediction_ids),
        when,
        _strings(sources),
        *_reason_codes(scored),
    ]


def _codes(values: npt.NDArray[np.integer]) -> bytes:
    return np.ascontiguousarray(values, dtype=np.int64).tobytes()


def _reason_codes(scored: ScoredBatch) -> list[Part]:
    """The parts of the scored rows' ``reason_codes`` arrays and the end of their lines.

    A code's opening (the separator before it, its feature name) is one piece chosen per feature,
    so a line has three pieces per code and one literal between them: fewer pieces to join."""
    scores = scored.scores
    k = scores.reason_index.shape[1]
    end = b',"error":null}\n'
    if k == 0:
        return [b'","reason_codes":[]' + end]
    codes = _codes(scores.reason_index)
    names = [_encoder.encode(name) for name in scores.feature_names]
    contribution = _encoder.encode(scores.reason_contribution.ravel().tolist())
    value = _encoder.encode(scores.reason_value.ravel().tolist())
    parts: list[Part] = []
    for j in range(k):
        before = b'","reason_codes":[' if j == 0 else b"},"
        heads = tuple(before + b'{"feature":' + name + b',"contribution":' for name in names)
        parts += [
            ("c", codes, k, j, heads),
            ("n", contribution, k, j),
            b',"value":',
            ("n", value, k, j),
        ]
    return [*parts, b"}]" + end]
