"""SQL text shared by the Snowflake stores. Values are always bound (``%s``), never formatted in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")

ONLINE_FEATURES = "HYBRID_REALTIME.HT_ONLINE_FEATURES"
MODEL_PREDICTIONS = "ML_MODELS.MODEL_PREDICTIONS"


class _Keyed(Protocol):
    @property
    def prediction_id(self) -> str: ...


K = TypeVar("K", bound=_Keyed)


def first_of_each_id(records: Sequence[K]) -> list[K]:
    """The batch with repeated ``prediction_id``s dropped (first wins): a MERGE source must hold
    each key once, or both copies would be inserted."""
    seen: set[str] = set()
    unique: list[K] = []
    for record in records:
        if record.prediction_id not in seen:
            seen.add(record.prediction_id)
            unique.append(record)
    return unique


def qualified(database: str, schema_table: str) -> str:
    """``DATABASE.SCHEMA.TABLE``; the database name comes from settings, so it is checked."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"database must be a plain Snowflake identifier, got {database!r}")
    return f"{database}.{schema_table}"


def merge_json_rows(table: str, key: str, columns: Sequence[tuple[str, str]]) -> str:
    """An idempotent multi-row insert: ``MERGE ... WHEN NOT MATCHED THEN INSERT`` on ``key``.

    The batch is ONE bound parameter, a JSON array of objects keyed by column name, expanded with
    ``LATERAL FLATTEN``; ``columns`` are ``(name, expression)`` pairs where ``{}`` stands for the
    field (``"{}::TIMESTAMP_NTZ"``; a bare ``"{}"`` keeps a VARIANT). Compared with a ``VALUES`` list of
    one placeholder per field, the statement text is the same for every batch and an order of
    magnitude smaller, which matters to Snowflake's compiler and even more to fakesnow's rewriter
    (measured: 200 prediction rows in 0.14 s instead of 0.75 s). The batch must hold each key once.
    """
    select = ", ".join(
        f"{expression.format(f'f.value:{name}')} AS {name}" for name, expression in columns
    )
    names = ", ".join(name for name, _ in columns)
    sources = ", ".join(f"s.{name}" for name, _ in columns)
    return (
        f"MERGE INTO {table} AS t"  # noqa: S608 - identifiers are constants; values are bound
        f" USING (SELECT {select}"
        " FROM (SELECT PARSE_JSON(%s) AS BATCH) AS b, LATERAL FLATTEN(INPUT => b.BATCH) AS f) AS s"
        f" ON t.{key} = s.{key}"
        f" WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({sources})"
    )


def keyset_page(select: str, filters: Sequence[str], order: tuple[str, str], *, after: bool) -> str:
    """One page of a stream ordered by ``order`` (a time column, then the id), after the last key.

    Bind ``*filter_values, [last_time, last_time, last_id,] limit``.
    """
    time_col, id_col = order
    conditions = list(filters)
    if after:
        conditions.append(
            f"({time_col} > %s::TIMESTAMP_NTZ"
            f" OR ({time_col} = %s::TIMESTAMP_NTZ AND {id_col} > %s))"
        )
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{select}{where} ORDER BY {time_col}, {id_col} LIMIT %s"
