"""The lookup tables features are computed with: generic name -> drug class, MIB code -> category.

Both tables ship as CSV files in ``riskscore/domain/features/data`` and are read **once, eagerly, when
this module is imported** (``importlib.resources``; no file is opened afterwards). They are small
(tens of rows) and every extraction needs them, so there is nothing to gain from loading lazily, and
a malformed table then fails at start-up rather than on the first application.

Matching rules (riskscore's own):

- A generic name is upper-cased, split into ingredients on ``/``, and each ingredient loses its
  trailing salt, release-form and dosage-form words (``HCL``, ``SODIUM``, ``ER``, ``XL``,
  ``TRANSDERMAL`` ...; see ``SALT_AND_FORM_WORDS``). Ingredients are sorted, so
  ``ACETAMINOPHEN/HYDROCODONE BITARTRATE`` and ``HYDROCODONE/ACETAMINOPHEN`` are the same product.
- A combination not in the table takes the class of its gravest known ingredient
  (``OXYCODONE/ACETAMINOPHEN`` is an opioid through ``OXYCODONE``).
- Anything else belongs to the group ``unknown``: still a fill, still counted in the totals, with no
  severity (0), not chronic and no MME factor.
- An MIB code maps by its first character when that is a digit (``mib_categories.csv``). A code that
  does not map (the public placeholder ``CODE1``) falls back to the category the report names, when
  that name is one of riskscore's categories, and otherwise to ``unknown`` (severity 0).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.resources
from typing import NamedTuple

import msgspec

UNKNOWN = "unknown"
"""Group of drugs and category of MIB codes the tables do not know."""

SALT_AND_FORM_WORDS = frozenset(
    {
        # salts and esters
        "HCL", "HYDROCHLORIDE", "DIHYDROCHLORIDE", "HBR", "HYDROBROMIDE", "SODIUM", "DISODIUM",
        "POTASSIUM", "CALCIUM", "MAGNESIUM", "SULFATE", "BISULFATE", "TARTRATE", "BITARTRATE",
        "SUCCINATE", "FUMARATE", "MALEATE", "MESYLATE", "BESYLATE", "CITRATE", "ACETATE",
        "PHOSPHATE", "BROMIDE", "OXALATE", "PROPIONATE", "FUROATE", "XINAFOATE", "MOFETIL",
        "MONOHYDRATE", "ANHYDROUS",
        # release forms
        "ER", "XL", "XR", "SR", "CR", "DR", "LA", "CD", "IR", "EC", "ODT",
        # dosage forms and routes
        "HFA", "TRANSDERMAL", "PATCH", "ORAL", "TABLET", "TABLETS", "CAPSULE", "CAPSULES",
        "SOLUTION", "SUSPENSION", "INJECTION", "INHALER",
    }
)  # fmt: skip


class DrugClass(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``drug_classes.csv``."""

    generic_name: str
    va_class: str
    va_class_name: str
    group: str
    severity: int
    chronic: bool
    mme_factor: float | None
    mme_rate_basis: bool
    """True when the strength is already a rate (fentanyl patch, mcg/hr): MME = strength x factor."""


class MibCategory(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``mib_categories.csv``."""

    prefix: str
    category: str
    severity: int


class DrugRecord(NamedTuple):
    """What extraction needs about one generic name, as a tuple so the hot loop can unpack it."""

    group_index: int
    severity: int
    chronic: bool
    mme_factor: float
    """0.0 when the drug has no MME conversion factor."""
    mme_rate_basis: bool
    key: str
    """Normalized name: the identity of a distinct generic."""


def _rows(filename: str) -> list[dict[str, str]]:
    text = (
        importlib.resources.files("riskscore.domain.features")
        .joinpath("data", filename)
        .read_text(encoding="utf-8")
    )
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


def normalize_generic_name(name: str) -> str:
    """Canonical form of a generic name: upper case, salts and forms dropped, ingredients sorted."""
    ingredients = []
    for part in name.upper().split("/"):
        words = part.replace(",", " ").split()
        while words and words[-1] in SALT_AND_FORM_WORDS:
            words.pop()
        if words:
            ingredients.append(" ".join(words))
    return "/".join(sorted(ingredients))


def _load_drug_classes() -> tuple[DrugClass, ...]:
    classes = []
    for row in _rows("drug_classes.csv"):
        factor = row["mme_factor"].strip()
        classes.append(
            DrugClass(
                generic_name=row["generic_name"].strip(),
                va_class=row["va_class"].strip(),
                va_class_name=row["va_class_name"].strip(),
                group=row["group"].strip(),
                severity=int(row["severity"]),
                chronic=row["chronic"].strip() == "1",
                mme_factor=float(factor) if factor else None,
                mme_rate_basis=(row.get("mme_basis") or "").strip() == "rate",
            )
        )
    return tuple(classes)


def _load_mib_categories() -> tuple[MibCategory, ...]:
    return tuple(
        MibCategory(
            prefix=row["prefix"].strip(),
            category=row["category"].strip(),
            severity=int(row["severity"]),
        )
        for row in _rows("mib_categories.csv")
    )


DRUG_CLASSES: tuple[DrugClass, ...] = _load_drug_classes()
MIB_CATEGORIES: tuple[MibCategory, ...] = _load_mib_categories()

DRUG_GROUPS: tuple[str, ...] = (*dict.fromkeys(c.group for c in DRUG_CLASSES), UNKNOWN)
"""Drug groups in table order, ``unknown`` last. Feature columns follow this order."""
UNKNOWN_GROUP_INDEX = len(DRUG_GROUPS) - 1

MIB_CATEGORY_NAMES: tuple[str, ...] = (*(c.category for c in MIB_CATEGORIES), UNKNOWN)
"""MIB categories in table order, ``unknown`` last."""
UNKNOWN_CATEGORY_INDEX = len(MIB_CATEGORY_NAMES) - 1

MIB_CATEGORY_SEVERITY: tuple[int, ...] = (*(c.severity for c in MIB_CATEGORIES), 0)

MIB_SOURCES: tuple[str, ...] = ("APS", "EXAM", "PARAMED", "APPLICATION", "LAB", "OTHER")
"""Source types MIB reports; anything else reported counts as OTHER."""
_SOURCE_SYNONYMS = {"PARAMEDICAL": "PARAMED", "ATTENDING PHYSICIAN STATEMENT": "APS"}


def _record(cls: DrugClass, key: str) -> DrugRecord:
    return DrugRecord(
        group_index=DRUG_GROUPS.index(cls.group),
        severity=cls.severity,
        chronic=cls.chronic,
        mme_factor=cls.mme_factor or 0.0,
        mme_rate_basis=cls.mme_rate_basis,
        key=key,
    )


_BY_KEY: dict[str, DrugRecord] = {}
for _cls in DRUG_CLASSES:
    _key = normalize_generic_name(_cls.generic_name)
    if _key in _BY_KEY:
        raise ValueError(f"drug_classes.csv lists {_cls.generic_name!r} twice")
    _BY_KEY[_key] = _record(_cls, _key)

_PREFIX_INDEX = {c.prefix: i for i, c in enumerate(MIB_CATEGORIES)}
_CATEGORY_INDEX = {name: i for i, name in enumerate(MIB_CATEGORY_NAMES)}
_SOURCE_INDEX = {name: i for i, name in enumerate(MIB_SOURCES)}


def resolve_drug(name: str) -> DrugRecord:
    """Classify a generic name as reported (see the module docstring for the rules)."""
    key = normalize_generic_name(name)
    found = _BY_KEY.get(key)
    if found is not None:
        return found
    parts = [_BY_KEY[p] for p in key.split("/") if p in _BY_KEY]
    if parts:
        gravest = max(parts, key=lambda r: r.severity)
        return gravest._replace(key=key)
    return DrugRecord(UNKNOWN_GROUP_INDEX, 0, False, 0.0, False, key)


_DRUG_CACHE: dict[str, DrugRecord] = {}
_DRUG_CACHE_LIMIT = 65_536


def lookup_drug(name: str) -> DrugRecord:
    """``resolve_drug`` memoized on the raw name (bounded, so odd feeds cannot grow it forever)."""
    found = _DRUG_CACHE.get(name)
    if found is None:
        found = resolve_drug(name)
        if len(_DRUG_CACHE) < _DRUG_CACHE_LIMIT:
            _DRUG_CACHE[name] = found
    return found


def mib_category_index(code: str, reported: str | None = None) -> int:
    """Index into ``MIB_CATEGORY_NAMES`` of a code (reported category as the fallback)."""
    index = _PREFIX_INDEX.get(code.strip()[:1])
    if index is not None:
        return index
    if reported:
        by_name = _CATEGORY_INDEX.get(reported.strip().lower().replace(" ", "_"))
        if by_name is not None:
            return by_name
    return UNKNOWN_CATEGORY_INDEX


def _source_index(source: str | None) -> int:
    if not source or not source.strip():
        return -1
    text = " ".join(source.upper().split())
    return _SOURCE_INDEX.get(_SOURCE_SYNONYMS.get(text, text), _SOURCE_INDEX["OTHER"])


_SOURCE_CACHE: dict[str | None, int] = {}


def mib_source_index(source: str | None) -> int:
    """Index into ``MIB_SOURCES``; -1 when the source is not reported. Memoized (bounded)."""
    found = _SOURCE_CACHE.get(source)
    if found is None:
        found = _source_index(source)
        if len(_SOURCE_CACHE) < _DRUG_CACHE_LIMIT:
            _SOURCE_CACHE[source] = found
    return found


def tables_digest() -> str:
    """Hash of the parsed tables and matching words (not comments or layout): 16 hex characters."""
    payload = msgspec.json.encode(
        [DRUG_CLASSES, MIB_CATEGORIES, sorted(SALT_AND_FORM_WORDS), MIB_SOURCES, _SOURCE_SYNONYMS]
    )
    return hashlib.sha256(payload).hexdigest()[:16]
