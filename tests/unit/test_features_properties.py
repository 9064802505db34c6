"""Properties of feature extraction over arbitrary valid evidence (hypothesis)."""

from __future__ import annotations

import datetime as dt
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from riskscore.domain.evidence import MibHit, MibReport, PolicyEvidence, RxFill, RxReport
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.extract import extract_features, extract_values

_KNOWN = ["METFORMIN HCL", "OXYCODONE", "ALPRAZOLAM", "QUETIAPINE", "INSULIN GLARGINE", "FENTANYL"]
_names = st.one_of(st.sampled_from(_KNOWN), st.text(max_size=30))
_dates = st.one_of(st.none(), st.dates())
_maybe_text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["PSYCHIATRY", "APS"]))
_numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
_ints = st.one_of(st.none(), st.integers(min_value=-(10**400), max_value=10**400))

_fills = st.builds(
    RxFill,
    generic_name=_names,
    brand_name=_maybe_text,
    ndc=_maybe_text,
    fill_date=_dates,
    days_supply=_ints,
    quantity=_numbers,
    refills=_ints,
    strength_mg=_numbers,
    prescriber_id=_maybe_text,
    prescriber_specialty=_maybe_text,
    pharmacy_id=_maybe_text,
)
_hits = st.builds(
    MibHit,
    code=st.one_of(st.text(max_size=8), st.sampled_from(["CODE1", "311CA", "1"])),
    category=_maybe_text,
    source=_maybe_text,
    date=_dates,
)
_evidence = st.builds(
    PolicyEvidence,
    policy_number=st.just("P-1"),
    mib=st.builds(MibReport, hits=st.lists(_hits, max_size=6).map(tuple), iai_count=_ints),
    rx=st.builds(RxReport, fills=st.lists(_fills, max_size=40).map(tuple)),
)


@settings(max_examples=200, deadline=None)
@given(ev=_evidence, as_of=st.dates())
def test_extraction_never_raises_and_gives_finite_floats(
    ev: PolicyEvidence, as_of: dt.date
) -> None:
    vector = extract_features(ev, as_of)
    assert vector.schema_version == SCHEMA.version
    assert len(vector.values) == len(SCHEMA)
    assert all(type(v) is float and math.isfinite(v) for v in vector.values)


@settings(max_examples=100, deadline=None)
@given(ev=_evidence, as_of=st.dates())
def test_events_after_as_of_do_not_change_anything(ev: PolicyEvidence, as_of: dt.date) -> None:
    known = PolicyEvidence(
        policy_number=ev.policy_number,
        mib=MibReport(
            hits=tuple(h for h in ev.mib.hits if h.date is None or h.date <= as_of),
            iai_count=ev.mib.iai_count,
        ),
        rx=RxReport(
            fills=tuple(f for f in ev.rx.fills if f.fill_date is None or f.fill_date <= as_of)
        ),
    )
    assert extract_values(ev, as_of) == extract_values(known, as_of)


@settings(max_examples=100, deadline=None)
@given(ev=_evidence, as_of=st.dates(), seed=st.randoms(use_true_random=False))
def test_order_of_fills_and_hits_does_not_matter(
    ev: PolicyEvidence, as_of: dt.date, seed: random.Random
) -> None:
    fills, hits = list(ev.rx.fills), list(ev.mib.hits)
    seed.shuffle(fills)
    seed.shuffle(hits)
    shuffled = PolicyEvidence(
        policy_number=ev.policy_number,
        mib=MibReport(hits=tuple(hits), iai_count=ev.mib.iai_count),
        rx=RxReport(fills=tuple(fills)),
    )
    assert extract_values(shuffled, as_of) == extract_values(ev, as_of)
