"""Same input, same score: the check every compared system passes before its timings count.

The reference is computed in the harness's own process: riskscore's parser and feature extraction,
then the scikit-learn estimator's ``predict_proba`` (what the seed architecture does). Every system
is asked the same inputs (with an explicit ``as_of``) and each answer must be within ``tolerance``
(absolute, on the probability) of the reference. A missing answer, an extra one, or a NaN fails.

Why 1e-9: riskscore's compiled trees reach the same leaves as scikit-learn and differ only in the order
the leaf values are summed (a few ulps of the log-odds, ~1e-15 on the probability); JSON carries
floats exactly (shortest round-trip repr). 1e-9 is six orders of magnitude above that noise and far
below any difference a wrong feature, a wrong leaf or a float32 rounding slip would make.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import msgspec

DEFAULT_TOLERANCE = 1e-9
_SHOWN = 5


class EqualityError(AssertionError):
    """A system answered differently from the reference: its timings must not be reported."""


class EqualityCheck(msgspec.Struct, frozen=True, kw_only=True):
    system: str
    compared: int
    tolerance: float
    max_abs_diff: float
    mismatches: list[tuple[str, float, float]] = []
    missing: list[str] = []
    unexpected: list[str] = []

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.missing or self.unexpected) and self.compared > 0

    def summary(self) -> dict[str, object]:
        return {
            "system": self.system,
            "compared": self.compared,
            "tolerance": self.tolerance,
            "max_abs_diff": self.max_abs_diff,
            "ok": self.ok,
            "mismatches": len(self.mismatches),
            "missing": len(self.missing),
        }

    def describe(self) -> str:
        if self.ok:
            return (
                f"{self.system}: {self.compared} scores equal the reference "
                f"(max |diff| {self.max_abs_diff:.2e} <= {self.tolerance:.0e})"
            )
        parts = [f"{self.system}: answers differ from the reference"]
        if self.compared == 0 and not self.mismatches:
            parts.append("nothing compared")
        if self.mismatches:
            shown = ", ".join(
                f"{key}: {ref!r} vs {got!r}" for key, ref, got in self.mismatches[:_SHOWN]
            )
            parts.append(f"{len(self.mismatches)} beyond {self.tolerance:.0e} ({shown})")
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({', '.join(self.missing[:_SHOWN])})")
        if self.unexpected:
            parts.append(
                f"{len(self.unexpected)} unexpected ({', '.join(self.unexpected[:_SHOWN])})"
            )
        return "; ".join(parts)


def compare(
    system: str,
    reference: Mapping[str, float],
    answers: Mapping[str, float],
    tolerance: float = DEFAULT_TOLERANCE,
) -> EqualityCheck:
    """Compare ``answers`` with ``reference`` key by key (keys: policy numbers or request ids)."""
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    mismatches: list[tuple[str, float, float]] = []
    worst = 0.0
    compared = 0
    for key, expected in reference.items():
        if key not in answers:
            continue
        got = answers[key]
        compared += 1
        diff = abs(got - expected)
        if math.isnan(diff):
            mismatches.append((key, expected, got))
            worst = math.inf
            continue
        worst = max(worst, diff)
        if diff > tolerance:
            mismatches.append((key, expected, got))
    return EqualityCheck(
        system=system,
        compared=compared,
        tolerance=tolerance,
        max_abs_diff=worst,
        mismatches=mismatches,
        missing=[key for key in reference if key not in answers],
        unexpected=[key for key in answers if key not in reference],
    )


def require(checks: Iterable[EqualityCheck]) -> list[EqualityCheck]:
    """All ``checks`` passed, or ``EqualityError`` naming every one that did not."""
    checks = list(checks)
    failed = [check for check in checks if not check.ok]
    if failed:
        raise EqualityError("\n".join(check.describe() for check in failed))
    return checks
