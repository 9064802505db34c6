"""Small helpers to read nested result dictionaries and form ratios without dividing by nothing."""

from __future__ import annotations


def get(d: object, *keys: str) -> float | None:
    """``d[k1][k2]...`` as a float, or None when any level is missing or not a number."""
    for key in keys:
        if not isinstance(d, dict) or d.get(key) is None:
            return None
        d = d[key]
    return float(d) if isinstance(d, int | float) and not isinstance(d, bool) else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 2 places; None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)
