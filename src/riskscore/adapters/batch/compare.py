"""``--compare V1 V2``: how scores and risk classes move from one model version to another.

Figures (over rows both versions scored; refused rows are counted apart):

- ``mean_abs_shift``, ``median_abs_shift``, ``p90_abs_shift``, ``max_abs_shift`` of
  ``|to_score - from_score|`` (quantiles interpolate linearly, ``numpy.quantile``'s default, as the
  prediction log's summaries do); ``mean_shift`` keeps the sign (positive: V2 scores riskier);
- ``moved``/``share_moved``: rows whose score moved by more than ``threshold`` (0.05);
- ``migration[from_class][to_class]``: counts of the risk-class migration matrix, every class of
  both axes present (zeros included), classes best first.

The report is computed from the comparison rows written to the output, streamed, so a resumed run
reports on every row, including those written before the interruption. Memory: 8 bytes per row.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import get_args

import msgspec
import numpy as np

from riskscore.adapters.batch.rows import CompareRow
from riskscore.domain.scoring import RiskClass

CLASSES: tuple[str, ...] = get_args(RiskClass)
MOVED_THRESHOLD = 0.05


class CompareReport(msgspec.Struct, frozen=True, kw_only=True):
    from_version: str
    to_version: str
    rows: int
    compared: int
    failed: int
    mean_abs_shift: float | None
    median_abs_shift: float | None
    p90_abs_shift: float | None
    max_abs_shift: float | None
    mean_shift: float | None
    threshold: float
    moved: int
    share_moved: float | None
    migration: dict[str, dict[str, int]]


def compare_report(
    rows: Iterable[CompareRow],
    *,
    from_version: str,
    to_version: str,
    threshold: float = MOVED_THRESHOLD,
) -> CompareReport:
    shifts = array("d")
    migration = {a: dict.fromkeys(CLASSES, 0) for a in CLASSES}
    total = failed = 0
    for row in rows:
        total += 1
        if row.error is not None or row.shift is None:
            failed += 1
            continue
        shifts.append(row.shift)
        if row.from_class in migration and row.to_class in migration:
            migration[row.from_class][row.to_class] += 1
    signed = np.frombuffer(shifts, dtype=np.float64) if shifts else np.empty(0)
    absolute = np.abs(signed)
    compared = int(absolute.size)
    moved = int(np.count_nonzero(absolute > threshold))

    def figure(value: np.floating | float) -> float | None:
        return float(value) if compared else None

    return CompareReport(
        from_version=from_version,
        to_version=to_version,
        rows=total,
        compared=compared,
        failed=failed,
        mean_abs_shift=figure(absolute.mean()) if compared else None,
        median_abs_shift=figure(np.quantile(absolute, 0.5)) if compared else None,
        p90_abs_shift=figure(np.quantile(absolute, 0.9)) if compared else None,
        max_abs_shift=figure(absolute.max()) if compared else None,
        mean_shift=figure(signed.mean()) if compared else None,
        threshold=threshold,
        moved=moved,
        share_moved=moved / compared if compared else None,
        migration=migration,
    )


_row_decoder = msgspec.json.Decoder(CompareRow)


def read_compare_rows(path: Path) -> Iterator[CompareRow]:
    """The comparison rows of a JSON Lines output, streamed."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield _row_decoder.decode(line)


def render(report: CompareReport) -> str:
    """The report as plain-text tables (for the terminal)."""

    def number(value: float | None, fmt: str = ".4f") -> str:
        return "n/a" if value is None else format(value, fmt)

    share = "n/a" if report.share_moved is None else f"{report.share_moved:.1%}"
    lines = [
        f"score shift {report.from_version} -> {report.to_version}: "
        f"{report.compared} rows compared, {report.failed} refused",
        f"  mean |shift|    {number(report.mean_abs_shift)}",
        f"  median |shift|  {number(report.median_abs_shift)}",
        f"  p90 |shift|     {number(report.p90_abs_shift)}",
        f"  max |shift|     {number(report.max_abs_shift)}",
        f"  mean shift      {number(report.mean_shift, '+.4f')}",
        f"  moved > {report.threshold:g}   {report.moved} ({share})",
        "",
        f"risk-class migration (rows: {report.from_version}, columns: {report.to_version})",
    ]
    width = max(len(c) for c in CLASSES) + 2
    lines.append("".ljust(width) + "".join(c.rjust(width) for c in CLASSES) + "total".rjust(width))
    for before in CLASSES:
        counts = report.migration.get(before, {})
        cells = [counts.get(after, 0) for after in CLASSES]
        lines.append(
            before.ljust(width)
            + "".join(str(n).rjust(width) for n in cells)
            + str(sum(cells)).rjust(width)
        )
    return "\n".join(lines)
