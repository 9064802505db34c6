"""Properties of ``LxmlEvidenceParser`` over generated input: whatever arrives (bytes, text, damaged
documents, arbitrary well-formed trees), the answer is ``PolicyEvidence`` or an ``EvidenceError``
naming the right document, never another exception; and fills written in any tolerated spelling are
read back exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from riskscore.adapters.lxml import LxmlEvidenceParser
from riskscore.domain.evidence import PolicyEvidence, RxFill, RxReport
from riskscore.ports.evidence_parser import EvidenceError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "evidence"
SAMPLES = [(FIXTURES / name).read_bytes() for name in sorted(p.name for p in FIXTURES.iterdir())]
PARSER = LxmlEvidenceParser(max_bytes=64_000, max_depth=16)
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_total(document: object) -> None:
    """Parsing ``document`` as either position gives evidence or an EvidenceError for it."""
    for position in ("mib_xml", "rx_xml"):
        args = (document, b"<r/>") if position == "mib_xml" else (b"<r/>", document)
        outcome: object
        try:
            outcome = PARSER.parse("P-1", *args)
        except EvidenceError as error:
            outcome = error
        if isinstance(outcome, EvidenceError):
            assert outcome.document == position
            assert outcome.message
        else:
            assert isinstance(outcome, PolicyEvidence)


@EXAMPLES
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes(data: bytes) -> None:
    check_total(data)


ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates included
XML_ISH = st.sampled_from(
    [*"<>/?!&;#x=\"' \n\t[]-:", "<!DOCTYPE r", "<![CDATA[", "&lt;", "<a>", "</a>"]
)


@EXAMPLES
@given(st.lists(st.one_of(ANY_CHARACTER, XML_ISH), max_size=200).map("".join))
def test_arbitrary_text(text: str) -> None:
    check_total(text)


@EXAMPLES
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 8), st.binary(max_size=12)), max_size=4
    ),
)
def test_damaged_documents(sample: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(sample)
    for at, cut, insert in edits:
        at %= len(data) + 1
        data[at : at + cut] = insert
    check_total(bytes(data))
    check_total(bytes(data).decode("utf-8", errors="surrogateescape"))


# ---------------------------------------------------------------- arbitrary well-formed trees

KNOWN_NAMES = [
    "DrugFill", "DrugGenericName", "GenericName", "NDC", "FillDate", "DaysSupply", "Quantity",
    "Refills", "Strength", "Prescriber", "Pharmacy", "id", "specialty", "Hit", "Code", "Date",
    "Category", "Source", "ResponseData", "IAI", "InsuranceActivityIndex",
]  # fmt: skip
NAME = st.one_of(
    st.sampled_from([*KNOWN_NAMES, *map(str.lower, KNOWN_NAMES), *map(str.upper, KNOWN_NAMES)]),
    st.text("abcXYZ_-.0", min_size=1, max_size=6).map(lambda s: "n" + s),
)
NAMESPACE = st.sampled_from(["", "{urn:a}", "{urn:B}", "{http://example.com/ns}"])
XML_TEXT = st.text(
    st.characters(codec="utf-8", min_codepoint=9, exclude_categories=("Cs", "Cc"))
    | st.sampled_from("\t\n\r<>&\"'"),
    max_size=20,
)
TREE_TEXT = st.one_of(
    st.none(), XML_TEXT, st.sampled_from(["30", " 2024-03-01 ", "500 MG", "NO RECORD", "nan"])
)
# A tree as plain data: (namespace, name, attributes, text, children).
LEAF = st.tuples(
    NAMESPACE, NAME, st.dictionaries(NAME, XML_TEXT, max_size=2), TREE_TEXT, st.just(())
)
TREES = st.recursive(
    LEAF,
    lambda children: st.tuples(
        NAMESPACE, NAME, st.dictionaries(NAME, XML_TEXT, max_size=2), TREE_TEXT,
        st.lists(children, max_size=4).map(tuple),
    ),
    max_leaves=25,
)  # fmt: skip


def build(tree: tuple[str, str, dict[str, str], str | None, tuple[object, ...]]) -> etree._Element:
    ns, name, attributes, text, children = tree
    elem = etree.Element(ns + name)
    for attr, value in attributes.items():
        if attr.lower() not in {a.lower() for a in elem.attrib}:
            elem.set(attr, value)
    elem.text = text
    for child in children:
        elem.append(build(child))  # type: ignore[arg-type]
    return elem


@EXAMPLES
@given(TREES, st.integers(0, 20), st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1"]), st.booleans())
def test_arbitrary_well_formed_trees(
    tree: tuple[str, str, dict[str, str], str | None, tuple[object, ...]],
    wrappers: int,
    encoding: str,
    as_text: bool,
) -> None:
    root = build(tree)
    for _ in range(wrappers):  # reach past the depth limit now and then
        outer = etree.Element("Wrapper")
        outer.append(root)
        root = outer
    try:
        data = etree.tostring(root, encoding=encoding, xml_declaration=True)
    except (UnicodeEncodeError, ValueError):  # a character ISO-8859-1 cannot hold
        data = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    check_total(data)
    if as_text:
        check_total(etree.tostring(root, encoding="unicode"))


# ---------------------------------------------------------------- tolerant spellings read back exactly

PRINTABLE = st.text(
    st.characters(codec="ascii", min_codepoint=33, max_codepoint=126), min_size=1, max_size=12
)
FIELDS = {
    "generic_name": ["DrugGenericName", "GenericName"],
    "brand_name": ["DrugBrandName", "BrandName"],
    "ndc": ["NDC"],
    "fill_date": ["FillDate", "DateFilled"],
    "days_supply": ["DaysSupply", "DaysSupplied"],
    "quantity": ["Quantity", "Qty"],
    "refills": ["Refills"],
    "prescriber_id": ["PrescriberId"],
    "pharmacy_id": ["PharmacyId"],
}


VALUES = st.fixed_dictionaries(
    {"generic_name": PRINTABLE},
    optional={
        "brand_name": PRINTABLE,
        "ndc": st.from_regex(r"\d{11}", fullmatch=True),
        "fill_date": st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
        "days_supply": st.integers(0, 400),
        "quantity": st.integers(0, 1000).map(float),
        "refills": st.integers(0, 12),
        "prescriber_id": PRINTABLE,
        "pharmacy_id": PRINTABLE,
    },
)
# How one fill is written: namespace, case, and per field (synonym index, as attribute, US date).
SPELLING = st.tuples(
    NAMESPACE,
    st.sampled_from([str, str.lower, str.upper]),
    st.lists(st.tuples(st.integers(0, 1), st.booleans(), st.booleans()), min_size=9, max_size=9),
)


def write_fill(
    values: dict[str, object], spelling: tuple[str, object, list[tuple[int, bool, bool]]]
) -> etree._Element:
    ns, case, choices = spelling
    fill = etree.Element(ns + case("DrugFill"))  # type: ignore[operator]
    for (key, names), (synonym, as_attribute, us_date) in zip(FIELDS.items(), choices, strict=True):
        value = values.get(key)
        if value is None:
            continue
        text = value.strftime("%m/%d/%Y") if isinstance(value, dt.date) and us_date else str(value)
        name = case(names[synonym % len(names)])  # type: ignore[operator]
        if as_attribute:
            fill.set(name, f" {text} ")
        else:
            etree.SubElement(fill, ns + name).text = text
    etree.SubElement(fill, ns + "Unknown").text = "ignored"
    return fill


@EXAMPLES
@given(st.lists(st.tuples(VALUES, SPELLING), max_size=5), st.booleans())
def test_fills_in_any_tolerated_spelling_read_back(
    fills: list[tuple[dict[str, object], tuple[str, object, list[tuple[int, bool, bool]]]]],
    wrapped: bool,
) -> None:
    root = etree.Element("IntelRXResponse")
    parent = etree.SubElement(root, "Fills") if wrapped else root
    for values, spelling in fills:
        parent.append(write_fill(values, spelling))
    report = PARSER.parse_rx(etree.tostring(root))
    expected = tuple(RxFill(**values) for values, _ in fills)  # type: ignore[arg-type]
    assert report == RxReport(fills=expected)
