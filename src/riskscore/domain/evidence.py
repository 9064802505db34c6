"""Evidence documents as parsed from MIB and Rx-history reports.

Every field a vendor may omit is optional: the vendors' schemas are not public (DOMAIN.md), so the
domain never assumes NDC, days supply or prescriber ids are present.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class MibHit(msgspec.Struct, frozen=True, kw_only=True):
    """One coded MIB hit. ``code`` is opaque; riskscore maps it to a category with its own table."""

    code: str
    category: str | None = None
    source: str | None = None
    date: dt.date | None = None


class MibReport(msgspec.Struct, frozen=True, kw_only=True):
    """An MIB answer. No hits means "no record", which is itself meaningful evidence."""

    hits: tuple[MibHit, ...] = ()
    iai_count: int | None = None

    @property
    def has_record(self) -> bool:
        return bool(self.hits)


class RxFill(msgspec.Struct, frozen=True, kw_only=True):
    """One pharmacy fill from a prescription-history report."""

    generic_name: str
    brand_name: str | None = None
    ndc: str | None = None
    fill_date: dt.date | None = None
    days_supply: int | None = None
    quantity: float | None = None
    refills: int | None = None
    strength_mg: float | None = None
    prescriber_id: str | None = None
    prescriber_specialty: str | None = None
    pharmacy_id: str | None = None


class RxReport(msgspec.Struct, frozen=True, kw_only=True):
    """A prescription-history answer. No fills means an Rx "no hit", kept distinct from zero."""

    fills: tuple[RxFill, ...] = ()

    @property
    def has_hit(self) -> bool:
        return bool(self.fills)


class PolicyEvidence(msgspec.Struct, frozen=True, kw_only=True):
    """Both evidence documents of one policy application."""

    policy_number: str
    mib: MibReport
    rx: RxReport
