"""Column-at-a-time pieces of batch rescoring: a whole batch per call, not a Python object per row.

Each is the vectorized twin of a per-row rule of the real-time path and gives exactly its answers
(the tests compare them on many rows): ``risk_class_codes`` is ``RiskClassThresholds.classify``,
``derived_prediction_ids`` is ``ids.derived_prediction_id``. With ``content_hashes`` (the feature
hash) and a model's ``predict_arrays`` (``ScoresInArrays``: ``predict`` as arrays),
``RescorePolicies.score_batch`` puts them together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import get_args

import numpy as np
import numpy.typing as npt

from riskscore.domain.digests import HEX_DIGITS, indexed_digests
from riskscore.domain.scoring import RiskClass, RiskClassThresholds
from riskscore.domain.usecases.ids import derived_prediction_id
from riskscore.ports.model_registry import ModelScores

RISK_CLASSES: tuple[RiskClass, ...] = get_args(RiskClass)
"""Risk classes best first; ``risk_class_codes`` answers positions in this tuple."""

F64 = npt.NDArray[np.float64]
Codes = npt.NDArray[np.intp]


def risk_class_codes(probability: F64, thresholds: RiskClassThresholds) -> Codes:
    """``RISK_CLASSES.index(thresholds.classify(p))`` of every probability.

    A class's bound is exclusive (``p < preferred`` is preferred), so the class is the number of
    bounds at or below ``p``: ``searchsorted(..., side="right")``. NaN sorts last, as ``classify``
    (where every comparison with NaN is false) makes it ``refer``.
    """
    bounds = np.array(
        [thresholds.preferred, thresholds.standard, thresholds.substandard], dtype=np.float64
    )
    codes: Codes = np.searchsorted(bounds, probability, side="right")
    return codes


_DASH = ord("-")
_NEWLINE = ord("\n")


def derived_prediction_ids(
    now: dt.datetime, key_prefix: bytes, indexes: Sequence[int]
) -> list[str]:
    """``derived_prediction_id(now, key_prefix + str(index).encode())`` of every index.

    One SHA-256 per id (the definition), then the UUIDv7 text of all ids at once: the time digits
    are the same for every id of a call (taken from ``derived_prediction_id`` itself), and the 74
    random bits (the first 10 digest bytes less the version and variant bits) become hex digits by
    table lookups over the whole batch.
    """
    if not indexes:
        return []
    digests = indexed_digests(key_prefix, indexes)
    d = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 32)[:, :10]
    rows = d.shape[0]
    word = d[:, 2:].copy()  # the variant bits (0b10) replace the top two bits of rand_b
    word[:, 0] = (word[:, 0] & 0x3F) | 0x80
    nibbles = np.empty((rows, 19), dtype=np.uint8)
    nibbles[:, 0] = d[:, 0] >> 4  # rand_a: the digest's first 12 bits
    nibbles[:, 1] = d[:, 0] & 0x0F
    nibbles[:, 2] = d[:, 1] >> 4
    nibbles[:, 3::2] = word >> 4
    nibbles[:, 4::2] = word & 0x0F
    digits = HEX_DIGITS[nibbles]
    text = np.empty((rows, 37), dtype=np.uint8)
    text[:, :15] = np.frombuffer(derived_prediction_id(now, b"")[:15].encode(), dtype=np.uint8)
    text[:, 15:18] = digits[:, 0:3]
    text[:, 18] = _DASH
    text[:, 19:23] = digits[:, 3:7]
    text[:, 23] = _DASH
    text[:, 24:36] = digits[:, 7:19]
    text[:, 36] = _NEWLINE
    return text.tobytes().decode("ascii").split("\n")[:-1]


def no_scores() -> ModelScores:
    """The scores of no row."""
    nothing = np.empty((0, 0), dtype=np.float64)
    return ModelScores(
        probability=np.empty(0, dtype=np.float64),
        raw_score=np.empty(0, dtype=np.float64),
        reason_index=np.empty((0, 0), dtype=np.int64),
        reason_contribution=nothing,
        reason_value=nothing,
        feature_names=(),
    )
