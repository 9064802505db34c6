"""Batch SHA-256 digests (``domain.digests``): the compiled module and the hashlib path give the
bytes of ``hashlib.sha256`` row by row, for every message length around the 64-byte blocks and
their padding; a machine with a C compiler and a CPU with SHA extensions really uses the module."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskscore.domain import digests

PATHS = [
    pytest.param(True, id="compiled"),
    pytest.param(False, id="hashlib"),
]


def _path(monkeypatch: pytest.MonkeyPatch, compiled: bool) -> None:
    """Run the test on one path (the fixture is not reset between hypothesis examples; setting
    the same value each time is all it has to do)."""
    if compiled and not digests.COMPILED:
        pytest.skip("the compiled digests are not built here, or the CPU has no SHA extensions")
    monkeypatch.setattr(digests, "COMPILED", compiled)


@pytest.mark.parametrize("compiled", PATHS)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.binary(max_size=80),
    row_bytes=st.integers(1, 300),
    rows=st.integers(0, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_row_digests_are_hashlibs_row_by_row(
    monkeypatch: pytest.MonkeyPatch,
    compiled: bool,
    prefix: bytes,
    row_bytes: int,
    rows: int,
    seed: int,
) -> None:
    _path(monkeypatch, compiled)
    data = np.random.default_rng(seed).bytes(row_bytes * rows)
    expected = b"".join(
        hashlib.sha256(prefix + data[i * row_bytes : (i + 1) * row_bytes]).digest()
        for i in range(rows)
    )
    assert digests.row_digests(data, row_bytes, prefix) == expected


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("length", [*range(40, 140), 1128, 4096])
def test_every_length_around_the_blocks(
    monkeypatch: pytest.MonkeyPatch, compiled: bool, length: int
) -> None:
    _path(monkeypatch, compiled)
    data = bytes(range(256)) * (length // 256 + 2)
    data = data[:length] + data[1 : length + 1] + data[2 : length + 2]  # a pair, then one alone
    assert digests.row_digests(data, length, b"v\x00") == b"".join(
        hashlib.sha256(b"v\x00" + data[i * length : (i + 1) * length]).digest() for i in range(3)
    )


@pytest.mark.parametrize("compiled", PATHS)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.binary(max_size=120),
    indexes=st.lists(st.integers(0, 2**63 - 1) | st.integers(0, 20_000), max_size=20),
)
def test_indexed_digests_hash_the_decimal_index(
    monkeypatch: pytest.MonkeyPatch, compiled: bool, prefix: bytes, indexes: list[int]
) -> None:
    _path(monkeypatch, compiled)
    expected = b"".join(hashlib.sha256(prefix + str(i).encode()).digest() for i in indexes)
    assert digests.indexed_digests(prefix, indexes) == expected


@settings(max_examples=100, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=70), max_size=8), digits=st.sampled_from([2, 20, 32, 64])
)
def test_hex_prefixes_are_hexdigests_cut(messages: list[bytes], digits: int) -> None:
    joined = b"".join(hashlib.sha256(m).digest() for m in messages)
    assert digests.hex_prefixes(joined, digits) == [
        hashlib.sha256(m).hexdigest()[:digits] for m in messages
    ]


@pytest.mark.parametrize("compiled", PATHS)
def test_a_matrix_is_hashed_by_its_bytes(monkeypatch: pytest.MonkeyPatch, compiled: bool) -> None:
    _path(monkeypatch, compiled)
    matrix = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert digests.row_digests(matrix.data, 32, b"s\x00") == b"".join(
        hashlib.sha256(b"s\x00" + row.tobytes()).digest() for row in matrix
    )


NAN_WORDS = [
    0x7FF8000000000000,  # numpy's nan
    0xFFF8000000000000,  # the sign set
    0x7FF0000000000001,  # signalling, a payload
    0x7FFFFFFFFFFFFFFF,
]
SPECIAL_WORDS = [0x7FF0000000000000, 0xFFF0000000000000, 0x8000000000000000, 0]  # +-inf, -0, 0


def _canonical_hexdigest(prefix: bytes, row: np.ndarray, digits: int) -> str:
    words = row.view("<u8").copy()
    words[np.isnan(row)] = 0x7FF8000000000000
    return hashlib.sha256(prefix + words.astype("<u8").tobytes()).hexdigest()[:digits]


@pytest.mark.parametrize("compiled", PATHS)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.binary(max_size=40),
    columns=st.integers(1, 40),
    rows=st.integers(1, 5),
    digits=st.sampled_from([0, 2, 16, 32, 64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_float_rows_hash_every_nan_as_one_and_give_hexdigests_cut(
    monkeypatch: pytest.MonkeyPatch,
    compiled: bool,
    prefix: bytes,
    columns: int,
    rows: int,
    digits: int,
    seed: int,
) -> None:
    _path(monkeypatch, compiled)
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**63, size=(rows, columns), dtype=np.uint64)
    special = rng.random((rows, columns)) < 0.3
    picks = np.array(NAN_WORDS + SPECIAL_WORDS, dtype=np.uint64)
    words[special] = rng.choice(picks, size=int(special.sum()))
    matrix = words.astype("<u8").view("<f8")
    expected = [_canonical_hexdigest(prefix, row, digits) for row in matrix]
    assert digests.float_row_hex_digests(matrix, prefix, digits) == expected


def test_float_rows_of_no_column_or_not_2_d_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        digests.float_row_hex_digests(np.empty((2, 0)), b"", 32)
    with pytest.raises(ValueError, match="2-D"):
        digests.float_row_hex_digests(np.zeros(3), b"", 32)


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="whole number of rows"):
        digests.row_digests(b"abc", 2, b"")
    with pytest.raises(ValueError, match="whole number of rows"):
        digests.row_digests(b"", 0, b"")


def _cpu_has_sha() -> bool:
    try:
        return " sha_ni" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler here")
@pytest.mark.skipif(not _cpu_has_sha(), reason="this CPU has no SHA extensions")
def test_a_machine_with_a_c_compiler_and_sha_extensions_uses_them() -> None:
    # A silently failed optional build (setup.py) would cost batch rescoring 1.3 us a row.
    assert digests.COMPILED
