"""Reading a parsed (and already vetted) lxml tree into ``MibReport`` / ``RxReport``.

Tolerance rules (docs/evidence-format.md): names match case-insensitively and ignoring namespaces; a
field may be a child element or an attribute; records (``DrugFill``, ``Hit``, ``ResponseData``) are
found at any depth; unknown elements and attributes are ignored. Choices made here:

- A field given more than once: an attribute wins over a child element, and the first non-empty
  child element over later ones.
- A field element's text is its text up to its first child element, stripped; empty means absent.
- Records are not searched for inside records (a ``DrugFill`` inside a ``DrugFill`` is not a fill).
- A fill without a generic name and a hit without a code are skipped; a code equal to a no-hit marker
  (``NO RECORD``, ``NONE``, ``NOHIT``, ``NO HIT``, any case) is not a hit.
- The first readable insurance activity index wins.

Written for speed (STYLE.md 12): one pass over child elements, no XPath or ``findtext`` per field, raw
lxml names mapped to field keys through a memo instead of being split and case-folded each time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lxml import etree

from riskscore.adapters.lxml.values import read_amount, read_count, read_date, read_strength
from riskscore.domain.evidence import MibHit, MibReport, RxFill, RxReport

_MEMO_LIMIT = 2048
NO_HIT_MARKERS = frozenset({"NO RECORD", "NONE", "NOHIT", "NO HIT"})


def local_name(raw: object) -> str:
    """``{urn:x}DrugFill`` -> ``drugfill``. Comments and processing instructions have no name."""
    return raw.rpartition("}")[2].lower() if isinstance(raw, str) else ""


class Names:
    """A vocabulary: raw lxml names (``{namespace}Local`` or ``Local``) -> field keys, matched on the
    case-folded local name; ``""`` for a name the vocabulary does not know.

    lxml hands out the same few raw names over and over, so the mapping is memoised; the memo is
    cleared when full, so a flood of invented names costs speed, never memory. Sharing one memo
    between threads is safe: each dict operation is atomic and every thread writes the same values.
    """

    __slots__ = ("_keys", "memo")

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = dict(keys)
        self.memo: dict[object, str] = {}

    def key(self, raw: object) -> str:
        found = self.memo.get(raw)
        if found is None:
            found = self._keys.get(local_name(raw), "")
            if len(self.memo) >= _MEMO_LIMIT:
                self.memo.clear()
            self.memo[raw] = found
        return found


# Sub-records whose parts are fields of the enclosing record: <Prescriber id=".." specialty=".."/>.
_PRESCRIBER = Names(
    {
        "id": "prescriber_id",
        "prescriberid": "prescriber_id",
        "specialty": "prescriber_specialty",
        "prescriberspecialty": "prescriber_specialty",
    }
)
_PHARMACY = Names({"id": "pharmacy_id", "pharmacyid": "pharmacy_id"})
_GROUPS: dict[str, Names] = {"prescriber": _PRESCRIBER, "pharmacy": _PHARMACY}

_FILL = Names(
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
_HIT = Names({"code": "code", "category": "category", "source": "source", "date": "date"})

# What an element is when it is not inside a record.
_FILL_RECORD = "fill"
_HIT_RECORD = "hit"
_RESPONSE_DATA = "responsedata"
_IAI = "iai"
_RX_RECORDS = Names({"drugfill": _FILL_RECORD})
_MIB_RECORDS = Names(
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


def _gather(elem: etree._Element, names: Names, found: dict[str, str]) -> None:
    """Add ``elem``'s fields to ``found``: attributes first, then child elements.

    A key already in ``found`` is kept (first wins). Callers seed ``found`` with ``""`` (unknown
    names) and the group keys, so that one dict lookup skips unknown, repeated and group elements
    alike and only that rare branch pays for the group check.
    """
    memo = names.memo
    # lxml-stubs type attribute names and values ``str | bytes``; a parsed document's are ``str``.
    attributes: list[tuple[str, str]] = elem.items()  # type: ignore[assignment]
    for raw, value in attributes:
        key = memo.get(raw)
        if key is None:
            key = names.key(raw)
        if key not in found:
            value = value.strip()
            if value:
                found[key] = value
    if not len(elem):
        return
    for child in elem:
        tag = child.tag
        key = memo.get(tag)
        if key is None:
            key = names.key(tag)
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


def read_rx(root: etree._Element) -> RxReport:
    fills: list[RxFill] = []
    _collect_fills((root,), fills)
    return RxReport(fills=tuple(fills))


def _collect_fills(elements: Iterable[etree._Element], fills: list[RxFill]) -> None:
    memo = _RX_RECORDS.memo
    for elem in elements:
        tag = elem.tag
        kind = memo.get(tag)
        if kind is None:
            kind = _RX_RECORDS.key(tag)
        if kind == _FILL_RECORD:
            fill = _read_fill(elem)
            if fill is not None:
                fills.append(fill)
        elif len(elem):
            _collect_fills(elem, fills)


def _read_fill(elem: etree._Element) -> RxFill | None:
    found = {"": "", "prescriber": "", "pharmacy": ""}
    _gather(elem, _FILL, found)
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
        fill_date=None if fill_date is None else read_date(fill_date),
        days_supply=None if days_supply is None else read_count(days_supply),
        quantity=None if quantity is None else read_amount(quantity),
        refills=None if refills is None else read_count(refills),
        strength_mg=None if strength is None else read_strength(strength),
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
        kind = _MIB_RECORDS.key(elem.tag)
        if kind == _HIT_RECORD:
            hit = _read_hit(elem)
            if hit is not None:
                scan.hits.append(hit)
            continue
        if kind == _IAI:
            if scan.iai is None:
                text = _text(elem)
                scan.iai = None if text is None else read_count(text)
            continue
        if kind == _RESPONSE_DATA:
            code = _text(elem)
            if code is not None and code.upper() not in NO_HIT_MARKERS:
                scan.hits.append(MibHit(code=code))
        elif scan.iai is None:
            for raw, value in elem.items():
                if _MIB_RECORDS.key(raw) == _IAI:
                    scan.iai = read_count(str(value).strip())
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
        date=None if date is None else read_date(date),
    )
