"""``LxmlEvidenceParser``: the reference samples, the rich format, every tolerated variant
(docs/evidence-format.md) and every refusal, including XXE, billion laughs and external DTDs."""

from __future__ import annotations

import datetime as dt
import http.server
import re
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from riskscore.adapters.lxml import LxmlEvidenceParser, reading
from riskscore.adapters.lxml.memo import Memo
from riskscore.adapters.lxml.parser import hardened_parser
from riskscore.domain.evidence import MibHit, MibReport, PolicyEvidence, RxFill, RxReport
from riskscore.ports.evidence_parser import (
    EvidenceError,
    EvidenceParser,
    EvidenceTooDeep,
    EvidenceTooLarge,
    ForbiddenConstruct,
    MalformedEvidence,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "evidence"
EMPTY = b"<r/>"


@pytest.fixture(scope="module")
def parser() -> LxmlEvidenceParser:
    return LxmlEvidenceParser()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rx(parser: LxmlEvidenceParser, xml: str | bytes) -> RxReport:
    return parser.parse("T-1", EMPTY, xml).rx


def mib(parser: LxmlEvidenceParser, xml: str | bytes) -> MibReport:
    return parser.parse("T-1", xml, EMPTY).mib


def one_fill(**fields: str) -> str:
    body = "".join(f"<{tag}>{value}</{tag}>" for tag, value in fields.items())
    return f"<IntelRXResponse><DrugFill>{body}</DrugFill></IntelRXResponse>"


# ---------------------------------------------------------------- reference samples and rich format


def test_is_an_evidence_parser(parser: LxmlEvidenceParser) -> None:
    assert isinstance(parser, EvidenceParser)


def test_reference_samples_parse_exactly(parser: LxmlEvidenceParser) -> None:
    evidence = parser.parse(
        "TEST-001", fixture("mib_reference.xml"), fixture("rx_reference.xml").decode()
    )
    assert evidence == PolicyEvidence(
        policy_number="TEST-001",
        mib=MibReport(hits=(MibHit(code="CODE1"),)),
        rx=RxReport(fills=(RxFill(generic_name="METFORMIN"),)),
    )
    assert evidence.mib.has_record
    assert evidence.rx.has_hit


def test_any_root_without_records_is_an_empty_report(parser: LxmlEvidenceParser) -> None:
    evidence = parser.parse("TEST-002", "<r/>", b"<r/>")
    assert evidence == PolicyEvidence(policy_number="TEST-002", mib=MibReport(), rx=RxReport())
    assert not evidence.mib.has_record
    assert not evidence.rx.has_hit


def test_rich_mib_reads_every_field_at_any_depth(parser: LxmlEvidenceParser) -> None:
    assert parser.parse_mib(fixture("mib_rich.xml")) == MibReport(
        iai_count=3,
        hits=(
            MibHit(code="311CA", category="cardiac", source="APS", date=dt.date(2023, 4, 1)),
            MibHit(code="520PS", category="psychiatric", source="EXAM", date=dt.date(2021, 11, 1)),
            MibHit(code="904LB", source="LAB", date=dt.date(2022, 6, 30)),
        ),
    )


def test_rich_rx_reads_every_field_at_any_depth(parser: LxmlEvidenceParser) -> None:
    assert parser.parse_rx(fixture("rx_rich.xml")) == RxReport(
        fills=(
            RxFill(
                generic_name="METFORMIN HCL",
                brand_name="GLUCOPHAGE",
                ndc="00093104801",
                fill_date=dt.date(2024, 3, 1),
                days_supply=30,
                quantity=60.0,
                refills=5,
                strength_mg=500.0,
                prescriber_id="P123",
                prescriber_specialty="FAMILY MEDICINE",
                pharmacy_id="PH9",
            ),
            RxFill(
                generic_name="OXYCODONE HCL",
                brand_name="ROXICODONE",
                ndc="00406055262",
                fill_date=dt.date(2024, 4, 15),
                days_supply=7,
                quantity=28.5,
                refills=0,
                strength_mg=5.0,
                prescriber_id="P7",
                prescriber_specialty="EMERGENCY MEDICINE",
                pharmacy_id="PH2",
            ),
        )
    )


# ---------------------------------------------------------------- tolerated variants

RX_METFORMIN = RxReport(
    fills=(
        RxFill(
            generic_name="METFORMIN HCL",
            ndc="00093104801",
            days_supply=30,
            prescriber_id="P1",
            prescriber_specialty="FAMILY MEDICINE",
            pharmacy_id="PH9",
        ),
    )
)


@pytest.mark.parametrize(
    "xml",
    [
        '<IntelRXResponse xmlns="urn:vendor:rx"><DrugFill><DrugGenericName>METFORMIN HCL'
        '</DrugGenericName><NDC>00093104801</NDC><DaysSupply>30</DaysSupply><Prescriber id="P1"'
        ' specialty="FAMILY MEDICINE"/><Pharmacy id="PH9"/></DrugFill></IntelRXResponse>',
        '<rx:IntelRXResponse xmlns:rx="urn:vendor:rx" xmlns:p="urn:vendor:people"><rx:DrugFill>'
        "<rx:DrugGenericName>METFORMIN HCL</rx:DrugGenericName><rx:NDC>00093104801</rx:NDC>"
        '<rx:DaysSupply>30</rx:DaysSupply><p:Prescriber p:id="P1" p:specialty="FAMILY MEDICINE"/>'
        '<rx:Pharmacy id="PH9"/></rx:DrugFill></rx:IntelRXResponse>',
    ],
    ids=["default-namespace", "prefixed-namespaces"],
)
def test_namespaces_are_ignored(parser: LxmlEvidenceParser, xml: str) -> None:
    assert rx(parser, xml) == RX_METFORMIN


def test_namespaced_mib_in_default_and_prefixed_form(parser: LxmlEvidenceParser) -> None:
    expected = MibReport(hits=(MibHit(code="311CA", source="APS"),), iai_count=2)
    default = (
        '<MIBResponse xmlns="urn:riskscore:mib:1"><IAI>2</IAI><Hit><Code>311CA</Code>'
        "<Source>APS</Source></Hit></MIBResponse>"
    )
    prefixed = (
        '<m:MIBResponse xmlns:m="urn:riskscore:mib:1"><m:IAI>2</m:IAI><m:Hit m:code="311CA">'
        "<m:Source>APS</m:Source></m:Hit></m:MIBResponse>"
    )
    assert mib(parser, default) == expected
    assert mib(parser, prefixed) == expected


def test_names_match_in_any_case(parser: LxmlEvidenceParser) -> None:
    lower = (
        "<intelrxresponse><drugfill><druggenericname>METFORMIN HCL</druggenericname>"
        "<ndc>00093104801</ndc><dayssupply>30</dayssupply>"
        '<prescriber ID="P1" SPECIALTY="FAMILY MEDICINE"/><pharmacy Id="PH9"/></drugfill>'
        "</intelrxresponse>"
    )
    upper = lower.replace("drugfill", "DRUGFILL").replace("druggenericname", "DRUGGENERICNAME")
    assert rx(parser, lower) == RX_METFORMIN
    assert rx(parser, upper) == RX_METFORMIN
    assert mib(parser, "<RESPONSE><responsedata>CODE1</responsedata></RESPONSE>") == MibReport(
        hits=(MibHit(code="CODE1"),)
    )


def test_fields_may_be_attributes(parser: LxmlEvidenceParser) -> None:
    as_attributes = (
        '<IntelRXResponse><DrugFill DrugGenericName="METFORMIN HCL" NDC="00093104801"'
        ' DaysSupply="30" PrescriberId="P1" PrescriberSpecialty="FAMILY MEDICINE"'
        ' PharmacyId="PH9"/></IntelRXResponse>'
    )
    nested_elements = one_fill(
        DrugGenericName="METFORMIN HCL",
        NDC="00093104801",
        DaysSupply="30",
        Prescriber="<Id>P1</Id><Specialty>FAMILY MEDICINE</Specialty>",
        Pharmacy="<ID>PH9</ID>",
    )
    assert rx(parser, as_attributes) == RX_METFORMIN
    assert rx(parser, nested_elements) == RX_METFORMIN
    hit = '<MIBResponse iai="4"><Hit code="311CA" category="cardiac" date="2023-04-01"/></MIBResponse>'
    assert mib(parser, hit) == MibReport(
        hits=(MibHit(code="311CA", category="cardiac", date=dt.date(2023, 4, 1)),), iai_count=4
    )


def test_attribute_wins_over_child_and_first_child_over_later(
    parser: LxmlEvidenceParser,
) -> None:
    xml = (
        '<IntelRXResponse><DrugFill NDC="111"><NDC>222</NDC><DrugGenericName> </DrugGenericName>'
        "<DrugGenericName>FIRST</DrugGenericName><GenericName>SECOND</GenericName>"
        "</DrugFill></IntelRXResponse>"
    )
    assert rx(parser, xml) == RxReport(fills=(RxFill(generic_name="FIRST", ndc="111"),))


def test_cdata_and_comments_inside_text(parser: LxmlEvidenceParser) -> None:
    xml = one_fill(
        DrugGenericName="<![CDATA[  HYDROCODONE/APAP <5-325> & CO ]]>",
        DrugBrandName="NOR<!-- a vendor comment -->CO",
    )
    assert rx(parser, xml) == RxReport(
        fills=(RxFill(generic_name="HYDROCODONE/APAP <5-325> & CO", brand_name="NORCO"),)
    )


def test_iso_8859_1_declaration_with_a_non_ascii_byte(parser: LxmlEvidenceParser) -> None:
    xml = (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<IntelRXResponse><DrugFill>'
        b"<DrugGenericName>METFORMIN</DrugGenericName><Prescriber specialty='M\xc9DECINE'/>"
        b"</DrugFill></IntelRXResponse>"
    )
    assert rx(parser, xml).fills[0].prescriber_specialty == "MÉDECINE"


def test_utf16_with_bom(parser: LxmlEvidenceParser) -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?>' + one_fill(DrugGenericName="ÉPINÉPHRINE")
    data = text.encode("utf-16")
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert rx(parser, data) == RxReport(fills=(RxFill(generic_name="ÉPINÉPHRINE"),))


def test_utf8_bom(parser: LxmlEvidenceParser) -> None:
    data = b"\xef\xbb\xbf" + fixture("mib_reference.xml")
    assert mib(parser, data) == MibReport(hits=(MibHit(code="CODE1"),))


def test_unknown_elements_and_attributes_are_ignored(parser: LxmlEvidenceParser) -> None:
    xml = (
        '<Envelope version="2"><Header><Vendor>X</Vendor><Count>9</Count></Header><Body><Result>'
        '<DrugFill flag="y"><Unknown><DrugGenericName>NOT A FILL FIELD</DrugGenericName></Unknown>'
        "<DrugGenericName>LISINOPRIL</DrugGenericName><Irix>0.4</Irix><Refills>2</Refills>"
        "</DrugFill></Result></Body><Trailer/></Envelope>"
    )
    assert rx(parser, xml) == RxReport(fills=(RxFill(generic_name="LISINOPRIL", refills=2),))


def test_synonyms(parser: LxmlEvidenceParser) -> None:
    xml = one_fill(
        GenericName="ATORVASTATIN",
        BrandName="LIPITOR",
        DateFilled="2024-01-31",
        DaysSupplied="90",
        Qty="90",
    )
    assert rx(parser, xml) == RxReport(
        fills=(
            RxFill(
                generic_name="ATORVASTATIN",
                brand_name="LIPITOR",
                fill_date=dt.date(2024, 1, 31),
                days_supply=90,
                quantity=90.0,
            ),
        )
    )
    assert mib(parser, "<M><IAI>7</IAI></M>").iai_count == 7
    assert mib(parser, "<M><InsuranceActivityIndex>7</InsuranceActivityIndex></M>").iai_count == 7


def test_str_and_bytes_give_the_same_result(parser: LxmlEvidenceParser) -> None:
    for name in ("mib_rich.xml", "rx_rich.xml"):
        data = fixture(name)
        assert parser.parse("T", data, data) == parser.parse("T", data.decode(), data.decode())


def test_str_with_a_declaration_naming_another_encoding(parser: LxmlEvidenceParser) -> None:
    text = '\ufeff<?xml version="1.0" encoding="ISO-8859-1"?>' + one_fill(DrugGenericName="CAFÉINE")
    assert rx(parser, text) == RxReport(fills=(RxFill(generic_name="CAFÉINE"),))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01", dt.date(2024, 3, 1)),
        ("2024-03-01T10:30:00Z", dt.date(2024, 3, 1)),
        ("20240301", dt.date(2024, 3, 1)),
        ("2024-03", dt.date(2024, 3, 1)),
        ("03/01/2024", dt.date(2024, 3, 1)),
        ("3/1/2024", dt.date(2024, 3, 1)),
        ("2024-02-30", None),
        ("01/03/24", None),
        ("yesterday", None),
        ("2024-13", None),
        ("1" * 40, None),
    ],
)
def test_date_formats(parser: LxmlEvidenceParser, text: str, expected: dt.date | None) -> None:
    report = rx(parser, one_fill(DrugGenericName="X", FillDate=text))
    assert report.fills == (RxFill(generic_name="X", fill_date=expected),)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"DaysSupply": "30.0", "Refills": "+2"}, {"days_supply": 30, "refills": 2}),
        ({"DaysSupply": "2.5", "Refills": "-1"}, {}),
        ({"DaysSupply": "1000000", "Refills": "many"}, {}),
        ({"Quantity": "0.5"}, {"quantity": 0.5}),
        ({"Quantity": "nan"}, {}),
        ({"Quantity": "inf"}, {}),
        ({"Quantity": "-3"}, {}),
        ({"Strength": "500MG"}, {"strength_mg": 500.0}),
        ({"Strength": "25 MCG/HR"}, {"strength_mg": 25.0}),
        ({"Strength": "0.125 MG TABLET"}, {"strength_mg": 0.125}),
        ({"Strength": "MG 500"}, {}),
        ({"Strength": "9" * 40 + " MG"}, {}),
    ],
)
def test_unreadable_numbers_are_absent(
    parser: LxmlEvidenceParser, fields: dict[str, str], expected: dict[str, object]
) -> None:
    report = rx(parser, one_fill(DrugGenericName="X", **fields))
    assert report.fills == (RxFill(generic_name="X", **expected),)  # type: ignore[arg-type]


def test_records_without_their_key_field_are_skipped(parser: LxmlEvidenceParser) -> None:
    xml = (
        "<IntelRXResponse><DrugFill><NDC>1</NDC></DrugFill><DrugFill><DrugGenericName>  "
        "</DrugGenericName></DrugFill><DrugFill><DrugGenericName>KEPT</DrugGenericName>"
        "</DrugFill></IntelRXResponse>"
    )
    assert rx(parser, xml) == RxReport(fills=(RxFill(generic_name="KEPT"),))
    hits = "<M><Hit><Source>APS</Source></Hit><Hit><Code>1A</Code></Hit></M>"
    assert mib(parser, hits) == MibReport(hits=(MibHit(code="1A"),))


@pytest.mark.parametrize("marker", ["NO RECORD", "no record", "NONE", "NOHIT", "No Hit", " "])
def test_no_hit_markers_are_not_hits(parser: LxmlEvidenceParser, marker: str) -> None:
    legacy = f"<Response><ResponseData>{marker}</ResponseData></Response>"
    assert mib(parser, legacy) == MibReport()
    assert mib(parser, f"<M><Hit><Code>{marker}</Code></Hit></M>") == MibReport()


def test_the_first_readable_iai_wins(parser: LxmlEvidenceParser) -> None:
    xml = "<M><IAI>lots</IAI><Detail><InsuranceActivityIndex> 5 </InsuranceActivityIndex></Detail><IAI>9</IAI></M>"
    assert mib(parser, xml).iai_count == 5


def test_records_nested_in_response_data_and_records_are_not_searched(
    parser: LxmlEvidenceParser,
) -> None:
    xml = "<Response><ResponseData><Hit><Code>2B</Code><Hit><Code>3C</Code></Hit></Hit></ResponseData></Response>"
    assert mib(parser, xml) == MibReport(hits=(MibHit(code="2B"),))


def test_a_record_may_be_the_root(parser: LxmlEvidenceParser) -> None:
    xml = "<DrugFill><DrugGenericName>LISINOPRIL</DrugGenericName></DrugFill>"
    assert rx(parser, xml) == RxReport(fills=(RxFill(generic_name="LISINOPRIL"),))


def test_memo_remembers_short_texts_only_and_stays_bounded() -> None:
    reads: list[str] = []

    def read(text: str) -> int:
        reads.append(text)
        return len(text)

    memo = Memo(read, max_chars=5, limit=3)
    assert [memo["abc"], memo["abc"], memo["x" * 6], memo["x" * 6]] == [3, 3, 6, 6]
    assert reads == ["abc", "x" * 6, "x" * 6]
    assert "x" * 6 not in memo
    for i in range(10):
        assert memo[str(i)] == 1
        assert len(memo) <= 3


def test_invented_names_do_not_grow_memory(parser: LxmlEvidenceParser) -> None:
    names = "".join(f"<N{i}>{i}</N{i}>" for i in range(6000))
    assert rx(parser, f"<r>{names}</r>") == RxReport()
    assert len(reading._RX_RECORDS) <= 4096


def test_parsers_are_usable_from_many_threads(parser: LxmlEvidenceParser) -> None:
    docs = [
        (fixture("mib_rich.xml"), fixture("rx_rich.xml")),
        (b"<r/>", fixture("rx_reference.xml")),
    ]
    expected = [parser.parse("T", m, r) for m, r in docs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: parser.parse("T", *docs[i % 2]), range(200)))
    assert results == [expected[i % 2] for i in range(200)]


# ---------------------------------------------------------------- refusals


def refusal(parser: LxmlEvidenceParser, mib_xml: object, rx_xml: object) -> EvidenceError:
    with pytest.raises(EvidenceError) as caught:
        parser.parse("T-1", mib_xml, rx_xml)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    "bad",
    [
        b"<Response><ResponseData>SECRET-CODE</ResponseDta></Response>",
        b"<Response><ResponseData>SECRET-CODE</ResponseData>",
        b"<Response>SECRET-CODE &nbsp;</Response>",
        b'{"SECRET-CODE": 1}',
        b"SECRET-CODE",
        b"<Response>SECRET-CODE</Response><Response/>",
        b"<Response>\xff\xfeSECRET-CODE</Response>",
        b'<?xml version="1.0" encoding="SECRET-CODE"?><r/>',
        b"<ns:Response>SECRET-CODE</ns:Response>",
    ],
    ids=[
        "mismatched-tag",
        "unclosed",
        "undeclared-entity",
        "json",
        "plain-text",
        "two-roots",
        "invalid-utf8",
        "unknown-encoding",
        "unbound-prefix",
    ],
)
@pytest.mark.parametrize("position", ["mib_xml", "rx_xml"])
def test_not_well_formed_is_malformed(
    parser: LxmlEvidenceParser, bad: bytes, position: str
) -> None:
    args = (bad, EMPTY) if position == "mib_xml" else (EMPTY, bad)
    error = refusal(parser, *args)
    assert type(error) is MalformedEvidence
    assert error.document == position
    assert "SECRET" not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"", "empty"),
        ("", "empty"),
        (b" \n\t", "empty"),
        (None, "text or bytes"),
        (42, "text or bytes"),
        (bytearray(b"<r/>"), "text or bytes"),
        ("<r>\ud800</r>", "not valid Unicode"),
    ],
)
def test_empty_wrong_type_and_invalid_text_are_malformed(
    parser: LxmlEvidenceParser, bad: object, message: str
) -> None:
    error = refusal(parser, EMPTY, bad)
    assert type(error) is MalformedEvidence
    assert error.document == "rx_xml"
    assert message in error.message


def test_well_formedness_errors_give_line_and_column(parser: LxmlEvidenceParser) -> None:
    error = refusal(parser, b"<r>\n<a></b>\n</r>", EMPTY)
    assert re.fullmatch(r"not well-formed XML \(line 2, column \d+\)", error.message)


def test_too_large_is_checked_before_parsing() -> None:
    parser = LxmlEvidenceParser(max_bytes=100)
    fits = b"<r>" + b"x" * 93 + b"</r>"
    assert len(fits) == 100
    assert parser.parse("T", fits, EMPTY).mib == MibReport()
    for too_large in (fits + b" ", b"<" * 101, "é" * 51, "x" * 101):
        error = refusal(parser, EMPTY, too_large)
        assert type(error) is EvidenceTooLarge
        assert error.document == "rx_xml"
        assert "100 bytes" in error.message


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


@pytest.mark.parametrize("max_depth", [1, 5, 64])
def test_depth_limit(max_depth: int) -> None:
    parser = LxmlEvidenceParser(max_depth=max_depth)
    assert parser.parse("T", nested(max_depth), EMPTY).mib == MibReport()
    error = refusal(parser, nested(max_depth + 1), EMPTY)
    assert type(error) is EvidenceTooDeep
    assert error.document == "mib_xml"
    assert str(max_depth) in error.message


def test_depth_limit_applies_inside_records(parser: LxmlEvidenceParser) -> None:
    deep_field = one_fill(DrugGenericName="X", NDC="<a>" * 70 + "</a>" * 70)
    assert type(refusal(parser, EMPTY, deep_field)) is EvidenceTooDeep


def test_deeper_than_libxml2_allows_is_too_deep_not_malformed(
    parser: LxmlEvidenceParser,
) -> None:
    assert type(refusal(parser, EMPTY, nested(5000))) is EvidenceTooDeep
    widest = LxmlEvidenceParser(max_depth=256)
    assert widest.parse("T", nested(256), EMPTY).mib == MibReport()
    assert type(refusal(widest, nested(257), EMPTY)) is EvidenceTooDeep


@pytest.mark.parametrize("kwargs", [{"max_depth": 0}, {"max_depth": 257}, {"max_bytes": 0}])
def test_limits_are_validated(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LxmlEvidenceParser(**kwargs)


@pytest.mark.parametrize(
    "doc",
    [
        b"<!DOCTYPE Response><Response><ResponseData>CODE1</ResponseData></Response>",
        b'<!DOCTYPE r [<!ATTLIST r code CDATA "X">]><r/>',
        b'<!DOCTYPE r [<!ENTITY code "CODE1">]><Response><ResponseData>&code;</ResponseData></Response>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'.encode(
            "utf-16"
        ),
    ],
    ids=["plain", "attlist", "internal-entity", "utf-16-entity"],
)
def test_every_doctype_is_forbidden(parser: LxmlEvidenceParser, doc: bytes) -> None:
    error = refusal(parser, doc, EMPTY)
    assert type(error) is ForbiddenConstruct
    assert error.document == "mib_xml"
    assert "DOCTYPE" in error.message


def test_xxe_never_leaks_a_local_file(parser: LxmlEvidenceParser, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    payloads = [
        f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]><IntelRXResponse><DrugFill>'
        "<DrugGenericName>&xxe;</DrugGenericName></DrugFill></IntelRXResponse>",
        f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]><r a="&xxe;"/>',
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{secret}"> %p;]><r/>',
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>',
    ]
    for payload in payloads:
        for xml in (payload, payload.encode()):
            error = refusal(parser, EMPTY, xml)
            assert type(error) is ForbiddenConstruct
            assert error.document == "rx_xml"
            for text in (str(error), repr(error.args)):
                assert "TOP-SECRET" not in text
                assert "root:" not in text
            assert error.__cause__ is None
    # Below the DOCTYPE refusal, the parser configuration itself neither reads nor expands.
    tree = etree.fromstring(payloads[0].encode(), hardened_parser())
    assert b"TOP-SECRET" not in etree.tostring(tree)


def test_billion_laughs_is_refused(parser: LxmlEvidenceParser) -> None:
    levels = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{levels}]><lolz>&lol9;</lolz>'
    error = refusal(parser, bomb, EMPTY)
    assert type(error) is ForbiddenConstruct
    quadratic = f'<!DOCTYPE r [<!ENTITY a "{"x" * 50_000}">]><r>{"&a;" * 2_000}</r>'
    assert type(refusal(parser, quadratic, EMPTY)) is ForbiddenConstruct


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        _Recorder.requests.append(self.path)
        body = b'<!ENTITY ext "FROM-NETWORK">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def dtd_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_external_dtd_urls_are_never_fetched(parser: LxmlEvidenceParser, dtd_server: str) -> None:
    payloads = [
        f'<!DOCTYPE r SYSTEM "{dtd_server}/system.dtd"><r>&ext;</r>',
        f'<!DOCTYPE r PUBLIC "-//X//DTD X//EN" "{dtd_server}/public.dtd"><r/>',
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{dtd_server}/pe.dtd"> %p;]><r>&ext;</r>',
        f'<!DOCTYPE r [<!ENTITY e SYSTEM "{dtd_server}/entity.xml">]><r>&e;</r>',
    ]
    for payload in payloads:
        error = refusal(parser, payload, EMPTY)
        assert isinstance(error, ForbiddenConstruct)
        assert "FROM-NETWORK" not in str(error)
    # References that are plain data to a parser that does not validate or include.
    inert = (
        f'<IntelRXResponse xmlns:xi="http://www.w3.org/2001/XInclude" xmlns:xsi='
        f'"http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x {dtd_server}/x.xsd">'
        f'<DrugFill><DrugGenericName><xi:include href="{dtd_server}/inc.xml" parse="text"/>'
        "</DrugGenericName></DrugFill></IntelRXResponse>"
    )
    assert rx(parser, inert) == RxReport()
    # Control: the server does answer, so an empty log means the parser never asked.
    with urllib.request.urlopen(f"{dtd_server}/probe") as probe:
        assert probe.read() == b'<!ENTITY ext "FROM-NETWORK">'

    assert _Recorder.requests == ["/probe"]


def test_external_dtd_files_are_never_read(parser: LxmlEvidenceParser, tmp_path: Path) -> None:
    # A DTD that libxml2 would reject if it read it: refusal as ForbiddenConstruct (not
    # MalformedEvidence) shows it was never opened.
    garbage = tmp_path / "garbage.dtd"
    garbage.write_text("this is not a DTD <<<")
    doc = f'<!DOCTYPE r SYSTEM "file://{garbage}"><r/>'.encode()
    assert type(refusal(parser, EMPTY, doc)) is ForbiddenConstruct
    assert etree.fromstring(doc, hardened_parser()).tag == "r"
    # Why collect_ids must stay True: with collect_ids=False libxml2 opens the external subset.
    leaky = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, collect_ids=False
    )
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(doc, leaky)
