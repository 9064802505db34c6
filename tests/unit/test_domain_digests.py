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
