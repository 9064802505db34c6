"""One synthetic application from ``(seed, index)``: latent person, evidence, documents and label.

Application ``index`` depends only on ``(seed, index, as_of)``: there is no state between
applications, so any range can be generated alone, in any order or in parallel, with the same bytes.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from riskscore.adapters.synthetic.latent import (
    Behaviour,
    Person,
    draw_person,
    outcome_logit,
    sigmoid,
)
from riskscore.adapters.synthetic.mib import mib_record
from riskscore.adapters.synthetic.prescriptions import rx_history
from riskscore.adapters.synthetic.render import render_mib, render_rx
from riskscore.adapters.synthetic.rng import Rng
from riskscore.domain.evidence import PolicyEvidence

GENERATOR_VERSION = "1.0"
"""Bumped whenever the same seed would give different bytes."""
DEFAULT_AS_OF = dt.date(2026, 1, 1)
"""A fixed date, never today: the same command must give the same dataset on any day."""


class SyntheticApplication(msgspec.Struct, frozen=True, kw_only=True):
    """One application as a scoring request would carry it, with its outcome label (0 or 1)."""

    policy_number: str
    mib_xml: str
    rx_xml: str
    as_of: dt.date
    label: int


class Latent(msgspec.Struct, frozen=True, kw_only=True):
    """The hidden truth behind an application: for calibration and tests, never in a dataset."""

    person: Person
    behaviour: Behaviour
    probability: float
    label: int


class Simulated(msgspec.Struct, frozen=True, kw_only=True):
    application: SyntheticApplication
    latent: Latent
    evidence: PolicyEvidence
    """What a correct parser must read from the two documents."""


def policy_number(index: int) -> str:
    """``SYN-0000001`` for index 0: zero-padded to seven digits, wider beyond."""
    return f"SYN-{index + 1:07d}"


def simulate_latent(seed: int, index: int, as_of: dt.date = DEFAULT_AS_OF) -> Latent:
    """The person, the behaviour their Rx history shows, the true probability and the label."""
    person = draw_person(Rng(seed, index, "person"))
    history = rx_history(Rng(seed, index, "rx"), person, as_of)
    return _latent(seed, index, person, history.behaviour)


def _latent(seed: int, index: int, person: Person, behaviour: Behaviour) -> Latent:
    probability = sigmoid(outcome_logit(person, behaviour))
    label = int(Rng(seed, index, "label").random() < probability)
    return Latent(person=person, behaviour=behaviour, probability=probability, label=label)


def simulate(seed: int, index: int, as_of: dt.date = DEFAULT_AS_OF) -> Simulated:
    person = draw_person(Rng(seed, index, "person"))
    history = rx_history(Rng(seed, index, "rx"), person, as_of)
    latent = _latent(seed, index, person, history.behaviour)
    record = mib_record(Rng(seed, index, "mib"), person, as_of)
    number = policy_number(index)
    style = Rng(seed, index, "style")
    rx_xml, rx_report = render_rx(style, history.fills, number)
    mib_xml, mib_report = render_mib(style, record)
    return Simulated(
        application=SyntheticApplication(
            policy_number=number,
            mib_xml=mib_xml,
            rx_xml=rx_xml,
            as_of=as_of,
            label=latent.label,
        ),
        latent=latent,
        evidence=PolicyEvidence(policy_number=number, mib=mib_report, rx=rx_report),
    )
