"""The compiled Rx reader (``_fastread.c``) and the Python one (``reading.read_rx_python``) read
every tree the hardened parser builds into the same fills, and the compiled depth probe answers as
the XPath one does. Trees are random: fills at any depth and inside fills, every field synonym in
mixed case, namespaces, attributes on fills and groups, group child elements, repeats, empty values,
white space Python strips but ASCII does not (U+00A0, U+2003, U+3000), non-ASCII names, CDATA and
comments inside field text."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from riskscore.adapters.lxml import reading
from riskscore.adapters.lxml.parser import LxmlEvidenceParser, hardened_parser

compiled_only = pytest.mark.skipif(
    not reading.COMPILED_READER, reason="the compiled reader was not built (no C compiler)"
)

PARSER = hardened_parser()
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = [
    "DrugFill", "DrugGenericName", "GenericName", "DrugBrandName", "BrandName", "NDC", "FillDate",
    "DateFilled", "DaysSupply", "DaysSupplied", "Quantity", "Qty", "Refills", "Strength",
    "PrescriberId", "PrescriberSpecialty", "PharmacyId", "Prescriber", "Pharmacy", "id",
    "specialty", "Fills", "Unknown", "Dr\u00fcgFill", "\u212aNDC",
]  # fmt: skip
CASES = [str, str.lower, str.upper, str.swapcase]
WORDS = [
    "METFORMIN",
    "30",
    "2024-03-01",
    "12/19/2023",
    "500 MG",
    "2.5",
    "P1",
    "x&y",
    "\u00e9t\u00e9",
]
SPACES = ["", " ", "\n  ", "\t", "\u00a0", "\u2003", "\u3000", "\u200b"]


@st.composite
def texts(draw: st.DrawFn) -> str | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    return (
        draw(st.sampled_from(SPACES))
        + draw(st.sampled_from(["", *WORDS]))
        + draw(st.sampled_from(SPACES))
    )


@st.composite
def names(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(CASES))(draw(st.sampled_from(NAMES)))
    return draw(st.sampled_from(["", "{urn:a}"])) + name


FIELDS = [name for name in NAMES if name not in ("DrugFill", "Fills")]


def element(draw: st.DrawFn, depth: int, name: str | None = None) -> etree._Element:
    elem = etree.Element(name or draw(names()))
    for _ in range(draw(st.integers(0, 2))):
        attribute = draw(st.sampled_from(CASES))(draw(st.sampled_from(NAMES)))
        elem.set(attribute, draw(texts()) or "")
    text = draw(texts())
    if text is not None and draw(st.booleans()):
        elem.text = text
    is_fill = elem.tag.rpartition("}")[2].lower() == "drugfill"
    if is_fill and draw(st.integers(0, 3)):  # most fills have a generic name, some first
        elem.append(
            element(draw, depth + 1, draw(st.sampled_from(["GenericName", "DRUGGENERICNAME"])))
        )
    if depth < 3:
        for _ in range(draw(st.integers(0, 5))):
            child = None
            if is_fill and draw(st.integers(0, 4)):  # inside a fill, mostly fields
                child = draw(st.sampled_from(CASES))(draw(st.sampled_from(FIELDS)))
            elif not is_fill and draw(st.booleans()):
                child = "DrugFill"
            elem.append(element(draw, depth + 1, child))
    return elem


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    xml = etree.tostring(element(draw, 0), encoding="utf-8")
    # CDATA and a comment inside the first field text, which the parser folds into plain text.
    if draw(st.booleans()):
        xml = xml.replace(b"</", b"<![CDATA[ ]]><!--c--></", 1)
    return xml


@compiled_only
@EXAMPLES
@given(documents())
def test_compiled_and_python_readers_agree(xml: bytes) -> None:
    root = etree.fromstring(xml, PARSER)
    compiled = reading.read_rx(root)
    assert compiled == reading.read_rx_python(root)


@compiled_only
@EXAMPLES
@given(documents(), st.integers(1, 6))
def test_compiled_and_xpath_depth_probes_agree(xml: bytes, max_depth: int) -> None:
    root = etree.fromstring(xml, PARSER)
    xpath = etree.XPath("boolean(/*" + "/*" * max_depth + ")")
    assert reading.depth_probe(max_depth)(root) is bool(xpath(root))


@compiled_only
def test_the_compiled_reader_reads_the_reference_document_itself() -> None:
    """Not a silent hand-back to Python: the common document is read in C."""
    xml = (
        b"<IntelRXResponse><Fills><DrugFill><GenericName> SIMVASTATIN </GenericName>"
        b"<DateFilled>12/19/2023</DateFilled><Qty>30</Qty><Strength>20 MG</Strength>"
        b'<Prescriber id="P1" specialty="NP"/></DrugFill><DrugFill><NDC>1</NDC></DrugFill>'
        b"</Fills></IntelRXResponse>"
    )
    fills = reading._READ_FILLS(etree.fromstring(xml, PARSER))  # type: ignore[misc]
    assert fills is not None
    assert [fill.generic_name for fill in fills] == ["SIMVASTATIN"]
    assert fills[0].quantity == 30.0
    assert fills[0].prescriber_specialty == "NP"
    assert str(fills[0].fill_date) == "2023-12-19"


@compiled_only
def test_the_parser_refuses_deep_documents_with_the_compiled_probe() -> None:
    parser = LxmlEvidenceParser(max_depth=5)
    shallow = b"<a><b><c><d><e/></d></c></b></a>"
    deep = b"<a><b><c><d><e><DrugFill/></e></d></c></b></a>"
    assert parser.parse_rx(shallow).fills == ()
    with pytest.raises(Exception, match="deeper than the limit"):
        parser.parse_rx(deep)


@compiled_only
def test_a_non_element_is_refused_not_read() -> None:
    from riskscore.adapters.lxml import _fastread

    with pytest.raises(TypeError):
        _fastread.read_fills("<DrugFill/>")  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler here")
def test_a_machine_with_a_c_compiler_builds_the_reader() -> None:
    # Not @compiled_only, on purpose: with a compiler present, a silently failed optional build
    # (setup.py) would cost the API half its parsing speed; this makes it loud.
    assert reading.COMPILED_READER


def test_without_the_compiled_reader_the_parser_reads_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a machine without a C compiler runs: the same fills for the reference fixtures."""
    from pathlib import Path

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "evidence"
    parser = LxmlEvidenceParser()
    documents = [(fixtures / name).read_bytes() for name in ("rx_reference.xml", "rx_rich.xml")]
    compiled = [parser.parse_rx(xml) for xml in documents]
    monkeypatch.setattr(reading, "_READ_FILLS", None)
    assert [parser.parse_rx(xml) for xml in documents] == compiled
    assert any(report.fills for report in compiled)
