"""Output lines put together by ``_lines.c`` are those of its Python twin (``assemble_lines``),
whatever the columns hold: numbers of every kind msgspec writes, strings with quotes, backslashes,
``","``, control characters and non-ASCII text, choices, items picked with a stride; a spec that
does not match its rows is refused by C and written by Python."""

from __future__ import annotations

import shutil

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.adapters.batch import columnar
from riskscore.adapters.batch.columnar import Part, assemble, assemble_lines

try:
    from riskscore.adapters.batch import _lines as compiled
except ImportError:  # built without a C compiler
    compiled = None  # type: ignore[assignment]

compiled_only = pytest.mark.skipif(
    not columnar.COMPILED_LINES, reason="the compiled line writer was not built (no C compiler)"
)
ENCODE = msgspec.json.Encoder().encode
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(2**63), 2**63 - 1),
)
TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(['","', '"', "\\", '\\"', '\\","', "", "ö\n\t\x00\x1f", "\u2028"]),
)
LITERALS = st.binary(max_size=6)


@st.composite
def specs(draw: st.DrawFn) -> tuple[list[Part], int]:
    rows = draw(st.integers(1, 6))
    spec: list[Part] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["lit", "n", "s", "c"]))
        stride = draw(st.integers(1, 3))
        offset = draw(st.integers(0, stride - 1))
        count = rows * stride
        if kind == "lit":
            spec.append(draw(LITERALS))
        elif kind == "n":
            spec.append(
                (
                    "n",
                    ENCODE(draw(st.lists(NUMBERS, min_size=count, max_size=count))),
                    stride,
                    offset,
                )
            )
        elif kind == "s":
            spec.append(
                ("s", ENCODE(draw(st.lists(TEXTS, min_size=count, max_size=count))), stride, offset)
            )
        else:
            choices = tuple(draw(st.lists(LITERALS, min_size=1, max_size=4)))
            codes = draw(st.lists(st.integers(0, len(choices) - 1), min_size=count, max_size=count))
            spec.append(("c", np.array(codes, dtype=np.int64).tobytes(), stride, offset, choices))
    return spec, rows


@compiled_only
@settings(max_examples=400, deadline=None)
@given(spec_rows=specs())
def test_compiled_lines_are_the_python_lines(spec_rows: tuple[list[Part], int]) -> None:
    spec, rows = spec_rows
    assert compiled.assemble(spec, rows) == b"".join(assemble_lines(spec, rows))


def test_a_string_item_is_the_encoded_string_without_its_quotes() -> None:
    texts = ['a","b', "c\\", '"', "d"]
    spec: list[Part] = [b"<", ("s", ENCODE(texts), 1, 0), b">"]
    assert assemble_lines(spec, 4) == [b"<" + ENCODE(t)[1:-1] + b">" for t in texts]
    assert assemble(spec, 4) == b"".join(assemble_lines(spec, 4))


@compiled_only
@pytest.mark.parametrize(
    "spec",
    [
        [("n", ENCODE([1, 2, 3]), 1, 0)],  # three numbers for two rows
        [("s", ENCODE(["a"]), 1, 0)],  # one string for two rows
        [("c", np.array([0, 2], dtype=np.int64).tobytes(), 1, 0, (b"x", b"y"))],  # out of range
        [("c", np.array([0, -1], dtype=np.int64).tobytes(), 1, 0, (b"x", b"y"))],  # no code
        [("c", np.array([0], dtype=np.int64).tobytes(), 1, 0, (b"x",))],  # one code for two rows
        [("n", ENCODE([1, 2]), 1, 1)],  # offset not below stride
        [("n", b"1,2", 1, 0)],  # not an array
    ],
)
def test_c_refuses_a_spec_that_does_not_match_its_rows(spec: list[Part]) -> None:
    with pytest.raises(ValueError):
        compiled.assemble(spec, 2)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler here")
def test_a_machine_with_a_c_compiler_builds_the_line_writer() -> None:
    # A silently failed optional build (setup.py) would cost rescoring 2 us a stored row.
    assert columnar.COMPILED_LINES
