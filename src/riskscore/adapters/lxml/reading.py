"""Reading a parsed (and already vetted) lxml tree into ``MibReport`` / ``RxReport``.

Tolerance rules (docs/evidence-format.md): names match case-insensitively and ignoring namespaces; a
field may be a child element or an attribute; records (``DrugFill``, ``Hit``) and ``ResponseData``
codes are found at any depth; unknown elements and attributes are ignored. Choices made here:

- A field given more than once: an attribute wins over a child element, and the first non-empty
  child element over later ones.
- A field element's text is its text up to its first child element, stripped; empty means absent.
- Records are not searched for inside records (a ``DrugFill`` inside a ``DrugFill`` is not a fill).
- A fill without a generic name and a hit without a code are skipped; a code equal to a no-hit marker
  (``NO RECORD``, ``NONE``, ``NOHIT``, ``NO HIT``, any case) is not a hit.
- The first readable insurance activity index wins.

Written for speed (STYLE.md 12): one pass over child elements, no XPath or ``findtext`` per field, raw
lxml names mapped to field keys through a memo instead of being split and case-folded each time.
A fill without attributes (nearly all of them) is read by ``_gather`` written out in ``_read_fill``,
group attributes included, which saves about 7% of the reading (tests/unit/test_lxml_fill_paths.py
checks that it reads every fill as the general path does).

When the compiled reader ``_fastread`` (``_fastread.c``, built by setup.py where a C compiler is
present) is importable, ``read_rx`` hands it the tree first: it follows the same rules over
libxml2's nodes without an lxml proxy per element, and gives the document back (``None``) in the rare
case it would not read it exactly as this module does. ``read_rx_python`` is this module's reading,
always available; tests/unit/test_lxml_fast_reader.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from lxml import etree

from riskscore.adapters.lxml.memo import Memo
from riskscore.adapters.lxml.values import AMOUNTS, COUNTS, DATES, STRENGTHS
from riskscore.domain.evidence import MibHit, MibReport, RxFill, RxReport

try:
    from riskscore.adapters.lxml import _fastread
except ImportError:  # built without a C compiler: the Python reading below does it all
    _fastread = None  # type: ignore[assignment]

_MAX_MEMO_NAME = 200  # characters of a raw name, namespace included, worth remembering
NO_HIT_MARKERS = frozenset({"NO RECORD", "NONE", "NOHIT", "NO HIT"})


def local_name(raw: object) -> str:
    """``{urn:x}DrugFill`` -> ``drugfill``. Comments and processing instructions have no name."""
    return raw.rpartition("}")[2].lower() if isinstance(raw, str) else ""


def vocabulary(keys: Mapping[str, str]) -> Memo[str]:
    """Raw lxml names (``{namespace}Local`` or ``Local``) -> field keys, matched on the case-folded
    local name; ``""`` for a name the vocabulary does not know. ``names[raw]`` is the lookup."""
    table = dict(keys)
    return Memo(lambda raw: table.get(local_name(raw), ""), max_chars=_MAX_MEMO_NAME)


# Sub-records whose parts are fields of the enclosing record: <Prescriber id=".." specialty=".."/>.
_PRESCRIBER = vocabulary(
    {
        "id": "prescriber_id",
        "prescriberid": "prescriber_id",
        "specialty": "prescriber_specialty",
        "prescriberspecialty": "prescriber_specialty",
    }
)
_PHARMACY = vocabulary({"id": "pharmacy_id", "pharmacyid": "pharmacy_id"})
_GROUPS: dict[str, Memo[str]] = {"prescriber": _PRESCRIBER, "pharmacy": _PHARMACY}

_FILL = vocabulary(
    {
        "druggenericname": "generic_name",
        "genericname": "generic_name",
        "drugbrandname": "brand_name",
        "brandname": "brand_name",
        "ndc": "ndc",
        "filldate": "fill_date",
        "datefilled": "fill_date",
        "dayssupply": "days_supply",
        "dayssupplied": "days_supply",
        "quantity": "quantity",
        "qty": "quantity",
        "refills": "refills",
        "strength": "strength",
        "prescriberid": "prescriber_id",
        "prescriberspecialty": "prescriber_specialty",
        "pharmacyid": "pharmacy_id",
        "prescriber": "prescriber",
        "pharmacy": "pharmacy",
    }
)
_HIT = vocabulary({"code": "code", "category": "category", "source": "source", "date": "date"})

# What an element is when it is not inside a record.
_FILL_RECORD = "fill"
_HIT_RECORD = "hit"
_RESPONSE_DATA = "responsedata"
_IAI = "iai"
_RX_RECORDS = vocabulary({"drugfill": _FILL_RECORD})
_MIB_RECORDS = vocabulary(
    {
        "hit": _HIT_RECORD,
        "responsedata": _RESPONSE_DATA,
        "iai": _IAI,
        "insuranceactivityindex": _IAI,
    }
)


def _text(elem: etree._Element) -> str | None:
    text = elem.text
    if text is None:
        return None
    return text.strip() or None


def _gather(elem: etree._Element, names: Memo[str], found: dict[str, str]) -> None:
    """Add ``elem``'s fields to ``found``: attributes first, then child elements.

    A key already in ``found`` is kept (first wins). Callers seed ``found`` with ``""`` (unknown
    names) and the group keys, so that one dict lookup skips unknown, repeated and group elements
    alike and only that rare branch pays for the group check. ``_read_fill`` repeats this for the
    common fill, for speed: a change here belongs there too.
    """
    known = names.get  # bound once: a bound dict.get is the fastest lookup; a miss falls to names[]
    # lxml-stubs type attribute names and values ``str | bytes``; a parsed document's are ``str``.
    attributes: list[tuple[str, str]] = elem.items()  # type: ignore[assignment]
    for raw, value in attributes:
        key = known(raw)
        if key is None:
            key = names[raw]
        if key not in found:
            value = value.strip()
            if value:
                found[key] = value
    if not len(elem):
        return
    for child in elem:
        tag = child.tag
        key = known(tag)
        if key is None:
            key = names[tag]
        if key in found:
            group = _GROUPS.get(key)
            if group is not None:
                _gather(child, group, found)
            continue
        text = child.text
        if text is not None:
            text = text.strip()
            if text:
                found[key] = text


# RxFill's keywords in the slot order of _fastread.c (its F_* enum): passed by name, so the struct's
# own field order does not matter.
_FILL_SLOTS = (
    "generic_name",
    "brand_name",
    "ndc",
    "fill_date",
    "days_supply",
    "quantity",
    "refills",
    "strength_mg",
    "prescriber_id",
    "prescriber_specialty",
    "pharmacy_id",
)


def _compiled_reader() -> Callable[[etree._Element], list[RxFill] | None] | None:
    if _fastread is None:
        return None
    _fastread.configure(
        etree._Element,
        RxFill,
        _FILL_SLOTS,
        DATES,
        COUNTS,
        AMOUNTS,
        STRENGTHS,
    )
    return _fastread.read_fills


_READ_FILLS = _compiled_reader()
COMPILED_READER = _READ_FILLS is not None


def depth_probe(max_depth: int) -> Callable[[etree._Element], bool]:
    """``probe(root)``: whether an element of the tree nests deeper than ``max_depth`` levels (the
    root is level 1). Compiled where ``_fastread`` is, an XPath otherwise; the same answer."""
    if _fastread is not None:
        deeper_than = _fastread.deeper_than
        return lambda root: deeper_than(root, max_depth)
    xpath = etree.XPath("boolean(/*" + "/*" * max_depth + ")")
    return lambda root: bool(xpath(root))


def read_rx(root: etree._Element) -> RxReport:
    if _READ_FILLS is not None:
        fills = _READ_FILLS(root)
        if fills is not None:
            return RxReport(fills=tuple(fills))
    return read_rx_python(root)


def read_rx_python(root: etree._Element) -> RxReport:
    fills: list[RxFill] = []
    _collect_fills((root,), fills)
    return RxReport(fills=tuple(fills))


def _collect_fills(elements: Iterable[etree._Element], fills: list[RxFill]) -> None:
    known = _RX_RECORDS.get
    for elem in elements:
        tag = elem.tag
        kind = known(tag)
        if kind is None:
            kind = _RX_RECORDS[tag]
        if kind == _FILL_RECORD:
            fill = _read_fill(elem)
            if fill is not None:
                fills.append(fill)
        elif len(elem):
            _collect_fills(elem, fills)


def _read_fill(elem: etree._Element) -> RxFill | None:
    found = {"": "", "prescriber": "", "pharmacy": ""}
    if elem.items():  # fields given as attributes (rare): the general reading
        _gather(elem, _FILL, found)
    else:
        # ``_gather(elem, _FILL, found)`` written out for the common fill, for speed: no call, and
        # a group's attributes (``<Prescriber id=".." specialty=".."/>``) read in line; a group
        # with child elements of its own still goes through ``_gather``. A deliberate copy (the
        # calls it saves are the gain): change both; test_lxml_fill_paths.py checks they agree.
        known = _FILL.get
        for child in elem:
            tag = child.tag
            key = known(tag)
            if key is None:
                key = _FILL[tag]
            if key in found:
                group = _GROUPS.get(key)
                if group is not None:
                    attributes: list[tuple[str, str]] = child.items()  # type: ignore[assignment]
                    for raw, value in attributes:
                        field = group.get(raw)
                        if field is None:
                            field = group[raw]
                        if field not in found:
                            value = value.strip()
                            if value:
                                found[field] = value
                    if len(child):  # reading the attributes again is harmless: first wins
                        _gather(child, group, found)
                continue
            text = child.text
            if text is not None:
                text = text.strip()
                if text:
                    found[key] = text
    generic = found.get("generic_name")
    if generic is None:
        return None
    get = found.get
    fill_date = get("fill_date")
    days_supply = get("days_supply")
    quantity = get("quantity")
    refills = get("refills")
    strength = get("strength")
    return RxFill(
        generic_name=generic,
        brand_name=get("brand_name"),
        ndc=get("ndc"),
        fill_date=None if fill_date is None else DATES[fill_date],
        days_supply=None if days_supply is None else COUNTS[days_supply],
        quantity=None if quantity is None else AMOUNTS[quantity],
        refills=None if refills is None else COUNTS[refills],
        strength_mg=None if strength is None else STRENGTHS[strength],
        prescriber_id=get("prescriber_id"),
        prescriber_specialty=get("prescriber_specialty"),
        pharmacy_id=get("pharmacy_id"),
    )


class _MibScan:
    __slots__ = ("hits", "iai")

    def __init__(self) -> None:
        self.hits: list[MibHit] = []
        self.iai: int | None = None


def read_mib(root: etree._Element) -> MibReport:
    scan = _MibScan()
    _collect_hits((root,), scan)
    return MibReport(hits=tuple(scan.hits), iai_count=scan.iai)


def _collect_hits(elements: Iterable[etree._Element], scan: _MibScan) -> None:
    for elem in elements:
        kind = _MIB_RECORDS[elem.tag]
        if kind == _HIT_RECORD:
            hit = _read_hit(elem)
            if hit is not None:
                scan.hits.append(hit)
            continue
        if kind == _IAI:
            if scan.iai is None:
                text = _text(elem)
                scan.iai = None if text is None else COUNTS[text]
            continue
        if kind == _RESPONSE_DATA:
            code = _text(elem)
            if code is not None and code.upper() not in NO_HIT_MARKERS:
                scan.hits.append(MibHit(code=code))
        elif scan.iai is None:
            for raw, value in elem.items():
                if _MIB_RECORDS[str(raw)] == _IAI:
                    scan.iai = COUNTS[str(value).strip()]
                    break
        if len(elem):
            _collect_hits(elem, scan)


def _read_hit(elem: etree._Element) -> MibHit | None:
    found: dict[str, str] = {"": ""}
    _gather(elem, _HIT, found)
    code = found.get("code")
    if code is None or code.upper() in NO_HIT_MARKERS:
        return None
    date = found.get("date")
    return MibHit(
        code=code,
        category=found.get("category"),
        source=found.get("source"),
        date=None if date is None else DATES[date],
    )
