"""Scalar readers for evidence field text: dates, counts, amounts and drug strengths.

Each reader takes text already stripped of surrounding white space and returns ``None`` when the text
cannot be read: vendors vary, so an unreadable *optional* value is treated as absent rather than
failing the whole document (docs/evidence-format.md). Values outside a sane range (negative counts,
NaN, infinities, counts of a million or more) are unreadable too, so that nothing downstream has to
guard against them. Text longer than ``MAX_SCALAR_CHARS`` is never a number or a date, which keeps a
megabyte of digits from costing anything.

Written for speed (STYLE.md 12): the common spellings (``2024-03-01``, ``30``, ``500 MG``) take the
first branch tried, and the reading code goes through the memoised readers at the bottom.
"""

from __future__ import annotations

import datetime as dt
import re

from riskscore.adapters.lxml.memo import Memo

MAX_SCALAR_CHARS = 32
MAX_COUNT = 999_999
MAX_AMOUNT = 1e9

_LEADING_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


def read_date(text: str) -> dt.date | None:
    """``YYYY-MM-DD`` (also the date part of an ISO date-time), ``YYYYMMDD``, ``YYYY-MM`` (day 1)
    or ``MM/DD/YYYY`` (month and day may have one digit)."""
    size = len(text)
    try:
        if size == 10 and text[4] == "-" and text[7] == "-":
            return dt.date.fromisoformat(text)
        if size > MAX_SCALAR_CHARS or not text.isascii():
            return None
        if size > 10 and text[10] in "T " and text[4] == "-" and text[7] == "-":
            return dt.date.fromisoformat(text[:10])
        if size == 8 and text.isdigit():
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if size == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit():
            return dt.date(int(text[:4]), int(text[5:]), 1)
        month, _, rest = text.partition("/")
        day, _, year = rest.partition("/")
        if (
            len(year) == 4
            and 0 < len(month) <= 2
            and 0 < len(day) <= 2
            and (month + day + year).isdigit()
        ):
            return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    return None


def read_count(text: str) -> int | None:
    """A whole number from 0 to ``MAX_COUNT``; ``30.0`` reads as 30, ``2.5`` is unreadable."""
    if len(text) > MAX_SCALAR_CHARS:
        return None
    try:
        value = int(text)
    except ValueError:
        number = read_amount(text)
        if number is None or not number.is_integer():
            return None
        value = int(number)
    return value if 0 <= value <= MAX_COUNT else None


def read_amount(text: str) -> float | None:
    """A finite number from 0 to ``MAX_AMOUNT`` (a quantity dispensed may be fractional)."""
    if len(text) > MAX_SCALAR_CHARS:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= MAX_AMOUNT else None


def read_strength(text: str) -> float | None:
    """The leading number of a strength as written, whatever its unit: ``500 MG`` -> 500,
    ``5-325 MG`` -> 5, ``25 MCG/HR`` -> 25 (the feature code's MME factors expect the number as
    written). No leading digit means unreadable."""
    match = _LEADING_NUMBER.match(text)
    if match is None or match.end() > MAX_SCALAR_CHARS:
        return None
    value = float(match.group())
    return value if value <= MAX_AMOUNT else None


# Memoised readers for the hot path. A text longer than MAX_SCALAR_CHARS + 1 characters reads the
# same as any other too-long text, so only shorter ones are kept.
_KEPT = MAX_SCALAR_CHARS + 1
DATES = Memo(read_date, max_chars=_KEPT)
COUNTS = Memo(read_count, max_chars=_KEPT)
AMOUNTS = Memo(read_amount, max_chars=_KEPT)
STRENGTHS = Memo(read_strength, max_chars=_KEPT)
