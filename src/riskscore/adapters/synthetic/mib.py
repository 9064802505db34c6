"""From a latent person to an MIB record: coded hits from earlier applications and the IAI.

A code is five characters: a stem of three digits whose first digit is the category of
``mib_categories.csv`` (1 cardiovascular ... 0 other), then two letters. Each condition has its own
stems, so a code is stable evidence of the condition family without being a real MIB code (MIB's
codebook is confidential). A condition leaves a code with a chance that grows with severity, age
(older people have applied for insurance more often) and stacking. A few healthy people carry a
benign "other" or lab code. Hits are dated (to the month) within MIB's seven-year retention.

The insurance activity index (IAI) counts MIB checks in the previous two years: Poisson(0.3) for most
applicants, ``3 + Poisson(3.5)`` for "stackers" applying to many insurers at once.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from riskscore.adapters.synthetic.catalog import mib_category_names
from riskscore.adapters.synthetic.latent import CONDITIONS, Person
from riskscore.adapters.synthetic.rng import Rng, Weighted

RETENTION_DAYS = 7 * 365

STEMS: dict[str, tuple[str, ...]] = {
    "obesity": ("910", "912", "915"),
    "hypertension": ("120", "121", "122"),
    "hyperlipidemia": ("930", "931"),
    "diabetes": ("210", "211", "215"),
    "hypothyroidism": ("240", "241"),
    "heart_disease": ("130", "131", "135", "140", "145"),
    "kidney_disease": ("710", "712", "715"),
    "copd_asthma": ("610", "620", "621"),
    "depression_anxiety": ("410", "411", "412"),
    "serious_mental_illness": ("430", "431", "435"),
    "chronic_pain": ("860", "861"),
    "substance_use": ("510", "511", "520", "521"),
    "neurological": ("810", "820", "830"),
    "cancer": ("310", "311", "320", "330", "340", "350"),
    "hiv": ("050", "051"),
    "transplant": ("750", "751"),
}
BACKGROUND_STEMS = ("010", "020", "030", "950", "960")
"""Benign codes (minor findings, lab values) anyone may carry."""
LETTERS = "ABCDEFGHKMRSTWXZ"

_SOURCES = Weighted(
    [
        ("APS", 0.35),
        ("APPLICATION", 0.25),
        ("PARAMED", 0.15),
        ("EXAM", 0.12),
        ("LAB", 0.05),
        ("OTHER", 0.08),
    ]
)
_LAB_SOURCES = Weighted(
    [("LAB", 0.35), ("EXAM", 0.25), ("PARAMED", 0.25), ("APPLICATION", 0.1), ("OTHER", 0.05)]
)


class MibCode(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    category: str
    source: str
    date: dt.date


class MibRecord(msgspec.Struct, frozen=True, kw_only=True):
    hits: tuple[MibCode, ...]
    iai: int


def _code(rng: Rng, stem: str, today: int) -> MibCode:
    day = dt.date.fromordinal(today - rng.integer(30, RETENTION_DAYS))
    sources = _LAB_SOURCES if stem[0] == "9" else _SOURCES
    return MibCode(
        code=stem + rng.choice(LETTERS) + rng.choice(LETTERS),
        category=mib_category_names()[stem[0]],
        source=rng.weighted(sources),
        date=day.replace(day=1),
    )


def mib_record(rng: Rng, person: Person, as_of: dt.date) -> MibRecord:
    today = as_of.toordinal()
    applied = 0.5 + 0.5 * min(1.0, (person.age - 18) / 35)
    stacking = 1.8 if person.stacker else 1.0
    hits: list[MibCode] = []
    for cond in CONDITIONS:
        severity = person.conditions.get(cond.name)
        if severity is None:
            continue
        chance = min(0.9, cond.mib_chance * (1 + 0.5 * severity) * applied * stacking)
        if rng.chance(chance):
            stems = STEMS[cond.name]
            hits.append(_code(rng, rng.choice(stems), today))
            if rng.chance(0.3):
                hits.append(_code(rng, rng.choice(stems), today))
    if rng.chance(0.03):
        hits.append(_code(rng, rng.choice(BACKGROUND_STEMS), today))
    hits.sort(key=lambda h: (h.date, h.code), reverse=True)
    iai = 3 + rng.poisson(3.5) if person.stacker else rng.poisson(0.3)
    return MibRecord(hits=tuple(hits), iai=iai)
