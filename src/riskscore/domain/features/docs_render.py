"""Render the feature catalogue as Markdown (``docs/features.md``, via ``scripts/gen_features_doc.py``).

The page is generated, never edited by hand, so it cannot drift from the code: a unit test compares
the committed file with ``render_markdown(SCHEMA)``. Numbers quoted in the prose come from the
constants the extraction uses.
"""

from __future__ import annotations

from riskscore.domain.features.catalogue import (
    DEFAULT_DAYS_SUPPLY,
    EARLY_REFILL_FRACTION,
    EARLY_REFILL_GROUPS,
    MIB_RECENT_MONTHS,
    PDC_GROUPS,
    POLYPHARMACY_MIN_DRUGS,
    PSYCHIATRY_MARK,
    RECENT_FILL_GROUPS,
    THERAPY_MONTHS_GROUPS,
    WINDOW_DAYS,
)
from riskscore.domain.features.schema import FeatureSchema
from riskscore.domain.features.tables import (
    DRUG_CLASSES,
    DRUG_GROUPS,
    MIB_CATEGORIES,
    MIB_SOURCES,
    SALT_AND_FORM_WORDS,
    UNKNOWN,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _names(groups: tuple[str, ...]) -> str:
    return ", ".join(f"`{g}`" for g in groups)


def _conventions() -> list[str]:
    windows = ", ".join(f"{n} months = {d} days" for n, d in WINDOW_DAYS.items())
    return [
        "## Encodings and missing values",
        "",
        "- Every value is a finite float. Counts are counts; flags are 0/1.",
        "- **As of a reference date.** Extraction takes an explicit `as_of` date: fills and MIB codes"
        " dated after it are ignored everywhere, and every window ends on it (inclusive), so"
        " rescoring an old application reproduces its vector.",
        f"- **Windows** of N months are the last round(N x 30.4375) days: {windows}."
        " Months are 30.4375 days, years 365.25 days.",
        "- **-1 means not applicable**: a *months/years since* with no dated event, a PDC with no"
        " fill in its window, a ratio with no denominator. A count or flag next to it says why"
        " (`rx_<group>_fills`, `rx_hit`, `mib_codes_undated` ...).",
        "- **Severities** run 1 (benign) to 10 (gravest); 0 means no rated drug or code. Drugs of"
        " the `unknown` group and MIB codes of the `unknown` category are not rated.",
        "- **No hit is its own value, not zero.** `rx_hit = 0` is an Rx no-hit (no fill on or"
        " before `as_of`), which carries worse mortality than a clean hit (Munich Re, Irix);"
        " `mib_hit = 0` is MIB 'no record'. The count columns are 0 then, the *since* columns -1.",
        "- **Undated fills** (the public reference sample has one) count as fills of unknown date:"
        " in `rx_hit`, the totals, distinct generics, prescribers, severities and MME, never in a"
        " window, a *months since*, a PDC or a concurrency; `rx_fills_undated` counts them."
        " Undated MIB codes count everywhere except `mib_codes_24m` and"
        " `mib_years_since_newest_code`.",
        f"- **Missing days supply**: a fill covers {DEFAULT_DAYS_SUPPLY} days (the commonest"
        " supply) for coverage, PDC and concurrency; a supply above 365 days counts as 365."
        " `rx_fills_missing_days_supply` counts such fills. MME never uses an assumed supply.",
        "- **Missing IAI**: `mib_iai` is 0 and `mib_iai_missing` is 1.",
        "",
    ]


def _choices() -> list[str]:
    return [
        "## Choices that are riskscore's own",
        "",
        "Published facts are in `../shared/DOMAIN.md`; these choices build on them and are not an"
        " industry standard.",
        "",
        "- **Drug groups and severities.** Generic names map to a VA Drug Classification class;"
        " the riskscore *group*, *severity* (1..10), *chronic* (maintenance) flag and the MME"
        " basis are riskscore's own, in `drug_classes.csv` (tables below).",
        "- **Name matching.** Upper case; each `/`-separated ingredient loses trailing salt and"
        " form words; ingredients are sorted. A combination not in the table takes the class of"
        " its gravest known ingredient; anything else is group `unknown` (still counted in the"
        " totals). Words dropped: " + ", ".join(sorted(SALT_AND_FORM_WORDS)) + ".",
        "- **PDC** follows the PQA method simplified to the drug group: the period runs from the"
        " group's first fill in the last 12 months to `as_of`; a fill starting while an earlier"
        " supply lasts is shifted to start when it runs out; coverage after `as_of` does not"
        " count; capped at 1. PQA's two-fill eligibility rule is not applied. Groups: "
        + _names(PDC_GROUPS)
        + "; `rx_mean_pdc_12m` averages those with a fill in the window (>= 0.8 is adherent).",
        "- **Months on therapy**: the same shifted coverage over the last 60 months, for "
        + _names(THERAPY_MONTHS_GROUPS)
        + ".",
        f"- **Early refill** ({_names(EARLY_REFILL_GROUPS)}): consecutive dated fills of the same"
        " normalized generic in the last 12 months; early when the gap is shorter than"
        f" {EARLY_REFILL_FRACTION:.0%} of the earlier fill's days supply. 6-month fill counts for "
        + _names(RECENT_FILL_GROUPS)
        + ".",
        "- **Concurrent opioid + benzodiazepine**: the union of each group's fill windows"
        " `[fill date, fill date + days supply)` intersect; the 12-month column counts the shared"
        " days inside the window.",
        "- **Daily MME** of an opioid fill = strength_mg x quantity / days_supply x CDC factor"
        " (fentanyl patches: strength in mcg/hr x factor). It needs the reported strength,"
        " quantity and days supply; a fill missing one sets `rx_mme_not_computable`.",
        f"- **Polypharmacy**: >= {POLYPHARMACY_MIN_DRUGS} distinct chronic generics filled in the"
        " last 12 months (the common study cut-off, applied to maintenance drugs).",
        f"- **Psychiatrist-prescribed antipsychotic**: the prescriber specialty contains"
        f" `{PSYCHIATRY_MARK}` (any case).",
        "- **MIB categories.** MIB's codebook is confidential, so codes are opaque: a code maps by"
        " its first character when that is a digit (table below, riskscore's own scheme; a"
        " production deployment ships its licensed mapping instead). A code that does not map"
        " falls back to the category the report names when that is one of riskscore's, else"
        " `unknown` (the public placeholder `CODE1`). Sources: "
        + ", ".join(MIB_SOURCES)
        + "; `PARAMEDICAL` reads as PARAMED, any other reported source as OTHER. Recent codes:"
        f" the last {MIB_RECENT_MONTHS} months. An MIB code flags for review; it never decides"
        " alone (MIB rules).",
        "",
    ]


def _sources() -> list[str]:
    return [
        "## Sources of the tables",
        "",
        "- `riskscore/domain/features/data/drug_classes.csv`: VA class codes and names from the"
        " U.S. Department of Veterans Affairs National Drug File *VA Drug Classification* (a U.S."
        " government work); MME conversion factors from the CDC 2022 opioid prescribing"
        " guideline; everything else riskscore's own.",
        "- `riskscore/domain/features/data/mib_categories.csv`: riskscore's own placeholder"
        " mapping (see above).",
        "- The schema version hashes the revision, the feature names and units, and a digest of"
        " both tables and the matching words: remapping a drug changes the version, so a model"
        " trained on the old mapping is refused rather than fed different values.",
        "",
    ]


def _feature_table(schema: FeatureSchema) -> list[str]:
    lines = ["## Features", "", "| # | name | meaning | unit |", "|---|---|---|---|"]
    for i, feature in enumerate(schema.features):
        lines.append(
            f"| {i} | `{feature.name}` | {_cell(feature.description)} | {_cell(feature.unit)} |"
        )
    lines.append("")
    return lines


def _drug_table() -> list[str]:
    lines = [
        "## Drug groups",
        "",
        "| group | VA classes | generics (severity; C = chronic; MME factor) |",
        "|---|---|---|",
    ]
    for group in DRUG_GROUPS:
        if group == UNKNOWN:
            lines.append("| `unknown` | - | any name not matched: severity 0, not chronic |")
            continue
        members = [c for c in DRUG_CLASSES if c.group == group]
        classes = ", ".join(sorted({f"{c.va_class} {c.va_class_name}" for c in members}))
        drugs = []
        for c in members:
            extra = "; C" if c.chronic else ""
            if c.mme_factor is not None:
                extra += f"; MME {c.mme_factor:g}" + (" per mcg/hr" if c.mme_rate_basis else "")
            drugs.append(f"{c.generic_name} ({c.severity}{extra})")
        lines.append(f"| `{group}` | {_cell(classes)} | {_cell(', '.join(drugs))} |")
    lines.append("")
    return lines


def _mib_table() -> list[str]:
    lines = ["## MIB categories", "", "| code starts with | category | severity |", "|---|---|---|"]
    lines.extend(f"| `{c.prefix}` | `{c.category}` | {c.severity} |" for c in MIB_CATEGORIES)
    lines.append("| anything else | `unknown` | 0 |")
    lines.append("")
    return lines


def render_markdown(schema: FeatureSchema) -> str:
    """The whole ``docs/features.md`` page for ``schema``."""
    lines = [
        "# Feature catalogue",
        "",
        "<!-- Generated by scripts/gen_features_doc.py from riskscore.domain.features; do not edit."
        " -->",
        "",
        f"Schema version **`{schema.version}`** (revision {schema.revision},"
        f" {len(schema)} features, tables digest `{schema.data_digest or '-'}`). Models, stored"
        " vectors and the running code agree on every column exactly when their versions are"
        " equal. Extraction: `riskscore.domain.features.extract.extract_features(evidence, as_of)`.",
        "",
        *_conventions(),
        *_choices(),
        *_sources(),
        *_feature_table(schema),
        *_drug_table(),
        *_mib_table(),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"
