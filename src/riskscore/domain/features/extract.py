"""Pure feature extraction: ``PolicyEvidence`` + a reference date -> values in ``SCHEMA`` order.

Every value is computed **as of** an explicit date, so rescoring an old application reproduces its
vector: fills and MIB codes dated after ``as_of`` are ignored and every window ends on ``as_of``.

Rules riskscore chose (the shared encodings are in ``catalogue``'s docstring and docs/features.md):

- A fill without a date (the public reference sample has one) is a fill of unknown date: it counts in
  ``rx_hit``, the totals, distinct generics, prescribers, severities and MME, never in a window, a
  "months since", a PDC or a concurrency; ``rx_fills_undated`` counts it. An MIB code without a date
  likewise counts everywhere except in ``mib_codes_24m`` and ``mib_years_since_newest_code``.
- A fill covers ``[fill_date, fill_date + days_supply)``. A missing or non-positive days supply is
  assumed to be ``DEFAULT_DAYS_SUPPLY``; a days supply above 365 is taken as 365.
- PDC (PQA method, simplified to the drug group): the period runs from the group's first fill in the
  12-month window to ``as_of``; a fill that starts while an earlier supply lasts is shifted to start
  when it ends (early refills carry over); coverage after ``as_of`` does not count; capped at 1.
  PQA's two-fill eligibility rule is not applied: one fill gives a PDC too.
- Months on therapy: the same shifted coverage, over the last 60 months, in months.
- Concurrent opioid + benzodiazepine: the union of each group's fill windows (unshifted) intersect.
- Daily MME of an opioid fill = strength_mg x quantity / days_supply x CDC factor (rate-based drugs
  such as fentanyl patches: strength x factor). It needs the *reported* values; a fill missing one
  sets ``rx_mme_not_computable`` and contributes nothing to ``rx_max_daily_mme``.
- Early refill (opioids, benzodiazepines): consecutive dated fills of the same normalized generic in
  the 12-month window; early when the gap is shorter than 75 % of the earlier fill's supply.

Written for speed on purpose (STYLE.md 12): one pass over the fills classifies them (memoized name
lookup) and buckets them by group index; each group's bucket, sorted by date, then gives its window
counts by bisection and its coverage (PDC and months on therapy together) in one closed-form pass.
Integer day arithmetic on ``date.toordinal()``; a template list of floats with the "not applicable"
defaults already in place; column numbers resolved at import; distinct-value counts in C-level set
building. ``bench/features.py`` measures it (``python -m bench.features``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import operator
from collections import defaultdict
from collections.abc import Sequence

from riskscore.domain.evidence import MibHit, PolicyEvidence, RxFill
from riskscore.domain.features.catalogue import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    DEFAULT_DAYS_SUPPLY,
    EARLY_REFILL_FRACTION,
    EARLY_REFILL_GROUPS,
    INDEX,
    MIB_RECENT_MONTHS,
    PDC_GROUPS,
    POLYPHARMACY_MIN_DRUGS,
    PSYCHIATRY_MARK,
    RECENT_FILL_GROUPS,
    SCHEMA,
    SCHEMA_VERSION,
    THERAPY_MONTHS_GROUPS,
    WINDOW_DAYS,
)
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.features.tables import (
    _DRUG_CACHE,
    DRUG_GROUPS,
    MIB_CATEGORY_NAMES,
    MIB_CATEGORY_SEVERITY,
    MIB_SOURCES,
    DrugRecord,
    lookup_drug,
    mib_category_index,
    mib_source_index,
)

__all__ = ["extract_features", "extract_values"]

_N = len(SCHEMA)
_G = len(DRUG_GROUPS)
_C = len(MIB_CATEGORY_NAMES)
_D6, _D12, _D24, _D60 = WINDOW_DAYS[6], WINDOW_DAYS[12], WINDOW_DAYS[24], WINDOW_DAYS[60]
_MIB_RECENT_DAYS = WINDOW_DAYS[MIB_RECENT_MONTHS]
_MAX_SUPPLY = 365
_USUAL_SUPPLY: dict[int | None, int] = {days: days for days in range(1, _MAX_SUPPLY + 1)}
"""Days supplies taken as reported: one dict lookup in the per-fill loop instead of three tests."""
_MAX_IAI = 1_000_000
_NEVER = 1 << 62
_INF = math.inf
_NA = -1.0
_OPIOID = DRUG_GROUPS.index("opioid")
_BENZO = DRUG_GROUPS.index("benzodiazepine")
_INSULIN = DRUG_GROUPS.index("insulin")
_ANTIPSYCHOTIC = DRUG_GROUPS.index("antipsychotic")


def _col(name: str) -> int:
    return INDEX[name]


def _group_cols(suffix: str, groups: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(group index, column) for each group that has the ``rx_<group>_<suffix>`` feature."""
    return tuple((DRUG_GROUPS.index(g), INDEX[f"rx_{g}_{suffix}"]) for g in groups)


# Column numbers, resolved once.
_RX_HIT = _col("rx_hit")
_RX_FILLS = _col("rx_fills")
_RX_FILLS_6, _RX_FILLS_12 = _col("rx_fills_6m"), _col("rx_fills_12m")
_RX_FILLS_24, _RX_FILLS_60 = _col("rx_fills_24m"), _col("rx_fills_60m")
_RX_UNDATED = _col("rx_fills_undated")
_RX_MISSING_DS = _col("rx_fills_missing_days_supply")
_RX_GENERICS, _RX_GENERICS_12 = _col("rx_distinct_generics"), _col("rx_distinct_generics_12m")
_RX_CHRONIC_12, _RX_POLY_12 = _col("rx_chronic_drugs_12m"), _col("rx_polypharmacy_12m")
_RX_PRESCRIBERS = _col("rx_distinct_prescribers")
_RX_PHARMACIES = _col("rx_distinct_pharmacies")
_RX_SPECIALTIES = _col("rx_distinct_specialties")
_RX_MAX_SEV, _RX_MEAN_SEV = _col("rx_max_severity"), _col("rx_mean_severity")
_RX_MAX_SEV_12 = _col("rx_max_severity_12m")
_RX_INSULIN = _col("rx_insulin_present")
_RX_OB_CONCURRENT = _col("rx_opioid_benzo_concurrent")
_RX_OB_DAYS_12 = _col("rx_opioid_benzo_overlap_days_12m")
_RX_MAX_MME, _RX_MME_NC = _col("rx_max_daily_mme"), _col("rx_mme_not_computable")
_RX_PSYCH_AP = _col("rx_psychiatrist_antipsychotic")
_RX_SINCE_LAST = _col("rx_months_since_last_fill")
_RX_SINCE_FIRST = _col("rx_months_since_first_fill")
_RX_MEAN_PDC = _col("rx_mean_pdc_12m")

_G_FILLS = tuple(INDEX[f"rx_{g}_fills"] for g in DRUG_GROUPS)
_G_FILLS_12 = tuple(INDEX[f"rx_{g}_fills_12m"] for g in DRUG_GROUPS)
_G_SINCE = tuple(INDEX[f"rx_{g}_months_since_last_fill"] for g in DRUG_GROUPS)
_G_PDC = _group_cols("pdc_12m", PDC_GROUPS)
_G_EARLY = _group_cols("early_refill_ratio_12m", EARLY_REFILL_GROUPS)


def _extras() -> list[tuple[int, int, int, int] | None]:
    """Per group: columns of its 6-month count, months on therapy, PDC, early-refill ratio (-1 if
    it has none), or None when it has none of them."""
    found: list[tuple[int, int, int, int] | None] = [None] * _G
    for gi in range(_G):
        cols = tuple(
            dict(_group_cols(suffix, groups)).get(gi, -1)
            for suffix, groups in (
                ("fills_6m", RECENT_FILL_GROUPS),
                ("months_on_therapy_60m", THERAPY_MONTHS_GROUPS),
                ("pdc_12m", PDC_GROUPS),
                ("early_refill_ratio_12m", EARLY_REFILL_GROUPS),
            )
        )
        if max(cols) >= 0:
            found[gi] = (cols[0], cols[1], cols[2], cols[3])
    return found


_EXTRAS = _extras()

_MIB_HIT, _MIB_CODES = _col("mib_hit"), _col("mib_codes")
_MIB_DISTINCT_CATS = _col("mib_distinct_categories")
_MIB_CAT = tuple(INDEX[f"mib_{c}_codes"] for c in MIB_CATEGORY_NAMES)
_MIB_MAX_SEV = _col("mib_max_category_severity")
_MIB_YEARS_NEWEST = _col("mib_years_since_newest_code")
_MIB_UNDATED = _col("mib_codes_undated")
_MIB_RECENT = _col(f"mib_codes_{MIB_RECENT_MONTHS}m")
_MIB_SOURCE_COLS = (
    *(INDEX[f"mib_source_{s.lower()}_codes"] for s in MIB_SOURCES),
    _col("mib_source_unreported_codes"),
)
"""Column by ``mib_source_index``: its -1 (not reported) picks the last, unreported column."""
_MIB_IAI, _MIB_IAI_MISSING = _col("mib_iai"), _col("mib_iai_missing")

_TEMPLATE = [0.0] * _N
for _i in (
    _RX_SINCE_LAST,
    _RX_SINCE_FIRST,
    _RX_MEAN_PDC,
    *_G_SINCE,
    *(c for _, c in _G_PDC),
    *(c for _, c in _G_EARLY),
    _MIB_YEARS_NEWEST,
):
    _TEMPLATE[_i] = _NA
_TEMPLATE[_MIB_IAI_MISSING] = 1.0

Entry = tuple[int, int, str, RxFill, DrugRecord]
"""A fill known on the reference date: (date ordinal or 0 when undated, days of supply assumed,
normalized generic, the fill, its drug record)."""

_ordinal_of = operator.itemgetter(0)
_BLANK = frozenset({None, ""})
"""Prescriber, pharmacy and specialty values that say nothing."""
_key_of = operator.itemgetter(2)
_bisect = bisect.bisect_left


def extract_features(evidence: PolicyEvidence, as_of: dt.date) -> FeatureVector:
    """The feature vector of one application as of ``as_of``."""
    return FeatureVector(
        schema_version=SCHEMA_VERSION, values=tuple(extract_values(evidence, as_of))
    )


def extract_values(evidence: PolicyEvidence, as_of: dt.date) -> list[float]:
    """Feature values in ``SCHEMA`` order, all finite floats."""
    out = _TEMPLATE.copy()
    today = as_of.toordinal()
    if evidence.rx.fills:
        _rx_features(evidence.rx.fills, today, out)
    _mib_features(evidence.mib.hits, evidence.mib.iai_count, today, out)
    return out


def _rx_features(fills: Sequence[RxFill], today: int, out: list[float]) -> None:
    # The only pass over all fills classifies them and buckets them by drug group; the rest works
    # per group on buckets sorted by date (bisect for windows) or in comprehensions.
    cached = _DRUG_CACHE.get
    usual_supply = _USUAL_SUPPLY.get
    buckets: defaultdict[int, list[Entry]] = defaultdict(list)
    dated: list[int] = []
    skipped = missing_supply = 0
    for fill in fills:
        record = cached(fill.generic_name) or lookup_drug(fill.generic_name)
        day = fill.fill_date
        if day is None:
            ordinal = 0
        else:
            ordinal = day.toordinal()
            if ordinal > today:
                skipped += 1
                continue  # after as_of: not known yet
            dated.append(ordinal)
        supply = usual_supply(fill.days_supply)
        if supply is None:  # missing, not positive or over a year
            reported = fill.days_supply
            if reported is None or reported <= 0:
                missing_supply += 1
                supply = DEFAULT_DAYS_SUPPLY
            else:
                supply = _MAX_SUPPLY
        buckets[record[0]].append((ordinal, supply, record[5], fill, record))
    if not buckets:
        return  # every fill is after as_of: an Rx no-hit as of that date
    kept = [entry[3] for bucket in buckets.values() for entry in bucket] if skipped else fills

    end = today + 1
    lo6, lo12, lo24, lo60 = end - _D6, end - _D12, end - _D24, end - _D60
    if lo60 < 1:  # as_of in the calendar's first years: keep undated fills (0) out of windows
        lo6, lo12, lo24, lo60 = (max(1, lo) for lo in (lo6, lo12, lo24, lo60))
    recent: set[str] = set()  # normalized names filled in the last 12 months
    first_dated: dict[int, int] = {}
    pdcs: list[float] = []
    # Window boundaries by bisection on the date-sorted bucket, skipped when the bucket's first or
    # last date already decides (most buckets lie wholly inside or outside a window).
    for gi, bucket in buckets.items():
        count = len(bucket)
        if count > 1:
            bucket.sort(key=_ordinal_of)
        out[_G_FILLS[gi]] = float(count)
        last = bucket[-1][0]
        if not last:
            continue  # only undated fills
        out[_G_SINCE[gi]] = (today - last) / DAYS_PER_MONTH
        start = first_dated[gi] = 0 if bucket[0][0] else _bisect(bucket, 1, key=_ordinal_of)
        first = bucket[start][0]
        if first >= lo12:
            i12 = start
        elif last < lo12:
            i12 = count
        else:
            i12 = _bisect(bucket, lo12, start, key=_ordinal_of)
        if i12 < count:
            out[_G_FILLS_12[gi]] = float(count - i12)
            recent.update(map(_key_of, bucket[i12:]))
        extras = _EXTRAS[gi]
        if extras is None:
            continue
        col_6, col_therapy, col_pdc, col_early = extras
        if col_6 >= 0 and last >= lo6:
            if bucket[i12][0] >= lo6:
                out[col_6] = float(count - i12)
            else:
                out[col_6] = float(count - _bisect(bucket, lo6, i12, key=_ordinal_of))
        if col_therapy >= 0 or (col_pdc >= 0 and i12 < count):
            if col_therapy < 0:
                i60 = i12
            elif first >= lo60:
                i60 = start
            else:
                i60 = _bisect(bucket, lo60, start, i12, key=_ordinal_of)
            covered_60, covered_12 = _coverage(bucket, i60, i12, end)
            if col_therapy >= 0:
                out[col_therapy] = covered_60 / DAYS_PER_MONTH
            if col_pdc >= 0 and i12 < count:
                pdc = covered_12 / (end - bucket[i12][0])
                if pdc > 1.0:
                    pdc = 1.0
                out[col_pdc] = pdc
                pdcs.append(pdc)
        if col_early >= 0 and i12 < count:
            ratio = _early_refill_ratio(bucket, i12)
            if ratio is not None:
                out[col_early] = ratio
    if pdcs:
        out[_RX_MEAN_PDC] = math.fsum(pdcs) / len(pdcs)  # fsum: independent of bucket order

    total = len(kept)
    out[_RX_HIT] = 1.0
    out[_RX_FILLS] = float(total)
    out[_RX_MISSING_DS] = float(missing_supply)
    out[_RX_UNDATED] = float(total - len(dated))
    if dated:
        dated.sort()
        n_dated = len(dated)
        out[_RX_FILLS_6] = float(n_dated - bisect.bisect_left(dated, lo6))
        out[_RX_FILLS_12] = float(n_dated - bisect.bisect_left(dated, lo12))
        out[_RX_FILLS_24] = float(n_dated - bisect.bisect_left(dated, lo24))
        out[_RX_FILLS_60] = float(n_dated - bisect.bisect_left(dated, lo60))
        out[_RX_SINCE_LAST] = (today - dated[-1]) / DAYS_PER_MONTH
        out[_RX_SINCE_FIRST] = (today - dated[0]) / DAYS_PER_MONTH

    # Distinct generics by normalized name; a drug record is a function of that name.
    drugs = {entry[2]: entry[4] for bucket in buckets.values() for entry in bucket}
    out[_RX_GENERICS] = float(len(drugs))
    rated = [drug[1] for drug in drugs.values() if drug[1]]
    if rated:
        out[_RX_MAX_SEV] = float(max(rated))
        out[_RX_MEAN_SEV] = sum(rated) / len(rated)
    if recent:
        recent_drugs = [drugs[name] for name in recent]
        out[_RX_GENERICS_12] = float(len(recent_drugs))
        out[_RX_MAX_SEV_12] = float(max([drug[1] for drug in recent_drugs]))
        chronic = len([drug for drug in recent_drugs if drug[2]])
        out[_RX_CHRONIC_12] = float(chronic)
        out[_RX_POLY_12] = 1.0 if chronic >= POLYPHARMACY_MIN_DRUGS else 0.0

    out[_RX_PRESCRIBERS] = float(len({fill.prescriber_id for fill in kept} - _BLANK))
    out[_RX_PHARMACIES] = float(len({fill.pharmacy_id for fill in kept} - _BLANK))
    specialties = {fill.prescriber_specialty for fill in kept} - _BLANK
    if specialties:
        out[_RX_SPECIALTIES] = float(len({s.strip().upper() for s in specialties if s} - _BLANK))

    if _INSULIN in buckets:
        out[_RX_INSULIN] = 1.0
    if antipsychotics := buckets.get(_ANTIPSYCHOTIC):
        for entry in antipsychotics:
            specialty = entry[3].prescriber_specialty
            if specialty and PSYCHIATRY_MARK in specialty.upper():
                out[_RX_PSYCH_AP] = 1.0
                break
    opioids = buckets.get(_OPIOID)
    if opioids:
        max_mme, unknown = _max_daily_mme(opioids)
        out[_RX_MAX_MME] = max_mme
        out[_RX_MME_NC] = 1.0 if unknown else 0.0

    if _OPIOID in first_dated and _BENZO in first_dated:
        # Concurrency looks at every dated fill, not only the last 60 months.
        both, days_12 = _overlap(
            _union(buckets[_OPIOID], first_dated[_OPIOID]),
            _union(buckets[_BENZO], first_dated[_BENZO]),
            lo12,
            end,
        )
        out[_RX_OB_CONCURRENT] = 1.0 if both else 0.0
        out[_RX_OB_DAYS_12] = float(days_12)


def _max_daily_mme(opioids: list[Entry]) -> tuple[float, bool]:
    """Highest computable daily MME among opioid fills, and whether some fill's MME is unknown."""
    highest = 0.0
    unknown = False
    for _, _, _, fill, record in opioids:
        factor = record[3]
        strength = fill.strength_mg
        supply = fill.days_supply
        quantity = fill.quantity
        mme = 0.0
        if factor and strength:
            if record[4]:
                mme = strength * factor
            elif supply and supply > 0 and quantity:
                mme = (
                    strength * quantity / (supply if supply < _MAX_SUPPLY else _MAX_SUPPLY) * factor
                )
        if 0.0 < mme < _INF:
            if mme > highest:
                highest = mme
        else:
            unknown = True
    return highest, unknown


def _coverage(bucket: list[Entry], i60: int, i12: int, end: int) -> tuple[int, int]:
    """Days before ``end`` covered by the fills ``bucket[i60:]`` and, shifting afresh, by the fills
    ``bucket[i12:]`` (``i60 <= i12``; sorted, dated, none after ``end``). A fill that starts while
    the supply before it lasts is shifted to start when it runs out (PQA).

    Shifted supplies never overlap, and once one runs past ``end`` every later fill (dated before
    ``end``) is shifted to follow on, so exactly ``cursor - end`` of the supplied days lie past
    ``end``."""
    cursor = supplied = 0
    for ordinal, supply, _, _, _ in bucket[i60:i12]:
        if ordinal > cursor:
            cursor = ordinal
        cursor += supply
        supplied += supply
    cursor_12 = supplied_12 = 0
    for ordinal, supply, _, _, _ in bucket[i12:]:
        if ordinal > cursor:
            cursor = ordinal
        cursor += supply
        if ordinal > cursor_12:
            cursor_12 = ordinal
        cursor_12 += supply
        supplied_12 += supply
    supplied += supplied_12
    return (
        supplied - (cursor - end if cursor > end else 0),
        supplied_12 - (cursor_12 - end if cursor_12 > end else 0),
    )


def _union(bucket: list[Entry], start: int) -> list[tuple[int, int]]:
    """Fill windows [fill, fill + supply) of ``bucket[start:]`` merged into disjoint intervals."""
    merged: list[tuple[int, int]] = []
    last_stop = 0
    for ordinal, supply, _, _, _ in bucket[start:]:
        stop = ordinal + supply
        if merged and ordinal <= last_stop:
            if stop > last_stop:
                merged[-1] = (merged[-1][0], stop)
                last_stop = stop
        else:
            merged.append((ordinal, stop))
            last_stop = stop
    return merged


def _overlap(
    a: list[tuple[int, int]], b: list[tuple[int, int]], lo: int, hi: int
) -> tuple[bool, int]:
    """Whether two disjoint sorted interval lists intersect at all, and on how many days in [lo, hi)."""
    i = j = days = 0
    found = False
    while i < len(a) and j < len(b):
        a_start, a_stop = a[i]
        b_start, b_stop = b[j]
        begin = a_start if a_start > b_start else b_start
        stop = a_stop if a_stop < b_stop else b_stop
        if stop > begin:
            found = True
            begin = begin if begin > lo else lo
            stop = stop if stop < hi else hi
            if stop > begin:
                days += stop - begin
        if a_stop < b_stop:
            i += 1
        else:
            j += 1
    return found, days


def _early_refill_ratio(bucket: list[Entry], start: int) -> float | None:
    """Share of consecutive same-generic fill pairs in ``bucket[start:]`` that came early."""
    ordered = sorted((key, ordinal, supply) for ordinal, supply, key, _, _ in bucket[start:])
    pairs = early = 0
    for (key0, day0, supply0), (key1, day1, _) in itertools.pairwise(ordered):
        if key0 == key1:
            pairs += 1
            if day1 - day0 < EARLY_REFILL_FRACTION * supply0:
                early += 1
    return early / pairs if pairs else None


def _mib_features(hits: Sequence[MibHit], iai: int | None, today: int, out: list[float]) -> None:
    if iai is not None and iai >= 0:
        out[_MIB_IAI] = float(min(iai, _MAX_IAI))
        out[_MIB_IAI_MISSING] = 0.0
    if not hits:
        return
    codes = undated = recent = 0
    newest = _NEVER
    categories: set[int] = set()
    for hit in hits:  # counts go straight into their (zeroed) columns
        day = hit.date
        if day is None:
            undated += 1
        else:
            age = today - day.toordinal()
            if age < 0:
                continue
            if age < newest:
                newest = age
            if age < _MIB_RECENT_DAYS:
                recent += 1
        codes += 1
        category = mib_category_index(hit.code, hit.category)
        categories.add(category)
        out[_MIB_CAT[category]] += 1.0
        out[_MIB_SOURCE_COLS[mib_source_index(hit.source)]] += 1.0
    if not codes:
        return
    out[_MIB_HIT] = 1.0
    out[_MIB_CODES] = float(codes)
    out[_MIB_DISTINCT_CATS] = float(len(categories))
    out[_MIB_MAX_SEV] = float(max([MIB_CATEGORY_SEVERITY[i] for i in categories]))
    if newest != _NEVER:
        out[_MIB_YEARS_NEWEST] = newest / DAYS_PER_YEAR
    out[_MIB_UNDATED] = float(undated)
    out[_MIB_RECENT] = float(recent)
