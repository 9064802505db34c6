"""The drug products and MIB code families the generator draws from.

Generic names come only from riskscore's shipped table ``riskscore.domain.features/data/drug_classes.csv``
(so the feature code knows every drug the generator writes); brand names, strengths, daily quantities
and NDCs are the generator's own inventions (documented in docs/synthetic-data.md). NDCs are fake:
11 digits derived from a CRC of the product, stable across runs, with no relation to real labelers.
"""

from __future__ import annotations

import zlib
from functools import cache

import msgspec

from riskscore.domain.features.tables import DRUG_CLASSES, MIB_CATEGORIES, DrugClass


class Product(msgspec.Struct, frozen=True, kw_only=True):
    """A dispensable product: what a pharmacy fill names."""

    generic_name: str
    brand_name: str
    strengths: tuple[str, ...]
    units_per_day: float
    salt: str | None = None  # e.g. "HCL": some feeds append it to the generic name


@cache
def drug_classes() -> dict[str, DrugClass]:
    """generic name -> class row, from the shipped table."""
    return {c.generic_name: c for c in DRUG_CLASSES}


@cache
def mib_category_names() -> dict[str, str]:
    """first code digit -> category name, from the shipped table."""
    return {c.prefix: c.category for c in MIB_CATEGORIES}


# generic name, brand name, strengths, units per day, salt suffix some feeds append.
_PRODUCTS: tuple[tuple[str, str, tuple[str, ...], float, str | None], ...] = (
    ("ATORVASTATIN", "LIPITOR", ("10 MG", "20 MG", "40 MG", "80 MG"), 1, "CALCIUM"),
    ("SIMVASTATIN", "ZOCOR", ("20 MG", "40 MG"), 1, None),
    ("ROSUVASTATIN", "CRESTOR", ("5 MG", "10 MG", "20 MG"), 1, "CALCIUM"),
    ("PRAVASTATIN", "PRAVACHOL", ("20 MG", "40 MG"), 1, "SODIUM"),
    ("EZETIMIBE", "ZETIA", ("10 MG",), 1, None),
    ("METFORMIN", "GLUCOPHAGE", ("500 MG", "850 MG", "1000 MG"), 2, "HCL"),
    ("GLIPIZIDE", "GLUCOTROL", ("5 MG", "10 MG"), 1, None),
    ("GLIMEPIRIDE", "AMARYL", ("2 MG", "4 MG"), 1, None),
    ("SITAGLIPTIN", "JANUVIA", ("50 MG", "100 MG"), 1, None),
    ("PIOGLITAZONE", "ACTOS", ("15 MG", "30 MG"), 1, "HCL"),
    ("EMPAGLIFLOZIN", "JARDIANCE", ("10 MG", "25 MG"), 1, None),
    ("INSULIN GLARGINE", "LANTUS", ("100 UNIT/ML",), 0.5, None),
    ("INSULIN LISPRO", "HUMALOG", ("100 UNIT/ML",), 0.5, None),
    ("INSULIN ASPART", "NOVOLOG", ("100 UNIT/ML",), 0.5, None),
    ("OXYCODONE", "ROXICODONE", ("5 MG", "10 MG", "15 MG", "30 MG"), 4, "HCL"),
    ("HYDROCODONE/ACETAMINOPHEN", "NORCO", ("5-325 MG", "7.5-325 MG", "10-325 MG"), 4, None),
    ("MORPHINE", "MS CONTIN", ("15 MG", "30 MG", "60 MG"), 2, "SULFATE"),
    ("TRAMADOL", "ULTRAM", ("50 MG",), 4, "HCL"),
    ("FENTANYL", "DURAGESIC", ("12 MCG/HR", "25 MCG/HR", "50 MCG/HR"), 1 / 3, None),
    ("HYDROMORPHONE", "DILAUDID", ("2 MG", "4 MG"), 4, "HCL"),
    ("ALPRAZOLAM", "XANAX", ("0.25 MG", "0.5 MG", "1 MG"), 2, None),
    ("LORAZEPAM", "ATIVAN", ("0.5 MG", "1 MG"), 2, None),
    ("CLONAZEPAM", "KLONOPIN", ("0.5 MG", "1 MG"), 2, None),
    ("DIAZEPAM", "VALIUM", ("5 MG", "10 MG"), 2, None),
    ("QUETIAPINE", "SEROQUEL", ("25 MG", "100 MG", "300 MG"), 1, "FUMARATE"),
    ("OLANZAPINE", "ZYPREXA", ("5 MG", "10 MG", "20 MG"), 1, None),
    ("RISPERIDONE", "RISPERDAL", ("1 MG", "2 MG", "4 MG"), 1, None),
    ("ARIPIPRAZOLE", "ABILIFY", ("5 MG", "10 MG", "15 MG"), 1, None),
    ("HALOPERIDOL", "HALDOL", ("2 MG", "5 MG"), 2, None),
    ("SERTRALINE", "ZOLOFT", ("50 MG", "100 MG"), 1, "HCL"),
    ("FLUOXETINE", "PROZAC", ("20 MG", "40 MG"), 1, "HCL"),
    ("CITALOPRAM", "CELEXA", ("20 MG", "40 MG"), 1, "HBR"),
    ("ESCITALOPRAM", "LEXAPRO", ("10 MG", "20 MG"), 1, "OXALATE"),
    ("BUPROPION", "WELLBUTRIN XL", ("150 MG", "300 MG"), 1, "HCL"),
    ("TRAZODONE", "DESYREL", ("50 MG", "100 MG"), 1, "HCL"),
    ("VENLAFAXINE", "EFFEXOR XR", ("75 MG", "150 MG"), 1, "HCL"),
    ("DULOXETINE", "CYMBALTA", ("30 MG", "60 MG"), 1, "HCL"),
    ("WARFARIN", "COUMADIN", ("2 MG", "5 MG"), 1, "SODIUM"),
    ("APIXABAN", "ELIQUIS", ("2.5 MG", "5 MG"), 2, None),
    ("RIVAROXABAN", "XARELTO", ("15 MG", "20 MG"), 1, None),
    ("TAMOXIFEN", "SOLTAMOX", ("20 MG",), 1, "CITRATE"),
    ("ANASTROZOLE", "ARIMIDEX", ("1 MG",), 1, None),
    ("LETROZOLE", "FEMARA", ("2.5 MG",), 1, None),
    ("CAPECITABINE", "XELODA", ("150 MG", "500 MG"), 6, None),
    ("EMTRICITABINE/TENOFOVIR", "TRUVADA", ("200-300 MG",), 1, None),
    ("DOLUTEGRAVIR", "TIVICAY", ("50 MG",), 1, "SODIUM"),
    ("BICTEGRAVIR/EMTRICITABINE/TENOFOVIR", "BIKTARVY", ("50-200-25 MG",), 1, None),
    ("VALACYCLOVIR", "VALTREX", ("500 MG", "1000 MG"), 2, "HCL"),
    ("METOPROLOL", "TOPROL XL", ("25 MG", "50 MG", "100 MG"), 1, "SUCCINATE"),
    ("CARVEDILOL", "COREG", ("6.25 MG", "12.5 MG", "25 MG"), 2, None),
    ("ATENOLOL", "TENORMIN", ("25 MG", "50 MG"), 1, None),
    ("LISINOPRIL", "ZESTRIL", ("10 MG", "20 MG", "40 MG"), 1, None),
    ("ENALAPRIL", "VASOTEC", ("10 MG", "20 MG"), 1, "MALEATE"),
    ("RAMIPRIL", "ALTACE", ("5 MG", "10 MG"), 1, None),
    ("LOSARTAN", "COZAAR", ("25 MG", "50 MG", "100 MG"), 1, "POTASSIUM"),
    ("VALSARTAN", "DIOVAN", ("80 MG", "160 MG"), 1, None),
    ("AMLODIPINE", "NORVASC", ("5 MG", "10 MG"), 1, "BESYLATE"),
    ("DILTIAZEM", "CARDIZEM CD", ("120 MG", "240 MG"), 1, "HCL"),
    ("HYDROCHLOROTHIAZIDE", "MICROZIDE", ("12.5 MG", "25 MG"), 1, None),
    ("CHLORTHALIDONE", "THALITONE", ("25 MG",), 1, None),
    ("FUROSEMIDE", "LASIX", ("20 MG", "40 MG", "80 MG"), 1, None),
    ("BUMETANIDE", "BUMEX", ("1 MG", "2 MG"), 1, None),
    ("ALBUTEROL", "PROAIR HFA", ("90 MCG",), 0.3, "SULFATE"),
    ("SALMETEROL/FLUTICASONE", "ADVAIR DISKUS", ("250-50 MCG", "500-50 MCG"), 2, None),
    ("TIOTROPIUM", "SPIRIVA", ("18 MCG",), 1, "BROMIDE"),
    ("LEVOTHYROXINE", "SYNTHROID", ("50 MCG", "75 MCG", "100 MCG"), 1, "SODIUM"),
    ("PREDNISONE", "DELTASONE", ("5 MG", "10 MG", "20 MG"), 1, None),
    ("METHYLPREDNISOLONE", "MEDROL", ("4 MG",), 3, None),
    ("TACROLIMUS", "PROGRAF", ("1 MG", "5 MG"), 2, None),
    ("MYCOPHENOLATE", "CELLCEPT", ("500 MG",), 4, "MOFETIL"),
    ("CYCLOSPORINE", "NEORAL", ("100 MG",), 2, None),
    ("AMOXICILLIN", "AMOXIL", ("500 MG", "875 MG"), 2, None),
    ("AZITHROMYCIN", "ZITHROMAX", ("250 MG",), 1.2, None),
    ("CEPHALEXIN", "KEFLEX", ("500 MG",), 4, None),
    ("OMEPRAZOLE", "PRILOSEC", ("20 MG", "40 MG"), 1, None),
    ("IBUPROFEN", "MOTRIN", ("600 MG", "800 MG"), 3, None),
    ("CETIRIZINE", "ZYRTEC", ("10 MG",), 1, "HCL"),
)


@cache
def products() -> dict[str, Product]:
    """generic name -> product. Fails loudly if a product is not in the shipped class table."""
    classes = drug_classes()
    table: dict[str, Product] = {}
    for generic, brand, strengths, per_day, salt in _PRODUCTS:
        if generic not in classes:
            raise LookupError(f"{generic} is not in drug_classes.csv")
        table[generic] = Product(
            generic_name=generic,
            brand_name=brand,
            strengths=strengths,
            units_per_day=per_day,
            salt=salt,
        )
    return table


@cache
def fake_ndc(generic: str, strength: str, brand: bool) -> str:
    """An 11-digit NDC-shaped identifier, stable for a product; not a real NDC."""
    crc = zlib.crc32(f"{generic}|{strength}|{int(brand)}".encode())
    return f"{crc % 10**11:011d}"
