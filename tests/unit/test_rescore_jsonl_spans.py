"""JSON Lines handed to workers as spans of bytes: the rows a run scores are exactly those of
reading the file line by line (``for line in handle``, blank lines skipped, lines numbered from 1),
whatever the spans' size, the scan's block size, blank or whitespace-led lines, a last line without
a newline, or a line longer than a block; a file that changed after its spans were planned fails
the chunk rather than shifting rows."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskscore.adapters.batch import sources
from riskscore.adapters.batch.sources import JsonlSource, SourceError, read_line
from riskscore.domain.usecases.rescore import RescoreInput


def line_by_line(path: Path) -> list[RescoreInput]:
    """The reference: what a JSON Lines source meant before spans."""
    with path.open("rb") as handle:
        return [
            read_line(number, line)
            for number, line in enumerate(handle, start=1)
            if not line.isspace()
        ]


def application(i: int) -> bytes:
    return msgspec.json.encode({"policy_number": f"P-{i}", "mib_xml": "<r/>", "rx_xml": "<r/>"})


LINES = st.one_of(
    st.integers(0, 999).map(application),
    st.integers(0, 999).map(lambda i: b" \t" + application(i)),  # not blank: led by spaces
    st.sampled_from([b"", b" ", b"\t\r", b"\x0b\x0c  ", b"{broken", b"[]", b"null", b"\xff\xfe"]),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(LINES, max_size=25),
    final_newline=st.booleans(),
    batch_size=st.integers(1, 7),
    block=st.integers(1, 64),
)
def test_spans_give_the_rows_of_reading_line_by_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[bytes],
    final_newline: bool,
    batch_size: int,
    block: int,
) -> None:
    monkeypatch.setattr(sources, "_SCAN_BYTES", block)  # lines cross blocks, or outgrow them
    path = tmp_path / "apps.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline and lines else b""))
    spans = list(JsonlSource(path).spans(batch_size))
    assert all(0 < span.rows <= batch_size for span in spans)
    assert all(span.rows == batch_size for span in spans[:-1])
    assert [row for span in spans for row in span.read()] == line_by_line(path)
    assert list(JsonlSource(path)) == line_by_line(path)


def test_spans_after_a_skip_start_at_the_next_non_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "apps.jsonl"
    path.write_bytes(b"\n".join([application(0), b"", application(1), b"  ", application(2)]))
    spans = list(JsonlSource(path).spans(5, skip=1))
    assert [span.first_line for span in spans] == [3]
    assert [row.policy_number for row in spans[0].read()] == ["P-1", "P-2"]
    assert list(JsonlSource(path).spans(5, skip=3)) == []


def test_a_file_changed_after_planning_fails_the_span(tmp_path: Path) -> None:
    path = tmp_path / "apps.jsonl"
    path.write_bytes(b"\n".join(application(i) for i in range(4)) + b"\n")
    (span,) = JsonlSource(path).spans(10)
    path.write_bytes(b"\n".join(application(i) for i in range(4)).replace(b"\n", b"\n\n"))
    with pytest.raises(SourceError, match="changed while it was read"):
        span.read()
    path.unlink()
    with pytest.raises(SourceError, match="cannot read"):
        span.read()


def test_a_bad_batch_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "apps.jsonl"
    path.write_bytes(application(0))
    with pytest.raises(ValueError, match="batch_size"):
        list(JsonlSource(path).spans(0))
