"""Feature schema and extraction: hand-computed values on small handcrafted evidence."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
import sys
from typing import Any

import msgspec
import pytest

from riskscore.domain.evidence import MibHit, MibReport, PolicyEvidence, RxFill, RxReport
from riskscore.domain.features.catalogue import SCHEMA, build_schema
from riskscore.domain.features.extract import extract_features, extract_values
from riskscore.domain.features.schema import FeatureDef, FeatureSchema
from riskscore.domain.features.tables import (
    DRUG_CLASSES,
    DRUG_GROUPS,
    MIB_CATEGORIES,
    MIB_CATEGORY_NAMES,
    MIB_SOURCES,
)

AS_OF = dt.date(2025, 1, 1)
MONTH = 365.25 / 12


def ago(days: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days)


def fill(name: str, days_ago: int | None, supply: int | None = 30, **kw: Any) -> RxFill:
    return RxFill(
        generic_name=name,
        fill_date=None if days_ago is None else ago(days_ago),
        days_supply=supply,
        **kw,
    )


def evidence(
    fills: tuple[RxFill, ...] = (), hits: tuple[MibHit, ...] = (), iai: int | None = None
) -> PolicyEvidence:
    return PolicyEvidence(
        policy_number="T-1", mib=MibReport(hits=hits, iai_count=iai), rx=RxReport(fills=fills)
    )


def features(ev: PolicyEvidence, as_of: dt.date = AS_OF) -> dict[str, float]:
    return dict(zip(SCHEMA.names, extract_values(ev, as_of), strict=True))


# --- schema ---------------------------------------------------------------------------------


def test_schema_has_over_a_hundred_unique_snake_case_features_each_documented() -> None:
    names = SCHEMA.names
    assert len(names) >= 100
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)
    assert all(f.description and f.unit for f in SCHEMA.features)


def test_schema_covers_every_drug_group_and_mib_category() -> None:
    names = set(SCHEMA.names)
    assert {f"rx_{g}_fills_12m" for g in DRUG_GROUPS} <= names
    assert {f"mib_{c}_codes" for c in MIB_CATEGORY_NAMES} <= names
    assert "rx_unknown_fills" in names
    assert "mib_unknown_codes" in names


def test_schema_version_is_the_same_in_a_fresh_process_with_another_hash_seed() -> None:
    code = "from riskscore.domain.features.catalogue import SCHEMA; print(SCHEMA.version)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == SCHEMA.version
    assert build_schema().version == SCHEMA.version


@pytest.mark.parametrize(
    "change",
    [
        lambda fs: (FeatureDef(name="renamed", description="x", unit=fs[0].unit), *fs[1:]),
        lambda fs: (FeatureDef(name=fs[0].name, description="x", unit="other"), *fs[1:]),
        lambda fs: fs[:-1],
        lambda fs: (fs[1], fs[0], *fs[2:]),
    ],
    ids=["renamed", "unit", "dropped", "reordered"],
)
def test_schema_version_changes_when_a_feature_changes(change: Any) -> None:
    changed = FeatureSchema(
        features=change(SCHEMA.features), revision=SCHEMA.revision, data_digest=SCHEMA.data_digest
    )
    assert changed.version != SCHEMA.version


def test_schema_version_changes_with_the_revision_and_the_tables() -> None:
    assert SCHEMA.data_digest
    bumped = msgspec.structs.replace(SCHEMA, revision=SCHEMA.revision + 1)
    assert bumped.version != SCHEMA.version
    assert msgspec.structs.replace(SCHEMA, data_digest="0" * 16).version != SCHEMA.version


def test_extract_features_returns_floats_in_schema_order_tagged_with_the_version() -> None:
    vector = extract_features(evidence((fill("LISINOPRIL", 10),)), AS_OF)
    assert vector.schema_version == SCHEMA.version
    assert len(vector.values) == len(SCHEMA)
    assert all(type(v) is float for v in vector.values)  # 1 and 1.0 hash differently
    assert vector.values[SCHEMA.names.index("rx_ace_arb_fills")] == 1.0


# --- no hit, reference samples, as_of --------------------------------------------------------


def test_empty_reports_are_no_hits_with_not_applicable_sentinels() -> None:
    f = features(evidence())
    assert f["rx_hit"] == 0.0
    assert f["mib_hit"] == 0.0
    assert f["rx_fills"] == 0.0
    assert f["rx_months_since_last_fill"] == -1.0
    assert f["rx_lipid_months_since_last_fill"] == -1.0
    assert f["rx_lipid_pdc_12m"] == -1.0
    assert f["rx_opioid_early_refill_ratio_12m"] == -1.0
    assert f["mib_years_since_newest_code"] == -1.0
    assert f["mib_iai_missing"] == 1.0
    assert f["rx_max_severity"] == 0.0


def test_a_hit_of_unknown_drugs_differs_from_a_no_hit() -> None:
    f = features(evidence((fill("WIDGETAMINE", 10),)))
    assert f["rx_hit"] == 1.0
    assert f["rx_unknown_fills"] == 1.0
    assert f["rx_unknown_fills_12m"] == 1.0
    assert f["rx_fills"] == 1.0
    assert f["rx_max_severity"] == 0.0  # unknown drugs are not rated


def test_reference_samples_one_undated_metformin_fill_and_one_code1_hit() -> None:
    # What the parser makes of the public samples: <DrugFill><DrugGenericName>METFORMIN</...>
    # (no date, no days supply) and <ResponseData>CODE1</ResponseData> (no date, no source).
    ev = evidence((RxFill(generic_name="METFORMIN"),), (MibHit(code="CODE1"),))
    f = features(ev)
    assert f["rx_hit"] == 1.0
    assert f["rx_fills"] == 1.0
    assert f["rx_fills_undated"] == 1.0
    assert f["rx_fills_12m"] == 0.0
    assert f["rx_fills_missing_days_supply"] == 1.0
    assert f["rx_diabetes_oral_fills"] == 1.0
    assert f["rx_diabetes_oral_fills_12m"] == 0.0
    assert f["rx_diabetes_oral_months_since_last_fill"] == -1.0
    assert f["rx_diabetes_oral_pdc_12m"] == -1.0
    assert f["rx_distinct_generics"] == 1.0
    assert f["rx_max_severity"] == 5.0
    assert f["rx_chronic_drugs_12m"] == 0.0
    assert f["rx_months_since_last_fill"] == -1.0
    assert f["mib_hit"] == 1.0
    assert f["mib_codes"] == 1.0
    assert f["mib_unknown_codes"] == 1.0
    assert f["mib_distinct_categories"] == 1.0
    assert f["mib_max_category_severity"] == 0.0
    assert f["mib_codes_undated"] == 1.0
    assert f["mib_source_unreported_codes"] == 1.0
    assert f["mib_years_since_newest_code"] == -1.0


def _without_events_after(ev: PolicyEvidence, as_of: dt.date) -> PolicyEvidence:
    fills = tuple(x for x in ev.rx.fills if x.fill_date is None or x.fill_date <= as_of)
    hits = tuple(h for h in ev.mib.hits if h.date is None or h.date <= as_of)
    return evidence(fills, hits, ev.mib.iai_count)


def test_events_after_as_of_are_ignored() -> None:
    ev = evidence(
        (
            fill("ATORVASTATIN", 400),
            fill("ATORVASTATIN", 30),
            fill("OXYCODONE", -5, strength_mg=10, quantity=60),
            fill("ALPRAZOLAM", -20),
        ),
        (MibHit(code="311", date=ago(10)), MibHit(code="122", date=ago(-3))),
    )
    f = features(ev)
    assert f["rx_fills"] == 2.0
    assert f["rx_opioid_fills"] == 0.0
    assert f["rx_max_daily_mme"] == 0.0
    assert f["mib_codes"] == 1.0
    assert f["mib_cardiovascular_codes"] == 0.0
    assert f == features(_without_events_after(ev, AS_OF))
    # A year earlier only the 400-days-ago fill had happened, 35 days before that date.
    earlier = features(ev, ago(365))
    assert earlier["rx_fills"] == 1.0
    assert earlier["rx_months_since_last_fill"] == pytest.approx(35 / MONTH)
    assert earlier["mib_hit"] == 0.0


def test_only_future_fills_is_an_rx_no_hit_as_of_that_date() -> None:
    assert features(evidence((fill("LISINOPRIL", -1),))) == features(evidence())


# --- fill counts, windows, months since ------------------------------------------------------


def test_fill_counts_per_window_and_months_since() -> None:
    ages = (10, 100, 182, 183, 364, 365, 729, 730, 1825, 1826, 3000)
    f = features(evidence(tuple(fill("ATORVASTATIN CALCIUM", a) for a in ages)))
    assert f["rx_fills"] == 11.0
    assert f["rx_fills_6m"] == 3.0  # 10, 100, 182: the 6-month window is 183 days
    assert f["rx_fills_12m"] == 5.0  # + 183, 364
    assert f["rx_fills_24m"] == 7.0  # + 365, 729
    assert f["rx_fills_60m"] == 9.0  # + 730, 1825
    assert f["rx_lipid_fills"] == 11.0
    assert f["rx_lipid_fills_12m"] == 5.0
    assert f["rx_lipid_months_since_last_fill"] == pytest.approx(10 / MONTH)
    assert f["rx_months_since_last_fill"] == pytest.approx(10 / MONTH)
    assert f["rx_months_since_first_fill"] == pytest.approx(3000 / MONTH)
    assert f["rx_diabetes_oral_fills"] == 0.0
    assert f["rx_diabetes_oral_months_since_last_fill"] == -1.0


def test_a_fill_on_as_of_is_in_every_window() -> None:
    f = features(evidence((fill("OXYCODONE", 0),)))
    assert f["rx_fills_6m"] == f["rx_opioid_fills_6m"] == 1.0
    assert f["rx_months_since_last_fill"] == 0.0


def test_undated_fills_count_in_totals_but_not_in_windows() -> None:
    f = features(evidence((fill("SERTRALINE", None), fill("SERTRALINE", 40))))
    assert f["rx_fills"] == 2.0
    assert f["rx_fills_undated"] == 1.0
    assert f["rx_fills_12m"] == 1.0
    assert f["rx_antidepressant_fills"] == 2.0
    assert f["rx_antidepressant_fills_12m"] == 1.0
    assert f["rx_antidepressant_months_since_last_fill"] == pytest.approx(40 / MONTH)


def test_six_month_counts_for_controlled_substances() -> None:
    f = features(evidence((fill("LORAZEPAM", 20), fill("DIAZEPAM", 150), fill("ALPRAZOLAM", 200))))
    assert f["rx_benzodiazepine_fills_6m"] == 2.0
    assert f["rx_benzodiazepine_fills_12m"] == 3.0


# --- PDC and months on therapy ---------------------------------------------------------------


def test_pdc_shifts_overlapping_fills_and_stops_at_as_of() -> None:
    # 100 days ago: covers days -100..-71 (30). 80 days ago overlaps by 10 days: shifted to
    # -70..-41 (30). 20 days ago: -20..+9, of which -20..0 is before the end (21).
    # Period: first fill to as_of inclusive = 101 days.
    ev = evidence((fill("METFORMIN", 20), fill("METFORMIN HCL", 100), fill("GLIPIZIDE", 80)))
    f = features(ev)
    assert f["rx_diabetes_oral_pdc_12m"] == pytest.approx(81 / 101)
    assert f["rx_diabetes_oral_months_on_therapy_60m"] == pytest.approx(81 / MONTH)
    assert f["rx_mean_pdc_12m"] == pytest.approx(81 / 101)


def test_pdc_is_capped_at_one_and_counts_only_fills_in_the_window() -> None:
    # The fill 400 days ago is outside the 12-month window: the period starts 10 days ago.
    ev = evidence(
        (fill("ATORVASTATIN", 400, 90), fill("ATORVASTATIN", 10, 90), fill("SIMVASTATIN", 5, 90))
    )
    f = features(ev)
    assert f["rx_lipid_pdc_12m"] == 1.0
    assert f["rx_mean_pdc_12m"] == 1.0


def test_pdc_with_a_gap_and_mean_over_groups() -> None:
    # Warfarin: fills 300 and 100 days ago, 30 days each: 60 covered of 301 days.
    # Lisinopril: one 90-day fill 45 days ago: 46 of 46 days.
    ev = evidence((fill("WARFARIN SODIUM", 300), fill("WARFARIN", 100), fill("LISINOPRIL", 45, 90)))
    f = features(ev)
    assert f["rx_anticoagulant_pdc_12m"] == pytest.approx(60 / 301)
    assert f["rx_ace_arb_pdc_12m"] == 1.0
    assert f["rx_mean_pdc_12m"] == pytest.approx((60 / 301 + 1.0) / 2)
    assert f["rx_lipid_pdc_12m"] == -1.0


def test_missing_days_supply_assumes_thirty_days() -> None:
    f = features(evidence((fill("INSULIN GLARGINE", 59, None), fill("INSULIN GLARGINE", 29, 0))))
    assert f["rx_fills_missing_days_supply"] == 2.0
    assert f["rx_insulin_pdc_12m"] == 1.0  # 30 + 30 days over the 60-day period
    assert f["rx_insulin_present"] == 1.0


def test_months_on_therapy_counts_the_last_sixty_months_only() -> None:
    ev = evidence(
        (fill("QUETIAPINE", 2000, 90), fill("QUETIAPINE", 1000, 90), fill("QUETIAPINE", 10, 90))
    )
    f = features(ev)
    assert f["rx_antipsychotic_months_on_therapy_60m"] == pytest.approx((90 + 11) / MONTH)


# --- opioids, benzodiazepines, MME -----------------------------------------------------------


def test_max_daily_mme_uses_cdc_factors_and_flags_incomputable_fills() -> None:
    computable = (
        fill("OXYCODONE HCL", 40, 30, strength_mg=10.0, quantity=60.0),  # 10*60/30*1.5 = 30
        fill("HYDROCODONE BITARTRATE/ACETAMINOPHEN", 20, 30, strength_mg=5.0, quantity=120.0),
        fill("FENTANYL", 100, 30, strength_mg=25.0, quantity=10.0),  # patch: 25 mcg/hr * 2.4
    )
    f = features(evidence(computable))
    assert f["rx_max_daily_mme"] == pytest.approx(60.0)
    assert f["rx_mme_not_computable"] == 0.0
    f = features(evidence(computable[:2]))
    assert f["rx_max_daily_mme"] == pytest.approx(30.0)
    missing = fill("MORPHINE SULFATE ER", 5, None, strength_mg=30.0, quantity=60.0)
    f = features(evidence((*computable[:2], missing)))
    assert f["rx_max_daily_mme"] == pytest.approx(30.0)
    assert f["rx_mme_not_computable"] == 1.0
    f = features(evidence((missing,)))
    assert f["rx_max_daily_mme"] == 0.0
    assert f["rx_mme_not_computable"] == 1.0


def test_combination_products_take_the_class_of_their_gravest_ingredient() -> None:
    f = features(evidence((fill("OXYCODONE HCL/ACETAMINOPHEN", 10, strength_mg=5, quantity=30),)))
    assert f["rx_opioid_fills"] == 1.0
    assert f["rx_max_daily_mme"] == pytest.approx(5 * 30 / 30 * 1.5)
    assert f["rx_max_severity"] == 6.0


def test_concurrent_opioid_and_benzodiazepine_windows() -> None:
    opioid = fill("OXYCODONE", 50)  # days -50..-21
    f = features(evidence((opioid, fill("ALPRAZOLAM", 30))))  # -30..-1: 10 shared days
    assert f["rx_opioid_benzo_concurrent"] == 1.0
    assert f["rx_opioid_benzo_overlap_days_12m"] == 10.0
    f = features(evidence((opioid, fill("ALPRAZOLAM", 15))))  # -15..+14: none shared
    assert f["rx_opioid_benzo_concurrent"] == 0.0
    assert f["rx_opioid_benzo_overlap_days_12m"] == 0.0


def test_concurrency_before_the_window_sets_the_flag_and_counts_only_days_inside() -> None:
    # Opioid -400..-341, benzo -380..-321: shared -380..-341 (40 days), of which -364..-341
    # (24 days) are inside the 12-month window.
    f = features(evidence((fill("MORPHINE", 400, 60), fill("DIAZEPAM", 380, 60))))
    assert f["rx_opioid_benzo_concurrent"] == 1.0
    assert f["rx_opioid_benzo_overlap_days_12m"] == 24.0
    f = features(evidence((fill("MORPHINE", 800, 60), fill("DIAZEPAM", 790, 60))))
    assert f["rx_opioid_benzo_concurrent"] == 1.0
    assert f["rx_opioid_benzo_overlap_days_12m"] == 0.0


def test_undated_fills_are_never_concurrent() -> None:
    f = features(evidence((fill("OXYCODONE", None), fill("ALPRAZOLAM", None))))
    assert f["rx_opioid_benzo_concurrent"] == 0.0


def test_early_refill_ratio_pairs_fills_of_the_same_generic() -> None:
    # Alprazolam: -90, -65 (gap 25 >= 22.5: on time), -50 (gap 15 < 22.5: early) -> 1/2.
    # Lorazepam alone and the alprazolam fill 400 days ago make no pair in the window.
    ev = evidence(
        (
            fill("ALPRAZOLAM", 50),
            fill("ALPRAZOLAM", 400),
            fill("ALPRAZOLAM", 90),
            fill("LORAZEPAM", 60),
            fill("ALPRAZOLAM", 65),
        )
    )
    f = features(ev)
    assert f["rx_benzodiazepine_early_refill_ratio_12m"] == 0.5
    assert f["rx_opioid_early_refill_ratio_12m"] == -1.0
    f = features(evidence((fill("TRAMADOL", 30), fill("MORPHINE", 25))))
    assert f["rx_opioid_early_refill_ratio_12m"] == -1.0  # different generics: no refill


# --- global Rx features ----------------------------------------------------------------------


CHRONIC_FIVE = ("ATORVASTATIN", "METFORMIN", "LISINOPRIL", "SERTRALINE", "LEVOTHYROXINE")


def test_polypharmacy_needs_five_distinct_chronic_drugs_in_twelve_months() -> None:
    five = tuple(fill(name, 30) for name in CHRONIC_FIVE)
    f = features(evidence(five))
    assert f["rx_chronic_drugs_12m"] == 5.0
    assert f["rx_polypharmacy_12m"] == 1.0
    old_fifth = (*five[:4], fill(CHRONIC_FIVE[4], 400))
    f = features(evidence(old_fifth))
    assert f["rx_chronic_drugs_12m"] == 4.0
    assert f["rx_polypharmacy_12m"] == 0.0
    acute = (*five[:4], fill("AMOXICILLIN", 10), fill("OXYCODONE", 10), fill("WIDGETAMINE", 10))
    assert features(evidence(acute))["rx_polypharmacy_12m"] == 0.0
    # The same drug twice, spelled differently, is one drug.
    twice = (*five[:4], fill("ATORVASTATIN CALCIUM", 20))
    assert features(evidence(twice))["rx_chronic_drugs_12m"] == 4.0


def test_severity_distinct_generics_and_sources_of_prescriptions() -> None:
    ev = evidence(
        (
            fill("ATORVASTATIN", 800, prescriber_id="P1", pharmacy_id="PH1"),
            fill("atorvastatin calcium", 30, prescriber_id="P1", pharmacy_id=""),
            fill("OXYCODONE", 500, prescriber_id="P2", prescriber_specialty="Orthopedic Surgery"),
            fill("WIDGETAMINE", 10, prescriber_id=None, prescriber_specialty="ORTHOPEDIC SURGERY "),
            fill("QUETIAPINE", 20, prescriber_id="P3", prescriber_specialty="Psychiatry"),
        )
    )
    f = features(ev)
    assert f["rx_distinct_generics"] == 4.0
    assert f["rx_distinct_generics_12m"] == 3.0
    assert f["rx_max_severity"] == 7.0
    assert f["rx_mean_severity"] == pytest.approx((3 + 6 + 7) / 3)  # unknown is not rated
    assert f["rx_max_severity_12m"] == 7.0
    assert f["rx_distinct_prescribers"] == 3.0
    assert f["rx_distinct_pharmacies"] == 1.0
    assert f["rx_distinct_specialties"] == 2.0
    assert f["rx_psychiatrist_antipsychotic"] == 1.0


def test_psychiatrist_flag_needs_an_antipsychotic_from_psychiatry() -> None:
    pcp = fill("QUETIAPINE", 20, prescriber_specialty="FAMILY MEDICINE")
    ssri = fill("SERTRALINE", 20, prescriber_specialty="PSYCHIATRIST")
    assert features(evidence((pcp, ssri)))["rx_psychiatrist_antipsychotic"] == 0.0
    child = fill("ARIPIPRAZOLE", None, prescriber_specialty="child and adolescent psychiatry")
    assert features(evidence((child,)))["rx_psychiatrist_antipsychotic"] == 1.0


# --- MIB -------------------------------------------------------------------------------------


def test_mib_categories_sources_dates_and_iai() -> None:
    hits = (
        MibHit(code="311CA", source="APS", date=ago(400)),
        MibHit(code="1AB", source="paramedical", date=ago(800)),
        MibHit(code="CODE1"),
        MibHit(code="XQ", category="Cardiovascular", source="EXAM", date=ago(100)),
        MibHit(code="XR", category="cardiac", source="Smoke signals"),
        MibHit(code="9LAB", source="LAB", date=ago(-30)),  # after as_of: ignored
    )
    f = features(evidence(hits=hits, iai=3))
    assert f["mib_hit"] == 1.0
    assert f["mib_codes"] == 5.0
    assert f["mib_cancer_codes"] == 1.0
    assert f["mib_cardiovascular_codes"] == 2.0  # 1AB and the reported category of XQ
    assert f["mib_unknown_codes"] == 2.0  # CODE1 and XR ("cardiac" is not riskscore's name)
    assert f["mib_build_lab_codes"] == 0.0
    assert f["mib_distinct_categories"] == 3.0
    assert f["mib_max_category_severity"] == 8.0
    assert f["mib_years_since_newest_code"] == pytest.approx(100 / 365.25)
    assert f["mib_codes_undated"] == 2.0
    assert f["mib_codes_24m"] == 2.0  # 400 and 100 days ago
    assert f["mib_source_aps_codes"] == 1.0
    assert f["mib_source_paramed_codes"] == 1.0
    assert f["mib_source_exam_codes"] == 1.0
    assert f["mib_source_other_codes"] == 1.0
    assert f["mib_source_lab_codes"] == 0.0
    assert f["mib_source_unreported_codes"] == 1.0
    assert f["mib_iai"] == 3.0
    assert f["mib_iai_missing"] == 0.0


def test_iai_is_reported_without_hits_and_zero_iai_is_not_missing() -> None:
    f = features(evidence(iai=0))
    assert f["mib_hit"] == 0.0
    assert f["mib_iai"] == 0.0
    assert f["mib_iai_missing"] == 0.0
    assert features(evidence(iai=-2))["mib_iai_missing"] == 1.0


def test_every_value_is_finite_on_a_busy_history() -> None:
    fills = tuple(
        fill(name, age, supply, strength_mg=5.0, quantity=30.0, prescriber_id=f"P{age % 3}")
        for age, (name, supply) in enumerate(
            [("OXYCODONE", 10), ("ALPRAZOLAM", 30), ("METFORMIN", 90), ("X", None)] * 12
        )
    )
    values = extract_values(evidence(fills, (MibHit(code="CODE1"),), 1), AS_OF)
    assert all(math.isfinite(v) for v in values)


def _kitchen_sink() -> PolicyEvidence:
    """Evidence that should move every column away from its no-hit value."""
    fills = [
        fill(cls.generic_name, 20 + i, 30, strength_mg=10.0, quantity=30.0, prescriber_id=f"P{i}")
        for i, cls in enumerate(DRUG_CLASSES)
    ]
    fills += [
        fill(cls.generic_name, 200 + i, 30, pharmacy_id="PH1", prescriber_specialty="PSYCHIATRY")
        for i, cls in enumerate(DRUG_CLASSES)
    ]
    fills += [
        fill("WIDGETAMINE", 15),
        fill("WIDGETAMINE", 300),
        fill("OXYCODONE", 25, None),  # MME not computable, overlaps a benzodiazepine, early
        fill("ALPRAZOLAM", 5),
        fill("ALPRAZOLAM", 40),
        fill("SERTRALINE", None),
    ]
    hits = [
        MibHit(code=f"{c.prefix}XX", source=src, date=ago(100 + i))
        for i, (c, src) in enumerate(zip(MIB_CATEGORIES, [*MIB_SOURCES] * 2, strict=False))
    ]
    hits += [MibHit(code="CODE1"), MibHit(code="6AB", source="LAB", date=ago(1000))]
    return evidence(tuple(fills), tuple(hits), iai=2)


def test_every_column_is_computed() -> None:
    empty, busy = features(evidence()), features(_kitchen_sink())
    dead = [name for name in SCHEMA.names if busy[name] == empty[name]]
    assert not dead, f"columns the extraction never sets: {dead}"
