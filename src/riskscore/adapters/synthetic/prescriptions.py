"""From a latent person to pharmacy fills: therapy courses, fill patterns, prescribers and pharmacies.

Each treated condition starts one or more *courses* (a drug, a prescriber, a start and an end), more of
them and graver drugs at higher severity. A course becomes fills according to its kind:

- ``maintenance``: refilled every days-supply (30, or 90 for a share of non-controlled drugs) divided
  by the person's adherence: adherent people refill on time or slightly early, non-adherent people
  late, with occasional gaps of one to four months, and stop more often;
- ``controlled``: opioids and benzodiazepines, 30-day fills, no refills for schedule II; a "misuse"
  course refills early from several prescribers and pharmacies;
- ``prn``: as needed (rescue inhalers, antiviral episodes), at random intervals;
- ``burst``: a few short courses (steroid bursts);
- ``cycle``: chemotherapy cycles (14 days on, 7 off).

Everyone who is not a care avoider also has acute episodes (antibiotics, a short opioid after surgery,
an antihistamine...), at a rate growing with age and the number of conditions. The history covers the
five years before the as-of date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal

import msgspec

from riskscore.adapters.synthetic.catalog import drug_classes, fake_ndc, products
from riskscore.adapters.synthetic.latent import Behaviour, Person
from riskscore.adapters.synthetic.rng import Rng, Weighted

LOOKBACK_DAYS = 1826
"""The Rx history covers the five years before the as-of date."""
MAX_FILLS = 240
"""A report lists at most this many fills (the most recent), as vendors cap report size."""

Kind = Literal["maintenance", "controlled", "prn", "burst", "cycle"]

_SCHEDULE_II = frozenset(
    {"OXYCODONE", "HYDROCODONE/ACETAMINOPHEN", "MORPHINE", "FENTANYL", "HYDROMORPHONE"}
)


class Prescriber(msgspec.Struct, frozen=True, array_like=True):
    id: str
    specialty: str


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One pharmacy fill as the vendor would report it (before any document-style choices)."""

    generic_name: str
    brand_name: str | None
    ndc: str
    day: int
    """Fill date as a proleptic Gregorian ordinal (``date.toordinal``)."""
    days_supply: int
    quantity: float
    refills: int
    strength: str
    prescriber: Prescriber
    pharmacy_id: str


class Course(msgspec.Struct, kw_only=True):
    generic_name: str
    kind: Kind
    prescriber: Prescriber
    start: int
    end: int
    misuse: bool = False
    bursts: int = 0


class RxHistory(msgspec.Struct, frozen=True, kw_only=True):
    fills: tuple[Fill, ...]
    behaviour: Behaviour


_PCP_SPECIALTIES = Weighted(
    [
        ("FAMILY MEDICINE", 0.45),
        ("INTERNAL MEDICINE", 0.35),
        ("NURSE PRACTITIONER", 0.12),
        ("PHYSICIAN ASSISTANT", 0.08),
    ]
)

STATINS = ("ATORVASTATIN", "SIMVASTATIN", "ROSUVASTATIN", "PRAVASTATIN")
ACE_ARB = ("LISINOPRIL", "LOSARTAN", "ENALAPRIL", "RAMIPRIL", "VALSARTAN")
CCB = ("AMLODIPINE", "DILTIAZEM")
THIAZIDES = ("HYDROCHLOROTHIAZIDE", "CHLORTHALIDONE")
BETA_BLOCKERS = ("METOPROLOL", "ATENOLOL", "CARVEDILOL")
ANTICOAGULANTS = ("APIXABAN", "RIVAROXABAN", "WARFARIN")
LOOP_DIURETICS = ("FUROSEMIDE", "BUMETANIDE")
ORAL_DIABETES = ("GLIPIZIDE", "GLIMEPIRIDE", "SITAGLIPTIN", "PIOGLITAZONE", "EMPAGLIFLOZIN")
ANTIDEPRESSANTS = (
    "SERTRALINE",
    "FLUOXETINE",
    "CITALOPRAM",
    "ESCITALOPRAM",
    "BUPROPION",
    "VENLAFAXINE",
    "DULOXETINE",
)
BENZODIAZEPINES = ("ALPRAZOLAM", "LORAZEPAM", "CLONAZEPAM", "DIAZEPAM")
ANTIPSYCHOTICS = ("QUETIAPINE", "OLANZAPINE", "RISPERIDONE", "ARIPIPRAZOLE", "HALOPERIDOL")
OPIOIDS_BY_SEVERITY = (
    ("TRAMADOL", "HYDROCODONE/ACETAMINOPHEN"),
    ("HYDROCODONE/ACETAMINOPHEN", "OXYCODONE"),
    ("OXYCODONE", "MORPHINE", "HYDROMORPHONE", "FENTANYL"),
)
HORMONAL_CANCER = ("TAMOXIFEN", "ANASTROZOLE", "LETROZOLE")

# (generic, specialty or "PCP", kind, bursts)
Order = tuple[str, str, Kind, int]
Planner = Callable[[Rng, Person, int], list[Order]]


def _hypertension(rng: Rng, person: Person, sev: int) -> list[Order]:
    families = [ACE_ARB, CCB, THIAZIDES, BETA_BLOCKERS]
    first = ACE_ARB if rng.chance(0.6) else rng.choice(families)
    rest = rng.sample([f for f in families if f is not first], sev)
    doctor = "CARDIOLOGY" if sev == 2 and rng.chance(0.3) else "PCP"
    return [(rng.choice(f), doctor, "maintenance", 0) for f in [first, *rest]]


def _hyperlipidemia(rng: Rng, person: Person, sev: int) -> list[Order]:
    orders: list[Order] = [(rng.choice(STATINS), "PCP", "maintenance", 0)]
    if sev == 2:
        orders.append(("EZETIMIBE", "PCP", "maintenance", 0))
    return orders


def _diabetes(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "ENDOCRINOLOGY" if sev == 2 and rng.chance(0.6) else "PCP"
    first = "METFORMIN" if rng.chance(0.9) else "SITAGLIPTIN"
    orders: list[Order] = [(first, "PCP", "maintenance", 0)]
    if sev >= 1:
        second = rng.choice([d for d in ORAL_DIABETES if d != first])
        orders.append((second, "PCP", "maintenance", 0))
    if sev == 2:
        orders.append(("INSULIN GLARGINE", doctor, "maintenance", 0))
        if rng.chance(0.5):
            orders.append(
                (rng.choice(("INSULIN LISPRO", "INSULIN ASPART")), doctor, "maintenance", 0)
            )
    return orders


def _hypothyroidism(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "ENDOCRINOLOGY" if rng.chance(0.2) else "PCP"
    return [("LEVOTHYROXINE", doctor, "maintenance", 0)]


def _heart_disease(rng: Rng, person: Person, sev: int) -> list[Order]:
    orders: list[Order] = [
        (rng.choice(STATINS), "CARDIOLOGY", "maintenance", 0),
        (rng.choice(BETA_BLOCKERS), "CARDIOLOGY", "maintenance", 0),
    ]
    if sev >= 1 and rng.chance(0.6):
        orders.append((rng.choice(ANTICOAGULANTS), "CARDIOLOGY", "maintenance", 0))
    if sev == 2 or (sev == 1 and rng.chance(0.5)):
        orders.append((rng.choice(ACE_ARB), "CARDIOLOGY", "maintenance", 0))
    if sev == 2:
        orders.append((rng.choice(LOOP_DIURETICS), "CARDIOLOGY", "maintenance", 0))
    return orders


def _kidney_disease(rng: Rng, person: Person, sev: int) -> list[Order]:
    orders: list[Order] = []
    if rng.chance(0.7):
        orders.append((rng.choice(ACE_ARB), "NEPHROLOGY", "maintenance", 0))
    if sev >= 1 or not orders:
        orders.append((rng.choice(LOOP_DIURETICS), "NEPHROLOGY", "maintenance", 0))
    return orders


def _copd_asthma(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "PULMONARY DISEASE" if sev == 2 else "PCP"
    orders: list[Order] = [("ALBUTEROL", doctor, "prn", 0)]
    if sev >= 1:
        controller = "SALMETEROL/FLUTICASONE" if rng.chance(0.55) else "TIOTROPIUM"
        orders.append((controller, doctor, "maintenance", 0))
    bursts = rng.poisson(0.5 + sev)
    if bursts:
        orders.append(("PREDNISONE", doctor, "burst", bursts))
    return orders


def _depression_anxiety(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "PSYCHIATRY" if sev == 2 and rng.chance(0.6) else "PCP"
    orders: list[Order] = [(rng.choice(ANTIDEPRESSANTS), doctor, "maintenance", 0)]
    if sev >= 1 and rng.chance(0.35):
        orders.append(("TRAZODONE", doctor, "maintenance", 0))
    if rng.chance(0.12 + 0.12 * sev):
        orders.append((rng.choice(BENZODIAZEPINES), doctor, "controlled", 0))
    return orders


def _serious_mental_illness(rng: Rng, person: Person, sev: int) -> list[Order]:
    orders: list[Order] = [(rng.choice(ANTIPSYCHOTICS), "PSYCHIATRY", "maintenance", 0)]
    if rng.chance(0.5):
        orders.append((rng.choice(ANTIDEPRESSANTS), "PSYCHIATRY", "maintenance", 0))
    if rng.chance(0.3):
        orders.append((rng.choice(BENZODIAZEPINES), "PSYCHIATRY", "controlled", 0))
    return orders


def _chronic_pain(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "PAIN MEDICINE" if rng.chance(0.3 + 0.2 * sev) else "PCP"
    orders: list[Order] = [(rng.choice(OPIOIDS_BY_SEVERITY[sev]), doctor, "controlled", 0)]
    if rng.chance(0.4):
        orders.append(("IBUPROFEN", "PCP", "prn", 0))
    if rng.chance(0.15):
        orders.append((rng.choice(BENZODIAZEPINES), "PCP", "controlled", 0))
    return orders


def _substance_use(rng: Rng, person: Person, sev: int) -> list[Order]:
    orders: list[Order] = []
    if rng.chance(0.3):
        orders.append((rng.choice(("LORAZEPAM", "DIAZEPAM")), "PSYCHIATRY", "burst", 1))
    if rng.chance(0.4):
        orders.append((rng.choice(ANTIDEPRESSANTS), "PSYCHIATRY", "maintenance", 0))
    return orders


def _neurological(rng: Rng, person: Person, sev: int) -> list[Order]:
    if sev >= 1 and rng.chance(0.6):
        return [(rng.choice(ANTICOAGULANTS), "NEUROLOGY", "maintenance", 0)]
    return []


def _cancer(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "HEMATOLOGY/ONCOLOGY"
    orders: list[Order] = []
    if person.female and sev <= 1 and rng.chance(0.7):
        orders.append((rng.choice(HORMONAL_CANCER), doctor, "maintenance", 0))
    if sev == 2 or (sev == 1 and not orders):
        orders.append(("CAPECITABINE", doctor, "cycle", 0))
    if sev == 2:
        if rng.chance(0.6):
            orders.append((rng.choice(("OXYCODONE", "MORPHINE")), doctor, "controlled", 0))
        orders.append(("METHYLPREDNISOLONE", doctor, "burst", 1 + rng.poisson(1.0)))
    return orders


def _hiv(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "INFECTIOUS DISEASE"
    if rng.chance(0.6):
        orders: list[Order] = [("BICTEGRAVIR/EMTRICITABINE/TENOFOVIR", doctor, "maintenance", 0)]
    else:
        orders = [
            ("EMTRICITABINE/TENOFOVIR", doctor, "maintenance", 0),
            ("DOLUTEGRAVIR", doctor, "maintenance", 0),
        ]
    if rng.chance(0.3):
        orders.append(("VALACYCLOVIR", doctor, "prn", 0))
    return orders


def _transplant(rng: Rng, person: Person, sev: int) -> list[Order]:
    doctor = "NEPHROLOGY" if rng.chance(0.6) else "TRANSPLANT SURGERY"
    orders: list[Order] = [
        ("TACROLIMUS" if rng.chance(0.8) else "CYCLOSPORINE", doctor, "maintenance", 0),
        ("MYCOPHENOLATE", doctor, "maintenance", 0),
        ("PREDNISONE", doctor, "maintenance", 0),
    ]
    if rng.chance(0.5):
        orders.append(("VALACYCLOVIR", doctor, "maintenance", 0))
    return orders


PLANNERS: dict[str, Planner] = {
    "hypertension": _hypertension,
    "hyperlipidemia": _hyperlipidemia,
    "diabetes": _diabetes,
    "hypothyroidism": _hypothyroidism,
    "heart_disease": _heart_disease,
    "kidney_disease": _kidney_disease,
    "copd_asthma": _copd_asthma,
    "depression_anxiety": _depression_anxiety,
    "serious_mental_illness": _serious_mental_illness,
    "chronic_pain": _chronic_pain,
    "substance_use": _substance_use,
    "neurological": _neurological,
    "cancer": _cancer,
    "hiv": _hiv,
    "transplant": _transplant,
}
"""Conditions not listed (obesity) never show in the Rx history."""

# Acute episodes: (generic choices, specialty choices, fills (low, high), days supply (low, high)).
_ACUTE = Weighted(
    [
        (
            (
                ("AMOXICILLIN", "AZITHROMYCIN", "CEPHALEXIN"),
                ("PCP", "URGENT CARE", "DENTISTRY"),
                (1, 1),
                (5, 10),
            ),
            0.42,
        ),
        ((("OMEPRAZOLE",), ("PCP",), (1, 3), (30, 30)), 0.12),
        ((("IBUPROFEN",), ("PCP", "URGENT CARE", "ORTHOPAEDIC SURGERY"), (1, 1), (10, 30)), 0.1),
        ((("CETIRIZINE",), ("PCP",), (1, 2), (30, 30)), 0.07),
        ((("PREDNISONE", "METHYLPREDNISOLONE"), ("PCP", "URGENT CARE"), (1, 1), (5, 10)), 0.09),
        ((("VALACYCLOVIR",), ("PCP", "DERMATOLOGY"), (1, 1), (5, 10)), 0.05),
        (
            (
                ("HYDROCODONE/ACETAMINOPHEN", "OXYCODONE", "TRAMADOL"),
                ("ORTHOPAEDIC SURGERY", "DENTISTRY", "GENERAL SURGERY", "EMERGENCY MEDICINE"),
                (1, 2),
                (3, 7),
            ),
            0.15,
        ),
    ]
)


class _People:
    """The prescribers and pharmacies of one person."""

    def __init__(self, rng: Rng) -> None:
        self._rng = rng
        self.pcp = Prescriber(self.new_prescriber_id(), rng.weighted(_PCP_SPECIALTIES))
        self._specialists: dict[str, Prescriber] = {}
        self.pharmacy = self.new_pharmacy_id("PH")
        self.second_pharmacy = self.new_pharmacy_id("PH") if rng.chance(0.35) else self.pharmacy
        self.mail_order = self.new_pharmacy_id("MO") if rng.chance(0.4) else None

    def new_prescriber_id(self) -> str:
        return f"P{self._rng.integer(1_000_000, 9_999_999)}"

    def new_pharmacy_id(self, prefix: str) -> str:
        return f"{prefix}{self._rng.integer(100_000, 999_999)}"

    def prescriber(self, specialty: str) -> Prescriber:
        if specialty == "PCP":
            return self.pcp
        found = self._specialists.get(specialty)
        if found is None:
            found = Prescriber(self.new_prescriber_id(), specialty)
            self._specialists[specialty] = found
        return found

    def pharmacy_for(self, days_supply: int) -> str:
        if days_supply >= 90 and self.mail_order is not None:
            return self.mail_order
        return self.pharmacy if self._rng.chance(0.85) else self.second_pharmacy


class _Dispenser:
    """Turns courses into fills for one person (one product per course, as pharmacies do)."""

    def __init__(self, rng: Rng, person: Person, people: _People, window_start: int, today: int):
        self.rng = rng
        self.person = person
        self.people = people
        self.window_start = window_start
        self.today = today
        self.fills: list[Fill] = []
        self._products = products()

    def _fill(
        self,
        generic: str,
        strength: str,
        brand: bool,
        day: int,
        days_supply: int,
        refills: int,
        prescriber: Prescriber,
        pharmacy: str,
    ) -> None:
        if not self.window_start <= day < self.today:
            return
        product = self._products[generic]
        quantity = round(product.units_per_day * days_supply, 1)
        self.fills.append(
            Fill(
                generic_name=generic,
                brand_name=product.brand_name if brand else None,
                ndc=fake_ndc(generic, strength, brand),
                day=day,
                days_supply=days_supply,
                quantity=float(max(1.0, quantity)),
                refills=refills,
                strength=strength,
                prescriber=prescriber,
                pharmacy_id=pharmacy,
            )
        )

    def _product_choice(self, generic: str) -> tuple[str, bool]:
        strengths = self._products[generic].strengths
        return self.rng.choice(strengths), self.rng.chance(0.2)

    def course(self, course: Course) -> None:
        if course.kind in ("maintenance", "controlled"):
            self._repeating(course)
        elif course.kind == "prn":
            self._prn(course)
        elif course.kind == "burst":
            self._bursts(course)
        else:
            self._cycles(course)

    def _repeating(self, course: Course) -> None:
        rng, person = self.rng, self.person
        strength, brand = self._product_choice(course.generic_name)
        controlled = course.kind == "controlled"
        long_fill = not controlled and rng.chance(0.25 + 0.005 * (person.age - 45))
        days_supply = 90 if long_fill else 30
        if course.generic_name in _SCHEDULE_II:
            script_refills = 0
        elif controlled:
            script_refills = 5
        else:
            script_refills = 3 if long_fill else 11
        refills = script_refills
        prescribers = [course.prescriber]
        pharmacies = [self.people.pharmacy_for(days_supply)]
        if course.misuse:
            prescribers += [
                Prescriber(
                    self.people.new_prescriber_id(),
                    rng.choice(("FAMILY MEDICINE", "EMERGENCY MEDICINE", "PAIN MEDICINE")),
                )
                for _ in range(rng.integer(1, 3))
            ]
            pharmacies += [self.people.new_pharmacy_id("PH") for _ in range(rng.integer(1, 3))]
        day = course.start
        while day < course.end:
            prescriber = rng.choice(prescribers) if course.misuse else course.prescriber
            pharmacy = rng.choice(pharmacies) if course.misuse else pharmacies[0]
            self._fill(
                course.generic_name,
                strength,
                brand,
                day,
                days_supply,
                refills,
                prescriber,
                pharmacy,
            )
            refills = refills - 1 if refills > 0 else script_refills
            if course.misuse and rng.chance(0.5):
                factor = rng.uniform(0.6, 0.9)
            elif person.adherent:
                factor = rng.uniform(0.75, 0.9) if rng.chance(0.06) else rng.uniform(0.95, 1.12)
            else:
                factor = rng.uniform(1.05, 1.7)
                if rng.chance(0.1):
                    factor += rng.uniform(30, 120) / days_supply
            day += max(1, round(days_supply * factor))

    def _one_off(self, course: Course, strength: str, brand: bool, day: int, supply: int) -> None:
        """A fill without refills from the course's prescriber (as-needed, burst, cycle)."""
        pharmacy = self.people.pharmacy_for(supply)
        self._fill(
            course.generic_name, strength, brand, day, supply, 0, course.prescriber, pharmacy
        )

    def _prn(self, course: Course) -> None:
        rng = self.rng
        strength, brand = self._product_choice(course.generic_name)
        mean_gap = 45.0 if self.person.conditions.get("copd_asthma", 0) == 2 else 110.0
        day = course.start + round(rng.uniform(0, 60))
        while day < course.end:
            days_supply = 30 if course.generic_name == "ALBUTEROL" else rng.integer(5, 30)
            self._one_off(course, strength, brand, day, days_supply)
            day += 7 + round(rng.exponential(mean_gap))

    def _bursts(self, course: Course) -> None:
        rng = self.rng
        for _ in range(course.bursts):
            strength, brand = self._product_choice(course.generic_name)
            day = rng.integer(course.start, max(course.start, course.end - 1))
            days_supply = rng.integer(5, 14)
            self._one_off(course, strength, brand, day, days_supply)

    def _cycles(self, course: Course) -> None:
        rng = self.rng
        strength, brand = self._product_choice(course.generic_name)
        cycles = rng.integer(4, 8)
        first = max(course.start, self.today - rng.integer(cycles * 21, 700))
        for k in range(cycles):
            self._one_off(course, strength, brand, first + 21 * k, 14)

    def acute(self, n_conditions: int) -> None:
        rng = self.rng
        episodes = rng.poisson(max(0.2, 0.9 + 0.3 * n_conditions + 0.01 * (self.person.age - 45)))
        for _ in range(episodes):
            generics, specialties, (lo_fills, hi_fills), (lo_ds, hi_ds) = rng.weighted(_ACUTE)
            generic = rng.choice(generics)
            strength, brand = self._product_choice(generic)
            prescriber = self.people.prescriber(rng.choice(specialties))
            day = rng.integer(self.window_start, self.today - 1)
            for _ in range(rng.integer(lo_fills, hi_fills)):
                days_supply = rng.integer(lo_ds, hi_ds)
                pharmacy = self.people.pharmacy_for(days_supply)
                self._fill(generic, strength, brand, day, days_supply, 0, prescriber, pharmacy)
                day += days_supply + rng.integer(0, 10)


def _therapy_days(rng: Rng) -> int:
    return min(2200, 60 + round(rng.exponential(800.0)))


def plan_courses(rng: Rng, person: Person, people: _People, today: int) -> list[Course]:
    """The courses of therapy for the person's treated conditions, in condition-table order."""
    courses: list[Course] = []
    planned: set[str] = set()
    misuse_chance = 0.05 + 0.08 * person.conditions.get("chronic_pain", 0)
    if "substance_use" in person.conditions:
        misuse_chance += 0.15
    for name, severity in person.conditions.items():
        planner = PLANNERS.get(name)
        if planner is None or name not in person.treated:
            continue
        duration = _therapy_days(rng)
        onset = today - duration
        for i, (generic, specialty, kind, bursts) in enumerate(planner(rng, person, severity)):
            if generic in planned:
                continue
            planned.add(generic)
            start = onset if i == 0 else onset + round(rng.uniform(0.0, 0.6) * duration)
            end = today
            stop_chance = 0.1 if person.adherent else 0.25
            if kind in ("maintenance", "controlled") and rng.chance(stop_chance):
                end = start + round(rng.uniform(0.3, 0.9) * (today - start))
            misuse = (
                kind == "controlled"
                and drug_classes()[generic].group == "opioid"
                and rng.chance(misuse_chance)
            )
            courses.append(
                Course(
                    generic_name=generic,
                    kind=kind,
                    prescriber=people.prescriber(specialty),
                    start=start,
                    end=end,
                    misuse=misuse,
                    bursts=bursts,
                )
            )
    return courses


def _spans(fills: list[Fill], generics: set[str]) -> dict[str, tuple[int, int]]:
    """generic -> (first fill day, last day covered), over the fills of the given generics."""
    spans: dict[str, tuple[int, int]] = {}
    for f in fills:
        if f.generic_name in generics:
            first, last = spans.get(f.generic_name, (f.day, f.day))
            spans[f.generic_name] = (min(first, f.day), max(last, f.day + f.days_supply))
    return spans


def _behaviour(courses: list[Course], fills: list[Fill], today: int) -> Behaviour:
    """What the visible history says, judged from the fills inside the window (not the plan)."""
    classes = drug_classes()
    controlled = [c for c in courses if c.kind == "controlled"]
    opioids = {c.generic_name for c in controlled if classes[c.generic_name].group == "opioid"}
    benzos = {
        c.generic_name for c in controlled if classes[c.generic_name].group == "benzodiazepine"
    }
    misused = {c.generic_name for c in controlled if c.misuse}
    spans = _spans(fills, opioids | benzos)
    opioid_spans = [s for g, s in spans.items() if g in opioids]
    benzo_spans = [s for g, s in spans.items() if g in benzos]
    recent_chronic = {
        f.generic_name for f in fills if f.day >= today - 365 and classes[f.generic_name].chronic
    }
    return Behaviour(
        rx_hit=bool(fills),
        on_maintenance=any(classes[f.generic_name].chronic for f in fills),
        opioid_benzo=any(
            min(o[1], b[1]) - max(o[0], b[0]) >= 30 for o in opioid_spans for b in benzo_spans
        ),
        opioid_misuse=any(g in misused for g in spans),
        polypharmacy=len(recent_chronic) >= 5,
    )


def rx_history(rng: Rng, person: Person, as_of: dt.date) -> RxHistory:
    today = as_of.toordinal()
    window_start = today - LOOKBACK_DAYS
    people = _People(rng)
    courses = plan_courses(rng, person, people, today)
    dispenser = _Dispenser(rng, person, people, window_start, today)
    for course in courses:
        dispenser.course(course)
    if not person.care_avoider:
        dispenser.acute(len(person.conditions))
    fills = sorted(dispenser.fills, key=lambda f: (f.day, f.generic_name))[-MAX_FILLS:]
    return RxHistory(fills=tuple(fills), behaviour=_behaviour(courses, fills, today))
