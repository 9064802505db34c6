"""Writing MIB and Rx reports as XML, in the "rich" format of docs/evidence-format.md and its variants.

Most documents use the rich format; a deterministic minority uses a tolerated variant so that every
parsing rule is exercised by ordinary data: fields as attributes, lower-case names, namespace prefixes,
the synonym element names, the legacy ``<Response><ResponseData>`` MIB shape, compact date formats,
missing optional fields (NDC, days supply, prescriber), salt suffixes on generic names and documents
with or without an XML declaration or indentation. The shares are listed in docs/synthetic-data.md.

Alongside each document the renderer returns the domain value a correct parser must read from it, so
parser tests can compare against an exact expectation.

Every string written comes from the generator's own tables (no ``&``, ``<``, ``>`` or quotes; a test
checks this), so values are written without escaping, which keeps rendering fast.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from functools import cache

from riskscore.adapters.synthetic.catalog import products
from riskscore.adapters.synthetic.mib import MibRecord
from riskscore.adapters.synthetic.prescriptions import Fill
from riskscore.adapters.synthetic.rng import Rng, Weighted
from riskscore.domain.evidence import MibHit, MibReport, RxFill, RxReport

RX_NAMESPACE = "urn:riskscore:rx:1"
MIB_NAMESPACE = "urn:riskscore:mib:1"

DateFormat = Callable[[dt.date], str]


def _iso(d: dt.date) -> str:
    return d.isoformat()


def _compact(d: dt.date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def _us(d: dt.date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"


def _month(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


RX_DATE_FORMATS: Weighted[DateFormat] = Weighted([(_iso, 0.85), (_compact, 0.1), (_us, 0.05)])
MIB_DATE_FORMATS: Weighted[DateFormat] = Weighted(
    [(_iso, 0.7), (_month, 0.15), (_compact, 0.1), (_us, 0.05)]
)
DECLARATIONS = Weighted(
    [('<?xml version="1.0" encoding="UTF-8"?>', 0.7), ('<?xml version="1.0"?>', 0.2), ("", 0.1)]
)
RX_FORMS = Weighted(
    [
        ("rich", 0.75),
        ("attributes", 0.08),
        ("lowercase", 0.06),
        ("prefixed", 0.06),
        ("synonyms", 0.05),
    ]
)
MIB_FORMS = Weighted(
    [
        ("rich", 0.55),
        ("plain", 0.15),
        ("attributes", 0.1),
        ("lowercase", 0.08),
        ("prefixed", 0.08),
        ("legacy", 0.04),
    ]
)

_LEADING_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# Element names of one fill, per form: fill, generic, brand, ndc, date, days supply, quantity,
# refills, strength, then how prescriber and pharmacy are written.
_RICH = (
    "DrugFill",
    "DrugGenericName",
    "DrugBrandName",
    "NDC",
    "FillDate",
    "DaysSupply",
    "Quantity",
    "Refills",
    "Strength",
)
_SYNONYMS = (
    "DrugFill",
    "GenericName",
    "BrandName",
    "NDC",
    "DateFilled",
    "DaysSupplied",
    "Qty",
    "Refills",
    "Strength",
)


@cache
def strength_mg(strength: str) -> float | None:
    """The number a parser reads from a strength ("5-325 MG" -> 5.0)."""
    match = _LEADING_NUMBER.match(strength)
    return float(match.group()) if match else None


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _namer(prefix: str, lower: bool) -> Callable[[str], str]:
    """Element names of one document form: optional namespace prefix, optionally lower-cased."""

    def name(tag: str) -> str:
        return prefix + (tag.lower() if lower else tag)

    return name


class _Xml:
    """A tiny string builder that knows about indentation."""

    __slots__ = ("nl", "parts", "step")

    def __init__(self, declaration: str, pretty: bool) -> None:
        self.parts: list[str] = [declaration + ("\n" if pretty and declaration else "")]
        self.nl = "\n" if pretty else ""
        self.step = "  " if pretty else ""

    @classmethod
    def drawn(cls, rng: Rng) -> _Xml:
        """A builder with a drawn declaration and indentation (80% indented)."""
        return cls(rng.weighted(DECLARATIONS), pretty=rng.chance(0.8))

    def line(self, depth: int, text: str) -> None:
        self.parts.append(f"{self.step * depth}{text}{self.nl}")

    def text(self) -> str:
        return "".join(self.parts)


def render_rx(rng: Rng, fills: tuple[Fill, ...], request_id: str) -> tuple[str, RxReport]:
    """The Rx XML and the report a parser must read from it."""
    form = rng.weighted(RX_FORMS)
    fmt = rng.weighted(RX_DATE_FORMATS)
    xml = _Xml.drawn(rng)
    with_ndc = rng.chance(0.85)
    with_days_supply = rng.chance(0.88)
    with_prescriber = rng.chance(0.92)
    salted = rng.chance(0.1)
    header = rng.chance(0.5)

    lower = form == "lowercase"
    prefix = "rx:" if form == "prefixed" else ""

    name = _namer(prefix, lower)
    root = name("IntelRXResponse")
    ns = f' xmlns:rx="{RX_NAMESPACE}"' if prefix else ""
    if not fills and not header:
        xml.line(0, f"<{root}{ns}/>")
        return xml.text(), RxReport()
    xml.line(0, f"<{root}{ns}>")
    if header:
        request = f"<{name('RequestId')}>{request_id}</{name('RequestId')}>"
        xml.line(1, f"<{name('Header')}>{request}</{name('Header')}>")
    if not fills:
        xml.line(0, f"</{root}>")
        return xml.text(), RxReport()
    tags = tuple(name(t) for t in (_SYNONYMS if form == "synonyms" else _RICH))
    wrapper = form in ("synonyms", "prefixed")
    if wrapper:
        xml.line(1, f"<{name('Fills')}>")
    depth = 2 if wrapper else 1
    catalog = products()
    parsed: list[RxFill] = []
    # Per-document pieces, so the per-fill work is a few joins.
    opens = [f"<{t}>" for t in tags[1:]]
    closes = [f"</{t}>" for t in tags[1:]]
    attr_opens = [f' {t}="' for t in tags[1:]]
    p_tag, ph_tag = name("Prescriber"), name("Pharmacy")
    lead = xml.step * depth
    sep = xml.nl + xml.step * (depth + 1)
    fill_open = f"{lead}<{tags[0]}>{sep}"
    fill_close = f"{xml.nl}{lead}</{tags[0]}>{xml.nl}"
    out = xml.parts
    for fill in fills:
        salt = catalog[fill.generic_name].salt if salted else None
        generic = f"{fill.generic_name} {salt}" if salt else fill.generic_name
        days_supply = fill.days_supply if with_days_supply and not rng.chance(0.03) else None
        prescriber_id = fill.prescriber.id if with_prescriber else None
        specialty = fill.prescriber.specialty if with_prescriber and not rng.chance(0.05) else None
        ndc = fill.ndc if with_ndc else None
        day = dt.date.fromordinal(fill.day)
        parsed.append(
            RxFill(
                generic_name=generic,
                brand_name=fill.brand_name,
                ndc=ndc,
                fill_date=day,
                days_supply=days_supply,
                quantity=fill.quantity,
                refills=fill.refills,
                strength_mg=strength_mg(fill.strength),
                prescriber_id=prescriber_id,
                prescriber_specialty=specialty,
                pharmacy_id=fill.pharmacy_id,
            )
        )
        values = (
            generic,
            fill.brand_name,
            ndc,
            fmt(day),
            None if days_supply is None else str(days_supply),
            _number(fill.quantity),
            str(fill.refills),
            fill.strength,
        )
        if form == "attributes":
            attrs = "".join([a + v + '"' for a, v in zip(attr_opens, values, strict=True) if v])
            if prescriber_id:
                attrs += f' PrescriberId="{prescriber_id}"'
            if specialty:
                attrs += f' PrescriberSpecialty="{specialty}"'
            out.append(f'{lead}<{tags[0]}{attrs} PharmacyId="{fill.pharmacy_id}"/>{xml.nl}')
            continue
        items = [o + v + c for o, v, c in zip(opens, values, closes, strict=True) if v]
        if form == "synonyms":
            if prescriber_id:
                items.append(f"<PrescriberId>{prescriber_id}</PrescriberId>")
            if specialty:
                items.append(f"<PrescriberSpecialty>{specialty}</PrescriberSpecialty>")
            items.append(f"<PharmacyId>{fill.pharmacy_id}</PharmacyId>")
        else:
            if prescriber_id:
                spec = f' specialty="{specialty}"' if specialty else ""
                items.append(f'<{p_tag} id="{prescriber_id}"{spec}/>')
            items.append(f'<{ph_tag} id="{fill.pharmacy_id}"/>')
        out.append(f"{fill_open}{sep.join(items)}{fill_close}")
    if wrapper:
        xml.line(1, f"</{name('Fills')}>")
    xml.line(0, f"</{root}>")
    return xml.text(), RxReport(fills=tuple(parsed))


def render_mib(rng: Rng, record: MibRecord) -> tuple[str, MibReport]:
    """The MIB XML and the report a parser must read from it."""
    form = rng.weighted(MIB_FORMS)
    fmt = rng.weighted(MIB_DATE_FORMATS)
    xml = _Xml.drawn(rng)
    with_category = rng.chance(0.6)
    with_source = rng.chance(0.95)
    with_date = rng.chance(0.9)
    iai_tag = "IAI" if rng.chance(0.2) else "InsuranceActivityIndex"
    with_iai = rng.chance(0.97)

    if form == "legacy":
        xml.line(0, "<Response>")
        for hit in record.hits:
            xml.line(1, f"<ResponseData>{hit.code}</ResponseData>")
        if not record.hits:
            xml.line(1, "<ResponseData>NO RECORD</ResponseData>")
        xml.line(0, "</Response>")
        return xml.text(), MibReport(hits=tuple(MibHit(code=h.code) for h in record.hits))

    prefix = "mib:" if form == "prefixed" else ""
    lower = form == "lowercase"

    name = _namer(prefix, lower)
    if form == "rich":
        ns = f' xmlns="{MIB_NAMESPACE}"'
    elif form == "prefixed":
        ns = f' xmlns:mib="{MIB_NAMESPACE}"'
    else:
        ns = ""
    root = name("MIBResponse")
    xml.line(0, f"<{root}{ns}>")
    if with_iai:
        xml.line(1, f"<{name(iai_tag)}>{record.iai}</{name(iai_tag)}>")
    parsed: list[MibHit] = []
    if record.hits or rng.chance(0.5):
        xml.line(1, f"<{name('Hits')}>" if record.hits else f"<{name('Hits')}/>")
    for hit in record.hits:
        fields = (
            ("Code", hit.code),
            ("Category", hit.category if with_category else None),
            ("Source", hit.source if with_source else None),
            ("Date", fmt(hit.date) if with_date else None),
        )
        parsed.append(
            MibHit(
                code=hit.code,
                category=hit.category if with_category else None,
                source=hit.source if with_source else None,
                date=hit.date if with_date else None,
            )
        )
        if form == "attributes":
            attrs = "".join(f' {tag.lower()}="{value}"' for tag, value in fields if value)
            xml.line(2, f"<Hit{attrs}/>")
            continue
        xml.line(2, f"<{name('Hit')}>")
        for tag, value in fields:
            if value:
                xml.line(3, f"<{name(tag)}>{value}</{name(tag)}>")
        xml.line(2, f"</{name('Hit')}>")
    if record.hits:
        xml.line(1, f"</{name('Hits')}>")
    xml.line(0, f"</{root}>")
    return xml.text(), MibReport(hits=tuple(parsed), iai_count=record.iai if with_iai else None)
