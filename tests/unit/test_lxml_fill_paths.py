"""The lxml parser reads a fill without attributes by a written-out fast path and any other fill by
the general one (``reading._read_fill``). An unknown attribute is ignored but sends a fill down the
general path, so a fill read with and without one must give the same evidence, whatever mix of
fields, synonyms, groups (``<Prescriber id= specialty=/>``, with or without child elements),
repeats, empty values, unknown elements and fills inside fills it holds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from riskscore.adapters.lxml import reading
from riskscore.adapters.lxml.parser import hardened_parser
from riskscore.domain.evidence import RxFill, RxReport

EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIELD_NAMES = [
    "DrugGenericName", "GenericName", "BrandName", "NDC", "FillDate", "DaysSupply", "Qty",
    "Refills", "Strength", "PrescriberId", "PrescriberSpecialty", "PharmacyId", "Unknown",
]  # fmt: skip
GROUP_PARTS = ["id", "specialty", "PrescriberId", "PharmacyId", "Other"]
CASE = st.sampled_from([str, str.lower, str.upper])
NAMESPACE = st.sampled_from(["", "{urn:a}"])
TEXT = st.sampled_from([None, "", "  ", "A", " B ", "30", "2024-03-01", "500 MG"])
FIELD = st.tuples(st.just("field"), st.sampled_from(FIELD_NAMES), TEXT)
GROUP = st.tuples(
    st.just("group"),
    st.sampled_from(["Prescriber", "Pharmacy"]),
    st.dictionaries(st.sampled_from(GROUP_PARTS), TEXT.map(lambda t: t or ""), max_size=3),
    st.lists(st.tuples(st.sampled_from(GROUP_PARTS), TEXT), max_size=2),
)
INNER_FILL = st.tuples(st.just("fill"), st.sampled_from(["DrugFill", "drugfill"]), TEXT)
CHILDREN = st.lists(st.one_of(FIELD, GROUP, INNER_FILL), max_size=12)


def document(children: list[tuple[object, ...]], ns: str, case: object, flag: bool) -> bytes:
    spell = case  # a callable from CASE
    root = etree.Element("IntelRXResponse")
    fill = etree.SubElement(root, ns + spell("DrugFill"))  # type: ignore[operator]
    if flag:
        fill.set("vendorflag", "1")
    for child in children:
        kind, name = child[0], spell(child[1])  # type: ignore[operator]
        elem = etree.SubElement(fill, ns + name)
        if kind == "group":
            attributes, parts = child[2], child[3]
            for part, value in attributes.items():  # type: ignore[attr-defined]
                elem.set(spell(part), value)  # type: ignore[operator]
            for part, value in parts:  # type: ignore[attr-defined]
                etree.SubElement(elem, ns + spell(part)).text = value  # type: ignore[operator]
        elif kind == "fill":
            etree.SubElement(elem, "DrugGenericName").text = child[2] or "INNER"  # type: ignore[assignment]
        else:
            elem.text = child[2]  # type: ignore[assignment]
    return etree.tostring(root)


def read(xml: bytes) -> RxReport:
    """The Python reading (the parser itself prefers the compiled reader where it is built;
    tests/unit/test_lxml_fast_reader.py holds that one equal to this)."""
    return reading.read_rx_python(etree.fromstring(xml, hardened_parser()))


@EXAMPLES
@given(CHILDREN, NAMESPACE, CASE)
def test_fast_and_general_paths_agree(
    children: list[tuple[object, ...]], ns: str, case: object
) -> None:
    fast = read(document(children, ns, case, flag=False))
    general = read(document(children, ns, case, flag=True))
    assert fast == general


def test_group_and_direct_field_order_decides() -> None:
    before = (
        b"<R><DrugFill><DrugGenericName>X</DrugGenericName><PrescriberId>A</PrescriberId>"
        b'<Prescriber id="B" specialty="S"><Specialty>T</Specialty></Prescriber></DrugFill></R>'
    )
    after = (
        b'<R><DrugFill><DrugGenericName>X</DrugGenericName><Prescriber id="B"><Specialty>T'
        b"</Specialty></Prescriber><PrescriberId>A</PrescriberId></DrugFill></R>"
    )
    assert read(before) == RxReport(
        fills=(RxFill(generic_name="X", prescriber_id="A", prescriber_specialty="S"),)
    )
    assert read(after) == RxReport(
        fills=(RxFill(generic_name="X", prescriber_id="B", prescriber_specialty="T"),)
    )
