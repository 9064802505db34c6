"""The lookup tables and the name matching the features rely on."""

from __future__ import annotations

import msgspec
import pytest

from riskscore.domain.features import tables
from riskscore.domain.features.tables import (
    DRUG_CLASSES,
    DRUG_GROUPS,
    MIB_CATEGORY_NAMES,
    UNKNOWN,
    lookup_drug,
    mib_category_index,
    mib_source_index,
    normalize_generic_name,
    resolve_drug,
)


def group_of(name: str) -> str:
    return DRUG_GROUPS[lookup_drug(name).group_index]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("metformin hcl er", "METFORMIN"),
        ("  Atorvastatin   Calcium ", "ATORVASTATIN"),
        ("METOPROLOL SUCCINATE ER", "METOPROLOL"),
        ("HYDROCODONE BITARTRATE/ACETAMINOPHEN", "ACETAMINOPHEN/HYDROCODONE"),
        ("acetaminophen / hydrocodone", "ACETAMINOPHEN/HYDROCODONE"),
        ("INSULIN GLARGINE", "INSULIN GLARGINE"),
        ("HCL", ""),
    ],
)
def test_normalize_generic_name(raw: str, normalized: str) -> None:
    assert normalize_generic_name(raw) == normalized


@pytest.mark.parametrize(
    ("raw", "group"),
    [
        ("METFORMIN", "diabetes_oral"),
        ("Levothyroxine Sodium", "thyroid"),
        ("LOSARTAN POTASSIUM", "ace_arb"),
        ("OXYCODONE HCL ER", "opioid"),
        ("ACETAMINOPHEN/HYDROCODONE BITARTRATE", "opioid"),
        ("OXYCODONE/ACETAMINOPHEN", "opioid"),  # not in the table: its gravest known ingredient
        ("FLUTICASONE PROPIONATE/SALMETEROL XINAFOATE", "bronchodilator"),
        ("MYCOPHENOLATE MOFETIL", "immune_suppressant"),
        ("WIDGETAMINE", UNKNOWN),
        ("", UNKNOWN),
        ("/", UNKNOWN),
    ],
)
def test_names_resolve_to_groups(raw: str, group: str) -> None:
    assert group_of(raw) == group


def test_every_table_row_resolves_to_its_own_group_and_key() -> None:
    for cls in DRUG_CLASSES:
        record = resolve_drug(cls.generic_name)
        assert DRUG_GROUPS[record.group_index] == cls.group
        assert record.severity == cls.severity
        assert record.key == normalize_generic_name(cls.generic_name)


def test_a_combination_keeps_its_own_identity_as_a_distinct_generic() -> None:
    combo = resolve_drug("OXYCODONE/ACETAMINOPHEN")
    assert combo.key == "ACETAMINOPHEN/OXYCODONE"
    assert combo.mme_factor == resolve_drug("OXYCODONE").mme_factor == 1.5


def test_unknown_drugs_are_unrated_and_not_chronic() -> None:
    record = resolve_drug("Widgetamine 5 mg")
    assert record.group_index == tables.UNKNOWN_GROUP_INDEX
    assert (record.severity, record.chronic, record.mme_factor) == (0, False, 0.0)


def test_only_fentanyl_is_rate_based_and_only_opioids_have_mme_factors() -> None:
    assert {c.generic_name for c in DRUG_CLASSES if c.mme_rate_basis} == {"FENTANYL"}
    assert {c.group for c in DRUG_CLASSES if c.mme_factor} == {"opioid"}
    assert all(c.mme_factor for c in DRUG_CLASSES if c.group == "opioid")


def test_table_values_are_in_range() -> None:
    assert all(1 <= c.severity <= 10 for c in DRUG_CLASSES)
    assert all(len(c.va_class) == 5 for c in DRUG_CLASSES)
    assert DRUG_GROUPS[-1] == UNKNOWN
    assert MIB_CATEGORY_NAMES[-1] == UNKNOWN


def test_lookup_cache_answers_like_resolve_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tables, "_DRUG_CACHE", {})
    monkeypatch.setattr(tables, "_DRUG_CACHE_LIMIT", 3)
    names = [f"DRUG{i}" for i in range(10)] + ["METFORMIN HCL"]
    for name in names:
        assert tables.lookup_drug(name) == resolve_drug(name)
    assert len(tables._DRUG_CACHE) == 3


@pytest.mark.parametrize(
    ("code", "reported", "category"),
    [
        ("311CA", None, "cancer"),
        ("1AB", "cancer", "cardiovascular"),  # the code's own mapping wins
        ("0ZZ", None, "other"),
        ("CODE1", None, UNKNOWN),
        ("CODE1", "Renal Hepatic", "renal_hepatic"),
        ("CODE1", "cardiac", UNKNOWN),
        ("", None, UNKNOWN),
    ],
)
def test_mib_codes_map_by_their_first_digit(code: str, reported: str | None, category: str) -> None:
    assert MIB_CATEGORY_NAMES[mib_category_index(code, reported)] == category


@pytest.mark.parametrize(
    ("source", "index"),
    [
        ("APS", 0),
        (" exam ", 1),
        ("Paramedical", 2),
        ("LAB", 4),
        ("carrier pigeon", 5),
        (None, -1),
        ("  ", -1),
    ],
)
def test_mib_sources(source: str | None, index: int) -> None:
    assert mib_source_index(source) == index


def test_tables_digest_ignores_comments_but_not_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = tables.tables_digest()
    assert digest == tables.tables_digest()
    changed = (msgspec.structs.replace(DRUG_CLASSES[0], severity=9),)
    monkeypatch.setattr(tables, "DRUG_CLASSES", changed + DRUG_CLASSES[1:])
    assert tables.tables_digest() != digest
