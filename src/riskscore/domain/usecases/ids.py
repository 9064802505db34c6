"""Prediction ids: UUIDv7 layout (RFC 9562), so ids sort by the time they were issued.

Python 3.11 has no ``uuid.uuid7``; this builds the same bit layout: 48 bits of Unix milliseconds, the
version nibble 7, 74 random bits and the RFC variant. Time comes from the caller (the use case's
clock) so a test clock gives predictable prefixes. The random bits come from ``random`` (seeded from
the OS at start-up and reseeded in every forked child by Python): prediction ids need to be unique,
not secret, and this avoids a system call per id on the request path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

_MS_MASK = (1 << 48) - 1
_RAND_B_MASK = (1 << 62) - 1


def new_prediction_id(now: dt.datetime) -> str:
    """A UUIDv7 string whose timestamp is ``now`` (timezone-aware) in Unix milliseconds."""
    return _uuid7(now, random.getrandbits(80))


def derived_prediction_id(now: dt.datetime, key: bytes) -> str:
    """A UUIDv7 string for ``now`` whose random bits are a SHA-256 of ``key``: the same ``now`` and
    ``key`` always give the same id (batch rescoring derives ids from its run and input index)."""
    return _uuid7(now, int.from_bytes(hashlib.sha256(key).digest()[:10], "big"))


def _uuid7(now: dt.datetime, rand: int) -> str:
    millis = int(now.timestamp() * 1000) & _MS_MASK
    rand_a = (rand >> 68) & 0xFFF
    rand_b = rand & _RAND_B_MASK
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    # str(uuid.UUID(int=value)) without the constructor's checks: a batch run makes millions.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
