"""The latent-risk model: realistic ranges, a real and learnable signal, and docs that match the code."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from riskscore.adapters.synthetic.calibrate import markdown_tables, roc_auc, summarize
from riskscore.adapters.synthetic.catalog import drug_classes
from riskscore.adapters.synthetic.latent import CONDITIONS
from riskscore.adapters.synthetic.rng import Rng, Weighted
from riskscore.adapters.synthetic.simulate import Simulated, simulate
from riskscore.domain.evidence import PolicyEvidence
from riskscore.domain.features.tables import normalize_generic_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "synthetic-data.md"
N = 4000
SERIOUS_GROUPS = {
    "insulin",
    "antineoplastic",
    "antipsychotic",
    "hiv_antiviral",
    "immune_suppressant",
    "loop_diuretic",
    "anticoagulant",
}


@cache
def sample() -> tuple[Simulated, ...]:
    return tuple(simulate(5, i) for i in range(N))


@cache
def _groups() -> dict[str, str]:
    return {normalize_generic_name(c.generic_name): c.group for c in drug_classes().values()}


def _groups_of(evidence: PolicyEvidence) -> set[str]:
    return {_groups()[normalize_generic_name(f.generic_name)] for f in evidence.rx.fills}


def test_population_is_in_realistic_ranges() -> None:
    s = summarize(sample(), seed=5)
    assert 0.08 <= s.base_rate <= 0.14
    assert 0.15 <= s.no_rx_hit_share <= 0.30
    assert 0.08 <= s.mib_record_share <= 0.25
    assert 15 <= s.fills_median_with_conditions <= 60
    assert s.fills_p10_p90_with_conditions[1] <= 150
    assert 0.01 <= s.iai_ge_3_share <= 0.08
    assert 0.15 <= s.prevalence["hypertension"] <= 0.35
    assert s.prevalence["transplant"] < 0.01


def test_true_probability_ranks_outcomes_like_the_documented_bayes_auc() -> None:
    s = summarize(sample(), seed=5)
    assert 0.78 <= s.bayes_auc <= 0.88


def test_conditions_cluster_and_grow_with_age() -> None:
    people = [sim.latent.person for sim in sample()]
    old = [p for p in people if p.age >= 55]
    young = [p for p in people if p.age < 35]
    for name in ("hypertension", "diabetes", "heart_disease"):
        assert np.mean([name in p.conditions for p in old]) > 2 * np.mean(
            [name in p.conditions for p in young]
        )
    diabetic = [p for p in people if "diabetes" in p.conditions]
    others = [p for p in people if "diabetes" not in p.conditions]
    assert np.mean(["hypertension" in p.conditions for p in diabetic]) > 1.5 * np.mean(
        ["hypertension" in p.conditions for p in others]
    )


def test_serious_evidence_carries_a_much_higher_label_rate() -> None:
    """The signal is in the documents, where a model can learn it."""
    classes = {normalize_generic_name(c.generic_name): c for c in drug_classes().values()}
    serious, healthy = [], []
    for sim in sample():
        ev = sim.evidence
        groups = _groups_of(ev)
        if groups & SERIOUS_GROUPS or any(h.code[0] in "1357" for h in ev.mib.hits):
            serious.append(sim.application.label)
        elif not ev.mib.hits and not any(
            classes[normalize_generic_name(f.generic_name)].chronic for f in ev.rx.fills
        ):
            healthy.append(sim.application.label)
    assert len(serious) > 200
    assert len(healthy) > 1000
    assert np.mean(serious) > 3 * np.mean(healthy)


def test_a_plain_evidence_score_ranks_outcomes() -> None:
    """A hand-made score from the documents alone beats chance clearly: there is something to learn."""
    classes = {normalize_generic_name(c.generic_name): c for c in drug_classes().values()}
    scores, labels = [], []
    for sim in sample():
        ev = sim.evidence
        severity = max(
            (classes[normalize_generic_name(f.generic_name)].severity for f in ev.rx.fills),
            default=0,
        )
        chronic = {f.generic_name for f in ev.rx.fills} & {
            g for g, c in classes.items() if c.chronic
        }
        score = severity + len(chronic) + 3 * len(ev.mib.hits) + (ev.mib.iai_count or 0)
        scores.append(float(score))
        labels.append(sim.application.label)
    assert roc_auc(np.array(scores), np.array(labels)) > 0.65


def test_no_rx_hit_is_slightly_worse_than_an_acute_only_history() -> None:
    """The Munich Re / Irix paradox, measured on the true probabilities (less noisy than labels)."""
    no_hit, acute_only = [], []
    for sim in sample():
        fills = sim.evidence.rx.fills
        if not sim.latent.person.conditions:
            if not fills:
                no_hit.append(sim.latent.probability)
            elif not sim.latent.behaviour.on_maintenance:
                acute_only.append(sim.latent.probability)
    assert np.mean(no_hit) > np.mean(acute_only)


def test_adherence_and_opioid_benzo_raise_the_risk() -> None:
    on_therapy = [s.latent for s in sample() if s.latent.behaviour.on_maintenance]
    adherent = [x.probability for x in on_therapy if x.person.adherent]
    not_adherent = [x.probability for x in on_therapy if not x.person.adherent]
    assert np.mean(not_adherent) > np.mean(adherent)
    combo = [s.latent.probability for s in sample() if s.latent.behaviour.opioid_benzo]
    assert combo
    assert np.mean(combo) > 2 * np.mean([s.latent.probability for s in sample()])


def test_roc_auc_handles_ties_and_rejects_one_class() -> None:
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.array([0.1, 0.2]), np.array([1, 1]))


def test_rng_draws_are_in_range_and_stable() -> None:
    same = Rng(1, 2, "test"), Rng(1, 2, "test")
    assert [same[0].random() for _ in range(5)] == [same[1].random() for _ in range(5)]
    assert Rng(1, 2, "test").random() != Rng(1, 2, "other").random()
    rng = Rng(1, 2, "test")
    assert all(3 <= rng.integer(3, 5) <= 5 for _ in range(200))
    assert {rng.integer(3, 5) for _ in range(200)} == {3, 4, 5}
    assert sorted(rng.sample(range(10), 10)) == list(range(10))
    table = Weighted([("a", 1.0), ("b", 0.0), ("c", 3.0)])
    draws = [rng.weighted(table) for _ in range(2000)]
    assert "b" not in draws
    assert 0.68 < draws.count("c") / 2000 < 0.82
    assert abs(np.mean([rng.poisson(4.0) for _ in range(3000)]) - 4.0) < 0.2
    assert abs(np.std([rng.normal() for _ in range(3000)]) - 1.0) < 0.06
    with pytest.raises(ValueError, match="weights"):
        Weighted([("a", 0.0)])


def test_the_document_quotes_the_coefficients_in_the_code() -> None:
    text = DOC.read_text()
    assert markdown_tables() in text, (
        "regenerate with: python -m riskscore.adapters.synthetic.calibrate --markdown"
    )
    for cond in CONDITIONS:
        assert cond.name in text
