"""The compare report: score-shift figures and the risk-class migration matrix, from known rows."""

from __future__ import annotations

import pytest

from riskscore.adapters.batch.compare import CLASSES, compare_report, render
from riskscore.adapters.batch.rows import CompareRow, RowError


def row(index: int, before: float, after: float, a: str, b: str) -> CompareRow:
    return CompareRow(
        index=index,
        policy_number=f"P-{index}",
        from_version="V1",
        to_version="V2",
        from_score=before,
        to_score=after,
        shift=after - before,
        from_class=a,
        to_class=b,
    )


ROWS = [
    row(0, 0.02, 0.03, "preferred", "preferred"),  # |0.01|
    row(1, 0.10, 0.20, "standard", "substandard"),  # |0.10| moved
    row(2, 0.30, 0.25, "substandard", "substandard"),  # |0.05| not moved (> is strict)
    row(3, 0.50, 0.20, "refer", "substandard"),  # |0.30| moved, down
    CompareRow(
        index=4,
        policy_number="P-4",
        from_version="V1",
        to_version="V2",
        error=RowError(type="malformed-evidence", title="t", detail="d"),
    ),
]


def test_shift_figures() -> None:
    report = compare_report(ROWS, from_version="V1", to_version="V2")
    assert (report.rows, report.compared, report.failed) == (5, 4, 1)
    shifts = [0.01, 0.10, 0.05, 0.30]
    assert report.mean_abs_shift == pytest.approx(sum(shifts) / 4)
    assert report.median_abs_shift == pytest.approx((0.05 + 0.10) / 2)
    # linear interpolation between closest ranks: sorted [0.01, 0.05, 0.10, 0.30], position 2.7
    assert report.p90_abs_shift == pytest.approx(0.10 + 0.7 * (0.30 - 0.10))
    assert report.max_abs_shift == pytest.approx(0.30)
    assert report.mean_shift == pytest.approx((0.01 + 0.10 - 0.05 - 0.30) / 4)
    assert (report.moved, report.share_moved) == (2, 0.5)


def test_migration_matrix_has_every_class_and_counts_each_row_once() -> None:
    report = compare_report(ROWS, from_version="V1", to_version="V2")
    assert list(report.migration) == list(CLASSES)
    assert all(list(counts) == list(CLASSES) for counts in report.migration.values())
    assert report.migration["standard"]["substandard"] == 1
    assert report.migration["refer"]["substandard"] == 1
    assert report.migration["substandard"]["substandard"] == 1
    assert report.migration["preferred"]["preferred"] == 1
    assert sum(sum(c.values()) for c in report.migration.values()) == 4


def test_nothing_compared_gives_no_figures() -> None:
    report = compare_report(ROWS[4:], from_version="V1", to_version="V2")
    assert report.compared == 0
    assert report.mean_abs_shift is None
    assert report.share_moved is None
    assert "n/a" in render(report)


def test_the_table_shows_figures_and_the_matrix() -> None:
    text = render(compare_report(ROWS, from_version="V1", to_version="V2"))
    assert "4 rows compared, 1 refused" in text
    assert "moved > 0.05   2 (50.0%)" in text
    refer_line = next(line for line in text.splitlines() if line.startswith("refer"))
    assert refer_line.split() == ["refer", "0", "0", "1", "0", "1"]
