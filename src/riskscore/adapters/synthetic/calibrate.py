"""Measure the synthetic population: prevalences, base rate, evidence shapes and attainable ROC AUC.

``python -m riskscore.adapters.synthetic.calibrate [--n 50000] [--seed 0] [--learnable] [--markdown]``

- the Bayes-optimal AUC: the true probability ``sigmoid(eta)`` ranked against the drawn labels. No
  model can beat it on average, whatever it sees;
- with ``--learnable``: the held-out AUC of a gradient-boosted model trained on simple features read
  from the *evidence* alone (what a scoring model can see: no age, sex, smoking or frailty), an
  estimate of what riskscore's own model should approach;
- with ``--markdown``: the coefficient tables quoted in docs/synthetic-data.md;
- with ``--speed``: wall and CPU time of ``generate(n, seed)`` and of ``write_dataset`` into a
  temporary directory (removed afterwards).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np
from numpy.typing import NDArray

from riskscore.adapters.synthetic.catalog import drug_classes
from riskscore.adapters.synthetic.dataset import generate, write_dataset
from riskscore.adapters.synthetic.latent import CONDITIONS, OUTCOME, SEVERITY_WEIGHTS, TRAITS
from riskscore.adapters.synthetic.simulate import DEFAULT_AS_OF, Simulated, simulate
from riskscore.domain.evidence import PolicyEvidence


def roc_auc(scores: NDArray[np.float64], labels: NDArray[np.int_]) -> float:
    """Mann-Whitney ROC AUC with average ranks for ties."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average rank within each run of equal scores.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    run_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(run_rank, counts)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both classes")
    rank_sum = float(ranks[labels == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    n: int
    seed: int
    as_of: dt.date
    base_rate: float
    bayes_auc: float
    no_rx_hit_share: float
    mib_record_share: float
    fills_median_with_conditions: float
    fills_p10_p90_with_conditions: tuple[float, float]
    fills_max: int
    rx_bytes_median: float
    iai_ge_3_share: float
    prevalence: dict[str, float]
    label_rate_by_burden: dict[str, float]
    learnable_auc: float | None = None


def _sims(n: int, seed: int, as_of: dt.date) -> list[Simulated]:
    return [simulate(seed, i, as_of) for i in range(n)]


def summarize(sims: Sequence[Simulated], seed: int) -> Summary:
    probs = np.array([s.latent.probability for s in sims])
    labels = np.array([s.latent.label for s in sims])
    with_conditions = np.array(
        [len(s.evidence.rx.fills) for s in sims if s.latent.person.treated], dtype=np.float64
    )
    counts = Counter(name for s in sims for name in s.latent.person.conditions)
    by_burden: dict[str, list[int]] = {"none": [], "one": [], "two or more": []}
    for s in sims:
        k = len(s.latent.person.conditions)
        by_burden["none" if k == 0 else "one" if k == 1 else "two or more"].append(s.latent.label)
    return Summary(
        n=len(sims),
        seed=seed,
        as_of=sims[0].application.as_of,
        base_rate=float(labels.mean()),
        bayes_auc=roc_auc(probs, labels),
        no_rx_hit_share=float(np.mean([not s.evidence.rx.fills for s in sims])),
        mib_record_share=float(np.mean([bool(s.evidence.mib.hits) for s in sims])),
        fills_median_with_conditions=float(np.median(with_conditions)),
        fills_p10_p90_with_conditions=(
            float(np.percentile(with_conditions, 10)),
            float(np.percentile(with_conditions, 90)),
        ),
        fills_max=max(len(s.evidence.rx.fills) for s in sims),
        rx_bytes_median=float(np.median([len(s.application.rx_xml) for s in sims])),
        iai_ge_3_share=float(np.mean([(s.evidence.mib.iai_count or 0) >= 3 for s in sims])),
        prevalence={c.name: round(counts[c.name] / len(sims), 4) for c in CONDITIONS},
        label_rate_by_burden={k: round(float(np.mean(v)), 4) for k, v in by_burden.items() if v},
    )


def evidence_features(evidence: PolicyEvidence, as_of: dt.date) -> list[float]:
    """A deliberately plain feature set read from the evidence alone (for the learnable estimate)."""
    classes = drug_classes()
    groups = sorted({c.group for c in classes.values()})
    recent = as_of.toordinal() - 365
    fills_by_group = dict.fromkeys(groups, 0)
    recent_by_group = dict.fromkeys(groups, 0)
    chronic: set[str] = set()
    prescribers: set[str] = set()
    pharmacies: set[str] = set()
    max_severity = 0
    for fill in evidence.rx.fills:
        base = fill.generic_name
        cls = classes.get(base) or classes.get(base.rsplit(" ", 1)[0])
        if cls is None:
            continue
        fills_by_group[cls.group] += 1
        if fill.fill_date is not None and fill.fill_date.toordinal() >= recent:
            recent_by_group[cls.group] += 1
            if cls.chronic:
                chronic.add(cls.generic_name)
        max_severity = max(max_severity, cls.severity)
        prescribers.add(fill.prescriber_id or "")
        pharmacies.add(fill.pharmacy_id or "")
    categories = Counter(h.code[0] for h in evidence.mib.hits)
    return [
        float(bool(evidence.rx.fills)),
        float(len(evidence.rx.fills)),
        float(len(chronic)),
        float(max_severity),
        float(len(prescribers)),
        float(len(pharmacies)),
        float(evidence.mib.iai_count or 0),
        float(len(evidence.mib.hits)),
        *(float(fills_by_group[g]) for g in groups),
        *(float(recent_by_group[g]) for g in groups),
        *(float(categories[str(d)]) for d in range(10)),
    ]


def learnable_auc(sims: Sequence[Simulated]) -> float:
    """Held-out AUC of a gradient-boosted model on ``evidence_features`` (first 70% train)."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # slow import, only here

    x = np.array([evidence_features(s.evidence, s.application.as_of) for s in sims])
    y = np.array([s.latent.label for s in sims])
    cut = int(len(sims) * 0.7)
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, random_state=0)
    model.fit(x[:cut], y[:cut])
    return roc_auc(model.predict_proba(x[cut:])[:, 1], y[cut:])


def markdown_tables() -> str:
    """The coefficient tables of docs/synthetic-data.md, from the code."""
    lines = [
        "| condition | intercept | age /decade | metabolic | psych | smoker | female | after | "
        "treated | outcome | outcome /severity | MIB digit | MIB chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in CONDITIONS:
        after = ", ".join(f"{name} {w:+g}" for name, w in c.after) or "-"
        lines.append(
            f"| {c.name} | {c.intercept:g} | {c.age_per_decade:g} | {c.metabolic:g} | "
            f"{c.psych:g} | {c.smoker:g} | {c.female:g} | {after} | {c.treated:g} | "
            f"{c.outcome:g} | {c.outcome_per_severity:g} | {c.mib_digit} | {c.mib_chance:g} |"
        )
    lines += ["", "| person trait | value |", "|---|---|"]
    for name, value in msgspec.structs.asdict(TRAITS).items():
        lines.append(f"| {name} | {value:g} |")
    lines += ["", "| outcome term | log-odds |", "|---|---|"]
    for name, value in msgspec.structs.asdict(OUTCOME).items():
        lines.append(f"| {name} | {value:g} |")
    lines += ["", f"Severity 0/1/2 at age 45: {'/'.join(f'{w:g}' for w in SEVERITY_WEIGHTS)}."]
    return "\n".join(lines)


def speed(n: int, seed: int) -> dict[str, float]:
    """Seconds (wall and CPU) to generate ``n`` applications in memory and to write them to disk."""
    figures: dict[str, float] = {"n": n}
    wall, cpu = time.perf_counter(), time.process_time()
    size = sum(len(a.mib_xml) + len(a.rx_xml) for a in generate(n, seed))
    figures["generate_wall_s"] = round(time.perf_counter() - wall, 2)
    figures["generate_cpu_s"] = round(time.process_time() - cpu, 2)
    figures["xml_megabytes"] = round(size / 1e6, 1)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        write_dataset(Path(tmp) / "ds", n, seed)
        figures["write_wall_s"] = round(time.perf_counter() - wall, 2)
        figures["write_cpu_s"] = round(time.process_time() - cpu, 2)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskscore.adapters.synthetic.calibrate")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learnable", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--speed", action="store_true")
    args = parser.parse_args(argv)
    if args.speed:
        print(json.dumps(speed(args.n, args.seed)))
        return 0
    if args.markdown:
        print(markdown_tables())
        return 0
    sims = _sims(args.n, args.seed, DEFAULT_AS_OF)
    summary = summarize(sims, args.seed)
    if args.learnable:
        summary = msgspec.structs.replace(summary, learnable_auc=learnable_auc(sims))
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(summary), indent=2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
