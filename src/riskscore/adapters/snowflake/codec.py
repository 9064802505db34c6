"""How domain values are written into Snowflake columns and read back.

- Datetimes: ``TIMESTAMP_NTZ`` holding UTC wall-clock time (a naive datetime is refused on write, read
  values are tagged UTC). NTZ rather than TZ/LTZ: comparisons and indexes do not depend on a session
  time zone, and fakesnow round-trips it.
- Writes send a whole batch as one JSON document (``encode_batch``); dates and timestamps travel as
  text and are cast in SQL.
- Feature values: a ``VARIANT`` JSON array of numbers in schema order. JSON has no NaN or infinities,
  so those are written as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` and read back as
  floats (SQL users: ``TRY_TO_DOUBLE(f.value::STRING)`` reads both forms).
- Reason codes: a ``VARIANT`` JSON array of ``{feature, contribution, value}`` objects.
- VARIANT values come back from the connector (and from fakesnow) as JSON text; a dict or list is
  accepted too, so a driver that decodes them itself works the same.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import msgspec

from riskscore.domain.scoring import ReasonCode

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_encoder = msgspec.json.Encoder()
_reasons_decoder = msgspec.json.Decoder(tuple[ReasonCode, ...])
_values_decoder = msgspec.json.Decoder(list[float | str | None])


class NaiveDatetime(ValueError):
    """A datetime without a timezone cannot be placed on the UTC time line."""


class CorruptValue(ValueError):
    """A stored value does not decode into its domain type."""


def to_utc_naive(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(f"{what} must be timezone-aware")
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def from_utc_naive(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise CorruptValue(f"expected a timestamp, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise CorruptValue(f"expected a date, got {type(value).__name__}")


def values_json(values: tuple[float, ...]) -> list[float | str]:
    """Feature values as JSON-ready items: finite floats as numbers, the others as strings."""
    return [
        v
        if math.isfinite(v)
        else ("NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity"))
        for v in values
    ]


def timestamp_text(value: dt.datetime, what: str) -> str:
    """UTC wall-clock text for a ``TIMESTAMP_NTZ`` cast (microseconds kept)."""
    return to_utc_naive(value, what).strftime("%Y-%m-%d %H:%M:%S.%f")


def encode_batch(rows: list[dict[str, Any]]) -> str:
    """One JSON document for a whole write batch (see ``sql.merge_json_rows``)."""
    return _encoder.encode(rows).decode()


def decode_values(raw: Any) -> tuple[float, ...]:
    try:
        items = _values_decoder.decode(_as_json(raw))
    except msgspec.DecodeError as exc:
        raise CorruptValue(f"feature values: {exc}") from exc
    out: list[float] = []
    for item in items:
        if isinstance(item, str):
            if item not in _NON_FINITE:
                raise CorruptValue("feature values: unexpected string in the array")
            out.append(_NON_FINITE[item])
        elif item is None:
            out.append(math.nan)
        else:
            out.append(float(item))
    return tuple(out)


def encode_reason_codes(codes: tuple[ReasonCode, ...]) -> str:
    return _encoder.encode(codes).decode()


def decode_reason_codes(raw: Any) -> tuple[ReasonCode, ...]:
    if raw is None:
        return ()
    try:
        return _reasons_decoder.decode(_as_json(raw))
    except msgspec.DecodeError as exc:
        raise CorruptValue(f"reason codes: {exc}") from exc


def _as_json(raw: Any) -> bytes | str:
    if isinstance(raw, str | bytes):
        return raw
    return _encoder.encode(raw)
