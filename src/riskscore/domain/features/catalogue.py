"""riskscore's feature catalogue: the ordered ``SCHEMA`` every model is trained and scored on.

The catalogue is riskscore's own design on top of published findings (../shared/DOMAIN.md; rendered
with its conventions in ``docs/features.md``). It is derived from the lookup tables: one block of
columns per drug group (``tables.DRUG_GROUPS``) and one count per MIB category, so a new group in
``drug_classes.csv`` adds columns and changes the version; a remapped drug changes the version
through ``FeatureSchema.data_digest``.

Encodings shared by all columns (they are the contract the extraction and the docs both follow):

- Counts are plain counts; flags are 0/1.
- ``-1`` means "not applicable": a "months/years since" with no dated event, a PDC with no fill in its
  window, a ratio with no denominator. Every such column has a count or flag next to it saying why.
- Severities are 1..10 and 0 means "no rated drug / code".
- Time windows end on the reference date ``as_of`` (inclusive) and span a whole number of days:
  ``WINDOW_DAYS``. Events dated after ``as_of`` are ignored everywhere.
"""

from __future__ import annotations

from riskscore.domain.features.schema import FeatureDef, FeatureSchema
from riskscore.domain.features.tables import (
    DRUG_CLASSES,
    DRUG_GROUPS,
    MIB_CATEGORY_NAMES,
    MIB_SOURCES,
    UNKNOWN,
    tables_digest,
)

REVISION = 1
"""Bump when a computation changes meaning without changing a name or unit."""

DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25
WINDOW_DAYS = {6: 183, 12: 365, 24: 730, 60: 1826}
"""Window of N months = the last round(N x 30.4375) days up to and including ``as_of``."""
MIB_RECENT_MONTHS = 24
DEFAULT_DAYS_SUPPLY = 30
"""Assumed coverage of a fill whose days supply is missing or not positive (the commonest supply)."""
EARLY_REFILL_FRACTION = 0.75
"""A refill is early when it comes before this fraction of the previous supply has elapsed."""
POLYPHARMACY_MIN_DRUGS = 5
PSYCHIATRY_MARK = "PSYCHIAT"
"""A prescriber specialty containing this (upper case) is psychiatry."""

PDC_GROUPS = (
    "lipid",
    "diabetes_oral",
    "insulin",
    "antipsychotic",
    "antidepressant",
    "anticoagulant",
    "hiv_antiviral",
    "ace_arb",
)
"""Maintenance therapies whose adherence (PDC) the literature links to outcomes."""
THERAPY_MONTHS_GROUPS = (
    "diabetes_oral",
    "insulin",
    "opioid",
    "antipsychotic",
    "antidepressant",
    "anticoagulant",
)
"""Groups where duration matters (years of antipsychotics vs a short course: ExamOne)."""
RECENT_FILL_GROUPS = ("opioid", "benzodiazepine")
"""Controlled substances: recent (6-month) use and early refills are their own signals."""
EARLY_REFILL_GROUPS = RECENT_FILL_GROUPS

_FLAG = "flag (0/1)"
_COUNT = "count"
_MONTHS_SINCE = "months (-1 = none dated)"
_PROPORTION = "proportion 0..1 (-1 = no fill in window)"
_SEVERITY = "severity 0..10 (0 = none rated)"


def _f(name: str, description: str, unit: str) -> FeatureDef:
    return FeatureDef(name=name, description=description, unit=unit)


def _group_label(group: str) -> str:
    if group == UNKNOWN:
        return "drugs not in riskscore's drug table (group unknown)"
    codes = sorted({c.va_class for c in DRUG_CLASSES if c.group == group})
    return f"{group.replace('_', ' ')} drugs (VA {', '.join(codes)})"


def _rx_global() -> list[FeatureDef]:
    m = WINDOW_DAYS
    return [
        _f("rx_hit", "1 if the Rx report has any fill on or before as_of; 0 is an Rx no-hit, its own signal (Munich Re)", _FLAG),
        _f("rx_fills", "Fills on or before as_of, undated fills included", _COUNT),
        *(
            _f(f"rx_fills_{n}m", f"Dated fills in the last {n} months ({m[n]} days)", _COUNT)
            for n in (6, 12, 24, 60)
        ),
        _f("rx_fills_undated", "Fills without a readable date (counted in totals, never in a window)", _COUNT),
        _f("rx_fills_missing_days_supply", f"Fills without a positive days supply ({DEFAULT_DAYS_SUPPLY} days assumed for coverage)", _COUNT),
        _f("rx_distinct_generics", "Distinct normalized generic names", _COUNT),
        _f("rx_distinct_generics_12m", "Distinct generic names filled in the last 12 months", _COUNT),
        _f("rx_chronic_drugs_12m", "Distinct chronic (maintenance) generics filled in the last 12 months", _COUNT),
        _f("rx_polypharmacy_12m", f"1 if rx_chronic_drugs_12m >= {POLYPHARMACY_MIN_DRUGS}", _FLAG),
        _f("rx_distinct_prescribers", "Distinct prescriber ids", _COUNT),
        _f("rx_distinct_pharmacies", "Distinct pharmacy ids", _COUNT),
        _f("rx_distinct_specialties", "Distinct prescriber specialties", _COUNT),
        _f("rx_max_severity", "Severity of the gravest drug filled (RGA: worst drug summarizes history)", _SEVERITY),
        _f("rx_mean_severity", "Mean severity over the distinct rated generics", _SEVERITY),
        _f("rx_max_severity_12m", "Severity of the gravest drug filled in the last 12 months", _SEVERITY),
        _f("rx_insulin_present", "1 if any insulin fill (insulin-treated diabetes is rated apart)", _FLAG),
        _f("rx_opioid_benzo_concurrent", "1 if an opioid's and a benzodiazepine's days-supply windows overlap", _FLAG),
        _f("rx_opioid_benzo_overlap_days_12m", "Days in the last 12 months covered by both an opioid and a benzodiazepine", "days"),
        _f("rx_max_daily_mme", "Highest daily morphine milligram equivalent of one opioid fill (CDC factors); 0 if none computable", "MME/day"),
        _f("rx_mme_not_computable", "1 if an opioid fill lacks strength, quantity or days supply, so its MME is unknown", _FLAG),
        _f("rx_psychiatrist_antipsychotic", "1 if an antipsychotic was prescribed by a psychiatry specialty", _FLAG),
        _f("rx_months_since_last_fill", "Months from the newest dated fill to as_of", _MONTHS_SINCE),
        _f("rx_months_since_first_fill", "Months from the oldest dated fill to as_of (length of history)", _MONTHS_SINCE),
        _f("rx_mean_pdc_12m", "Mean 12-month PDC over the adherence groups with a fill in the window", _PROPORTION),
    ]  # fmt: skip


def _rx_group(group: str) -> list[FeatureDef]:
    label = _group_label(group)
    p = f"rx_{group}"
    out = [_f(f"{p}_fills", f"Fills of {label}, undated included (> 0: any fill)", _COUNT)]
    if group in RECENT_FILL_GROUPS:
        out.append(_f(f"{p}_fills_6m", f"Fills of {label} in the last 6 months", _COUNT))
    out.append(_f(f"{p}_fills_12m", f"Fills of {label} in the last 12 months", _COUNT))
    out.append(
        _f(
            f"{p}_months_since_last_fill",
            f"Months since the newest dated fill of {label}",
            _MONTHS_SINCE,
        )
    )
    if group in THERAPY_MONTHS_GROUPS:
        out.append(
            _f(
                f"{p}_months_on_therapy_60m",
                f"Months of the last 60 covered by the days supply of {label}",
                "months",
            )
        )
    if group in PDC_GROUPS:
        out.append(
            _f(
                f"{p}_pdc_12m",
                f"Proportion of days covered by {label} from their first fill in the last 12 months to as_of (PQA, capped at 1)",
                _PROPORTION,
            )
        )
    if group in EARLY_REFILL_GROUPS:
        out.append(
            _f(
                f"{p}_early_refill_ratio_12m",
                f"Share of refills of the same {group} generic in the last 12 months that came before {EARLY_REFILL_FRACTION:.0%} of the previous supply elapsed",
                "proportion 0..1 (-1 = no refill)",
            )
        )
    return out


def _mib() -> list[FeatureDef]:
    return [
        _f("mib_hit", "1 if the MIB report has any code on or before as_of; 0 is MIB 'no record'", _FLAG),
        _f("mib_codes", "MIB codes on or before as_of, undated included", _COUNT),
        _f("mib_distinct_categories", "Distinct condition categories among the codes", _COUNT),
        *(
            _f(
                f"mib_{cat}_codes",
                "Codes riskscore's table does not map (e.g. the placeholder CODE1)"
                if cat == UNKNOWN
                else f"Codes in category {cat.replace('_', ' ')}",
                _COUNT,
            )
            for cat in MIB_CATEGORY_NAMES
        ),
        _f("mib_max_category_severity", "Severity of the gravest category among the codes", _SEVERITY),
        _f("mib_years_since_newest_code", "Years from the newest dated code to as_of", "years (-1 = none dated)"),
        _f("mib_codes_undated", "Codes without a readable date", _COUNT),
        _f(f"mib_codes_{MIB_RECENT_MONTHS}m", f"Codes dated in the last {MIB_RECENT_MONTHS} months", _COUNT),
        *(
            _f(f"mib_source_{src.lower()}_codes", f"Codes whose information source is {src}", _COUNT)
            for src in MIB_SOURCES
        ),
        _f("mib_source_unreported_codes", "Codes whose source the report does not give", _COUNT),
        _f("mib_iai", "Insurance activity index: MIB checks in the previous two years (0 if not reported)", _COUNT),
        _f("mib_iai_missing", "1 if the report gives no insurance activity index", _FLAG),
    ]  # fmt: skip


def build_schema() -> FeatureSchema:
    chosen = {*PDC_GROUPS, *THERAPY_MONTHS_GROUPS, *RECENT_FILL_GROUPS, *EARLY_REFILL_GROUPS}
    if missing := chosen - set(DRUG_GROUPS):
        raise ValueError(f"catalogue names drug groups the table lacks: {sorted(missing)}")
    features = _rx_global()
    for group in DRUG_GROUPS:
        features.extend(_rx_group(group))
    features.extend(_mib())
    return FeatureSchema(features=tuple(features), revision=REVISION, data_digest=tables_digest())


SCHEMA: FeatureSchema = build_schema()
SCHEMA_VERSION: str = SCHEMA.version
INDEX: dict[str, int] = {name: i for i, name in enumerate(SCHEMA.names)}
"""Column of each feature name."""
