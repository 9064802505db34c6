"""The latent person behind a synthetic application, and the true probability of the outcome.

Everything here is riskscore's own invention, tuned to look plausible, not fitted to real data. The
coefficients are documented in docs/synthetic-data.md (``python -m riskscore.adapters.synthetic.calibrate
--markdown`` prints the tables the document quotes, so the two cannot drift apart unnoticed).

A person has an age, a sex, three latent traits (a metabolic factor, a psychological factor, smoking),
behaviour flags (care avoidance, adherence, insurance "stacking") and a set of chronic conditions, each
with a severity 0 (mild), 1 (moderate) or 2 (severe). A condition's prevalence is logistic in age, the
traits and the conditions drawn before it, which makes conditions cluster the way they do in life
(diabetes with hypertension, heart disease after both, depression with chronic pain).

The outcome is an adverse event (death or a serious claim) within five years of the as-of date:
``label ~ Bernoulli(sigmoid(eta))`` where ``eta`` is the linear predictor of ``outcome_logit``.
"""

from __future__ import annotations

import math

import msgspec

from riskscore.adapters.synthetic.rng import Rng


class Condition(msgspec.Struct, frozen=True, kw_only=True):
    """A chronic condition: how common it is and how much it raises the risk of the outcome.

    Prevalence: ``sigmoid(intercept + age_per_decade * (age - 45) / 10 + metabolic * M + psych * P
    + smoker * S + female * F + sum(after[c] for earlier conditions c the person has))``.
    """

    name: str
    intercept: float
    age_per_decade: float = 0.0
    metabolic: float = 0.0
    psych: float = 0.0
    smoker: float = 0.0
    female: float = 0.0
    after: tuple[tuple[str, float], ...] = ()
    treated: float = 0.85
    """Chance the condition shows in the Rx history at all (care avoiders are never treated)."""
    outcome: float
    """Log-odds the condition adds to the outcome at severity 0."""
    outcome_per_severity: float
    """Log-odds added per severity step (severity 2 adds twice this)."""
    mib_digit: str
    """First digit of its MIB codes: the category in mib_categories.csv."""
    mib_chance: float
    """Chance of an MIB code at severity 0 (grows with severity, age and stacking)."""


CONDITIONS: tuple[Condition, ...] = (
    Condition(name="obesity", intercept=-1.9, age_per_decade=0.1, metabolic=0.9,
              treated=0.0, outcome=0.35, outcome_per_severity=0.3, mib_digit="9", mib_chance=0.12),
    Condition(name="hypertension", intercept=-1.5, age_per_decade=0.55, metabolic=0.7,
              after=(("obesity", 0.6),), treated=0.85,
              outcome=0.3, outcome_per_severity=0.3, mib_digit="1", mib_chance=0.08),
    Condition(name="hyperlipidemia", intercept=-1.7, age_per_decade=0.5, metabolic=0.6,
              treated=0.8, outcome=0.15, outcome_per_severity=0.15, mib_digit="9", mib_chance=0.05),
    Condition(name="diabetes", intercept=-3.1, age_per_decade=0.45, metabolic=0.9,
              after=(("obesity", 0.8),), treated=0.9,
              outcome=0.65, outcome_per_severity=0.5, mib_digit="2", mib_chance=0.2),
    Condition(name="hypothyroidism", intercept=-3.4, age_per_decade=0.3, female=1.2,
              treated=0.95, outcome=0, outcome_per_severity=0.05, mib_digit="2", mib_chance=0.03),
    Condition(name="heart_disease", intercept=-4.0, age_per_decade=0.75, metabolic=0.4,
              smoker=0.8, female=-0.5,
              after=(("hypertension", 0.5), ("hyperlipidemia", 0.3), ("diabetes", 0.6)),
              treated=0.9, outcome=1.25, outcome_per_severity=0.65, mib_digit="1", mib_chance=0.3),
    Condition(name="kidney_disease", intercept=-4.9, age_per_decade=0.6,
              after=(("hypertension", 0.7), ("diabetes", 0.9)), treated=0.8,
              outcome=1.1, outcome_per_severity=0.55, mib_digit="7", mib_chance=0.2),
    Condition(name="copd_asthma", intercept=-3.1, age_per_decade=0.15, smoker=1.6,
              treated=0.85, outcome=0.65, outcome_per_severity=0.55, mib_digit="6", mib_chance=0.12),
    Condition(name="depression_anxiety", intercept=-2.2, age_per_decade=-0.05, psych=1.0,
              female=0.5, treated=0.75, outcome=0.35, outcome_per_severity=0.3,
              mib_digit="4", mib_chance=0.08),
    Condition(name="serious_mental_illness", intercept=-4.8, age_per_decade=-0.15, psych=1.3,
              after=(("depression_anxiety", 0.8),), treated=0.85,
              outcome=1.25, outcome_per_severity=0.4, mib_digit="4", mib_chance=0.3),
    Condition(name="chronic_pain", intercept=-3.2, age_per_decade=0.25, psych=0.5,
              after=(("obesity", 0.3), ("depression_anxiety", 0.4)), treated=0.85,
              outcome=0.5, outcome_per_severity=0.35, mib_digit="8", mib_chance=0.06),
    Condition(name="substance_use", intercept=-4.2, age_per_decade=-0.1, psych=0.9, smoker=0.8,
              female=-0.6, treated=0.3, outcome=1.25, outcome_per_severity=0.55,
              mib_digit="5", mib_chance=0.3),
    Condition(name="neurological", intercept=-4.4, age_per_decade=0.4,
              after=(("hypertension", 0.4),), treated=0.5,
              outcome=0.7, outcome_per_severity=0.5, mib_digit="8", mib_chance=0.25),
    Condition(name="cancer", intercept=-4.3, age_per_decade=0.6, smoker=0.6, treated=0.8,
              outcome=1.7, outcome_per_severity=0.85, mib_digit="3", mib_chance=0.35),
    Condition(name="hiv", intercept=-5.6, age_per_decade=-0.1, female=-0.8, treated=0.95,
              outcome=1.1, outcome_per_severity=0.4, mib_digit="0", mib_chance=0.3),
    Condition(name="transplant", intercept=-6.6, age_per_decade=0.2,
              after=(("kidney_disease", 2.5),), treated=1.0,
              outcome=1.8, outcome_per_severity=0.4, mib_digit="7", mib_chance=0.5),
)  # fmt: skip

CONDITION_NAMES: tuple[str, ...] = tuple(c.name for c in CONDITIONS)

SEVERITY_WEIGHTS = (0.55, 0.30, 0.15)
"""P(severity 0, 1, 2) at age 45; each decade of age moves 0.04 from mild to severe."""


class Traits(msgspec.Struct, frozen=True, kw_only=True):
    """Age, and the log-odds of the behaviour flags (``burden`` = the person's condition log-odds)."""

    age_mean: float = 44.0
    age_sd: float = 13.0
    age_min: int = 18
    age_max: int = 78
    smoker_intercept: float = -1.9
    smoker_psych: float = 0.3
    smoker_female: float = -0.3
    care_avoider_intercept: float = -2.7
    care_avoider_age_per_year: float = -0.02
    care_avoider_female: float = -0.4
    stacker_intercept: float = -3.6
    stacker_burden: float = 0.3
    adherent_intercept: float = 1.1
    adherent_age_per_year: float = 0.025
    adherent_depression_anxiety: float = -0.5
    adherent_serious_mental_illness: float = -0.7
    adherent_substance_use: float = -0.8
    adherent_smoker: float = -0.3


TRAITS = Traits()


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """Coefficients of the outcome's linear predictor (log-odds)."""

    intercept: float = -3.7
    age_per_year: float = 0.03
    """Per year of age above 45 (negative below)."""
    female: float = -0.25
    smoker: float = 0.5
    care_avoider: float = 0.4
    no_rx_hit: float = 0.35
    """Munich Re / Irix: no-hit applicants do slightly worse than comparable ones with a history."""
    nonadherent_on_therapy: float = 0.5
    """Only for people on chronic maintenance therapy."""
    opioid_benzo: float = 0.7
    """Concurrent chronic opioid and benzodiazepine therapy."""
    opioid_misuse: float = 0.5
    """Early refills from several prescribers and pharmacies."""
    polypharmacy: float = 0.3
    """Five or more distinct chronic generics filled in the last 12 months."""
    stacker: float = 0.8
    """Many recent insurance applications (high IAI): anti-selection."""
    frailty_sd: float = 0.4
    """Unobserved individual frailty, normal with this standard deviation."""


OUTCOME = Outcome()


class Person(msgspec.Struct, frozen=True, kw_only=True):
    """The latent applicant. ``conditions`` maps a condition name to its severity, in table order."""

    age: int
    female: bool
    smoker: bool
    metabolic: float
    psych: float
    care_avoider: bool
    adherent: bool
    stacker: bool
    frailty: float
    conditions: dict[str, int]
    treated: frozenset[str]


class Behaviour(msgspec.Struct, frozen=True, kw_only=True):
    """What the prescription plan reveals about the person (computed by the Rx planner)."""

    rx_hit: bool
    on_maintenance: bool
    opioid_benzo: bool
    opioid_misuse: bool
    polypharmacy: bool


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _severity(rng: Rng, age: int) -> int:
    shift = 0.04 * (age - 45) / 10
    u = rng.random()
    if u < SEVERITY_WEIGHTS[0] - shift:
        return 0
    if u < SEVERITY_WEIGHTS[0] + SEVERITY_WEIGHTS[1] - shift / 2:
        return 1
    return 2


def draw_person(rng: Rng, t: Traits = TRAITS) -> Person:
    age = max(t.age_min, min(t.age_max, round(rng.normal(t.age_mean, t.age_sd))))
    female = rng.chance(0.5)
    metabolic = rng.normal()
    psych = rng.normal()
    smoker = rng.chance(
        sigmoid(t.smoker_intercept + t.smoker_psych * psych + t.smoker_female * female)
    )
    care_avoider = rng.chance(
        sigmoid(
            t.care_avoider_intercept
            + t.care_avoider_age_per_year * (age - 45)
            + t.care_avoider_female * female
        )
    )
    decade = (age - 45) / 10
    conditions: dict[str, int] = {}
    for cond in CONDITIONS:
        logit = (
            cond.intercept
            + cond.age_per_decade * decade
            + cond.metabolic * metabolic
            + cond.psych * psych
            + cond.smoker * smoker
            + cond.female * female
        )
        for other, weight in cond.after:
            if other in conditions:
                logit += weight
        if rng.chance(sigmoid(logit)):
            conditions[cond.name] = _severity(rng, age)
    treated = frozenset(
        c.name
        for c in CONDITIONS
        if c.name in conditions and not care_avoider and rng.chance(c.treated)
    )
    burden = sum(
        c.outcome + c.outcome_per_severity * conditions[c.name]
        for c in CONDITIONS
        if c.name in conditions
    )
    stacker = rng.chance(sigmoid(t.stacker_intercept + t.stacker_burden * burden))
    adherent = rng.chance(
        sigmoid(
            t.adherent_intercept
            + t.adherent_age_per_year * (age - 45)
            + t.adherent_depression_anxiety * ("depression_anxiety" in conditions)
            + t.adherent_serious_mental_illness * ("serious_mental_illness" in conditions)
            + t.adherent_substance_use * ("substance_use" in conditions)
            + t.adherent_smoker * smoker
        )
    )
    return Person(
        age=age,
        female=female,
        smoker=smoker,
        metabolic=metabolic,
        psych=psych,
        care_avoider=care_avoider,
        adherent=adherent,
        stacker=stacker,
        frailty=rng.normal(0.0, OUTCOME.frailty_sd),
        conditions=conditions,
        treated=treated,
    )


_BY_NAME = {c.name: c for c in CONDITIONS}


def outcome_logit(person: Person, behaviour: Behaviour, coef: Outcome = OUTCOME) -> float:
    """The linear predictor ``eta``; the true probability is ``sigmoid(eta)``."""
    eta = (
        coef.intercept
        + coef.age_per_year * (person.age - 45)
        + coef.female * person.female
        + coef.smoker * person.smoker
        + coef.care_avoider * person.care_avoider
        + coef.no_rx_hit * (not behaviour.rx_hit)
        + coef.nonadherent_on_therapy * (behaviour.on_maintenance and not person.adherent)
        + coef.opioid_benzo * behaviour.opioid_benzo
        + coef.opioid_misuse * behaviour.opioid_misuse
        + coef.polypharmacy * behaviour.polypharmacy
        + coef.stacker * person.stacker
        + person.frailty
    )
    for name, severity in person.conditions.items():
        cond = _BY_NAME[name]
        eta += cond.outcome + cond.outcome_per_severity * severity
    return eta
