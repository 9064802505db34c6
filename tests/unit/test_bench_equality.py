"""The benchmark's equality check: a system whose answers differ from the reference gets no timings."""

from __future__ import annotations

import math

import pytest
from bench.equality import DEFAULT_TOLERANCE, EqualityError, compare, require

REFERENCE = {"A": 0.1, "B": 0.25, "C": 0.9}


def test_answers_within_tolerance_pass() -> None:
    got = {"A": 0.1 + 1e-12, "B": 0.25 - 3e-10, "C": 0.9}

    check = compare("sys", REFERENCE, got)

    assert check.ok
    assert check.compared == 3
    assert check.max_abs_diff == pytest.approx(3e-10, rel=1e-3)
    assert check.tolerance == DEFAULT_TOLERANCE


def test_an_answer_beyond_tolerance_fails_and_is_named() -> None:
    got = {"A": 0.1, "B": 0.25 + 2e-9, "C": 0.9}

    check = compare("fast-but-wrong", REFERENCE, got)

    assert not check.ok
    assert [key for key, _, _ in check.mismatches] == ["B"]
    assert "fast-but-wrong" in check.describe()
    assert "B" in check.describe()


def test_the_tolerance_is_a_parameter() -> None:
    got = {"A": 0.1005, "B": 0.25, "C": 0.9}

    assert not compare("s", REFERENCE, got).ok
    assert compare("s", REFERENCE, got, tolerance=1e-3).ok


def test_missing_and_unexpected_answers_fail() -> None:
    missing = compare("s", REFERENCE, {"A": 0.1, "B": 0.25})
    extra = compare("s", REFERENCE, {**REFERENCE, "D": 0.5})

    assert not missing.ok
    assert missing.missing == ["C"]
    assert not extra.ok
    assert extra.unexpected == ["D"]


def test_nan_is_never_equal() -> None:
    check = compare("s", REFERENCE, {**REFERENCE, "A": math.nan})

    assert not check.ok
    assert math.isinf(check.max_abs_diff)


def test_nothing_compared_is_not_a_pass() -> None:
    assert not compare("s", {}, {}).ok


def test_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        compare("s", REFERENCE, REFERENCE, tolerance=-1.0)


def test_require_raises_with_every_failed_system() -> None:
    good = compare("good", REFERENCE, REFERENCE)
    bad1 = compare("bad-one", REFERENCE, {**REFERENCE, "A": 0.2})
    bad2 = compare("bad-two", REFERENCE, {"A": 0.1})

    assert require([good]) == [good]
    with pytest.raises(EqualityError) as info:
        require([good, bad1, bad2])
    assert "bad-one" in str(info.value)
    assert "bad-two" in str(info.value)
    assert "good:" not in str(info.value)


def test_summary_is_plain_data() -> None:
    summary = compare("s", REFERENCE, REFERENCE).summary()

    assert summary == {
        "system": "s",
        "compared": 3,
        "tolerance": DEFAULT_TOLERANCE,
        "max_abs_diff": 0.0,
        "ok": True,
        "mismatches": 0,
        "missing": 0,
    }
