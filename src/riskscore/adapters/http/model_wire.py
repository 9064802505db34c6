"""Request parsing of the model service: Snowflake's four inference body forms to one float matrix.

Snowflake's Model Registry inference protocol accepts (see docs/model-service.md)::

    {"data": [[0, 1.0, 0.0, ...], ...]}                     flat: row index, features in order
    {"data": [[0, {"feature_a": 1.0, ...}], ...]}          wide: row index, one object
    {"dataframe_split": {"index": [0], "columns": [...], "data": [[...]]}}
    {"dataframe_records": [{"feature_a": 1.0, ...}]}

each with an optional ``"params"`` object. Values must be JSON numbers (booleans count as 0/1);
JSON has no NaN or infinity and msgspec refuses numbers beyond float64, so every value is finite. Named
forms must carry exactly the model's feature names. Every refusal is a ``BadRequest``
whose message names the row or column at fault and never quotes a value.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, cast

import msgspec
import numpy as np
import numpy.typing as npt

MAX_EXPLAIN = 64
"""Upper bound of ``params.explain`` (reason codes per row)."""

Number = float | bool
Row = list[Number | dict[str, Number]]
Matrix = npt.NDArray[np.float64]


class BadRequest(Exception):
    """A request the model service refuses with 400; the message is safe to show the client."""


class DataframeSplit(msgspec.Struct, forbid_unknown_fields=True):
    columns: list[str]
    data: list[list[Number]]
    index: list[int] | None = None


class Params(msgspec.Struct):
    """Method parameters. Unknown keys are ignored: Snowflake passes model-specific params here."""

    explain: Annotated[int, msgspec.Meta(ge=0, le=MAX_EXPLAIN)] | None = None


class PredictBody(msgspec.Struct, forbid_unknown_fields=True):
    data: list[Row] | None = None
    dataframe_split: DataframeSplit | None = None
    dataframe_records: list[dict[str, Number]] | None = None
    params: Params | None = None


class ParsedRequest(msgspec.Struct, frozen=True):
    indexes: list[int]
    matrix: Matrix
    explain: int | None


class FeatureLayout:
    """The model's ordered feature names and what the parser derives from them, built once."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.name_set = frozenset(self.names)
        getter = operator.itemgetter(*self.names)
        self.values_of: Callable[[Mapping[str, Number]], tuple[Number, ...]] = (
            (lambda row: (getter(row),)) if len(self.names) == 1 else getter
        )

    def __len__(self) -> int:
        return len(self.names)

    def check_names(self, names: Sequence[str] | Mapping[str, object], where: str) -> None:
        """Refuse unknown, missing and (for lists) repeated feature names."""
        given = list(names.keys()) if isinstance(names, Mapping) else list(names)
        given_set = set(given)
        if given_set == self.name_set and len(given) == len(self.names):
            return
        unknown = sorted(given_set - self.name_set)
        missing = [name for name in self.names if name not in given_set]
        problems = []
        if unknown:
            problems.append(f"unknown columns {_some(unknown)}")
        if missing:
            problems.append(f"missing columns {_some(missing)}")
        if not problems:
            repeated = sorted(name for name, count in Counter(given).items() if count > 1)
            problems.append(f"repeated columns {_some(repeated)}")
        raise BadRequest(
            f"{where}: {'; '.join(problems)}; the model takes exactly its {len(self.names)} "
            "feature names"
        )


def _some(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return f"[{shown}, ... {len(names) - limit} more]" if len(names) > limit else f"[{shown}]"


def parse_body(body: PredictBody, layout: FeatureLayout, max_rows: int) -> ParsedRequest:
    """Turn a decoded body into row indexes and a C-contiguous float64 matrix in schema order."""
    forms = [
        name
        for name, value in (
            ("data", body.data),
            ("dataframe_split", body.dataframe_split),
            ("dataframe_records", body.dataframe_records),
        )
        if value is not None
    ]
    if len(forms) != 1:
        raise BadRequest(
            "send exactly one of 'data', 'dataframe_split' or 'dataframe_records'"
            + (f" (got {', '.join(forms)})" if forms else "")
        )
    if body.data is not None:
        _check_rows(len(body.data), max_rows, "data")
        indexes, matrix = _from_data(body.data, layout)
    elif body.dataframe_split is not None:
        split = body.dataframe_split
        _check_rows(len(split.data), max_rows, "dataframe_split.data")
        indexes, matrix = _from_split(split, layout)
    else:
        assert body.dataframe_records is not None
        _check_rows(len(body.dataframe_records), max_rows, "dataframe_records")
        indexes, matrix = _from_records(body.dataframe_records, layout)
    explain = None if body.params is None else body.params.explain
    return ParsedRequest(indexes, matrix, explain)


_JSON_NAMES = {"str": "string", "int": "integer"}
_TYPE_ERROR = re.compile(
    r"^Expected `(?P<expected>[^`]+)`, got `(?P<got>\w+)` - at `(?P<path>[^`]+)`$"
)


def validation_message(exc: msgspec.ValidationError) -> str:
    """A client-facing message for a body msgspec refused; says where, never quotes a value."""
    match = _TYPE_ERROR.match(str(exc))
    if match and "float" in match["expected"]:
        got = _JSON_NAMES.get(match["got"], match["got"])
        return (
            f"non-numeric value at {match['path']} (got a JSON {got}): "
            "feature values must be JSON numbers"
        )
    return f"invalid request body: {exc}"


def _check_rows(count: int, max_rows: int, where: str) -> None:
    if count == 0:
        raise BadRequest(f"{where} is empty: send at least one row")
    if count > max_rows:
        raise BadRequest(f"{where} has {count} rows; the limit is {max_rows} per request")


def _from_data(rows: list[Row], layout: FeatureLayout) -> tuple[list[int], Matrix]:
    n = len(layout)
    try:  # fast path: every row flat and of the right width
        full = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        full = None
    if full is not None and full.ndim == 2 and full.shape[1] == n + 1:
        indexes = _indexes(full[:, 0].tolist())
        return indexes, np.ascontiguousarray(full[:, 1:])
    # Slow path: wide rows, mixed rows, or an error to pinpoint.
    matrix = np.empty((len(rows), n), dtype=np.float64)
    raw_indexes: list[object] = []
    for i, row in enumerate(rows):
        if len(row) == 2 and isinstance(row[1], dict):
            if row[1].keys() != layout.name_set:
                layout.check_names(row[1], f"data row {i}")
            matrix[i] = layout.values_of(row[1])
        elif len(row) == n + 1 and not any(isinstance(v, dict) for v in row):
            matrix[i] = cast("list[Number]", row[1:])
        elif any(isinstance(v, dict) for v in row):
            raise BadRequest(
                f"data row {i}: a wide row is [row_index, {{feature: value, ...}}] "
                "with the object second and nothing after it"
            )
        else:
            raise BadRequest(
                f"data row {i} has {len(row) - 1} feature values; the model takes {n} "
                "(after the row index, in schema order)"
                if row
                else f"data row {i} is empty; send [row_index, feature values...]"
            )
        raw_indexes.append(row[0])
    return _indexes(raw_indexes), matrix


def _from_split(split: DataframeSplit, layout: FeatureLayout) -> tuple[list[int], Matrix]:
    layout.check_names(split.columns, "dataframe_split.columns")
    width = len(split.columns)
    for i, row in enumerate(split.data):
        if len(row) != width:
            raise BadRequest(
                f"dataframe_split.data row {i} has {len(row)} values; columns has {width}"
            )
    if split.index is not None and len(split.index) != len(split.data):
        raise BadRequest(
            f"dataframe_split.index has {len(split.index)} entries; data has {len(split.data)} rows"
        )
    matrix = np.array(split.data, dtype=np.float64)
    if tuple(split.columns) != layout.names:
        position = {name: i for i, name in enumerate(split.columns)}
        matrix = matrix[:, [position[name] for name in layout.names]]
    indexes = list(range(len(split.data))) if split.index is None else split.index
    return indexes, matrix


def _from_records(
    records: list[dict[str, Number]], layout: FeatureLayout
) -> tuple[list[int], Matrix]:
    matrix = np.empty((len(records), len(layout)), dtype=np.float64)
    for i, record in enumerate(records):
        if record.keys() != layout.name_set:
            layout.check_names(record, f"dataframe_records[{i}]")
        matrix[i] = layout.values_of(record)
    return list(range(len(records))), matrix


def _indexes(raw: Sequence[object]) -> list[int]:
    indexes = []
    for i, value in enumerate(raw):
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        ):
            raise BadRequest(f"data row {i}: the first column must be the integer row index")
        indexes.append(int(value))
    return indexes
